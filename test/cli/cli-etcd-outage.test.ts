/**
 * During an etcd outage (etcd stopped, or paused: no answer at all) a CLI read fails within a few
 * seconds with a message that says etcd is unreachable, not after 5 s with a raw DEADLINE_EXCEEDED.
 * The API server is built as shoald builds it (src/api/api-config.ts apiRegistry) on a real etcd.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { ApiServer } from '../../src/api/server';
import { apiRegistry } from '../../src/api/api-config';
import { runCli } from '../../src/cli/program';
import type { CliIO } from '../../src/cli/io';
import { silentLogger } from '../../src/log';
import type { EtcdRegistry } from '../../src/etcd/registry-etcd';

let etcd: EtcdServer;
let reg: EtcdRegistry;
let server: ApiServer;
let dir: string;

async function ctl(...args: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } },
    env: { SHOAL_ENDPOINT: `unix://${dir}/s.sock` }, cwd: dir,
  };
  const t0 = Date.now();
  const code = await runCli(args, io);
  return { code, out, err, ms: Date.now() - t0 };
}

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  reg = apiRegistry({ ...etcd.connection, prefix: '/outage/' });
  dir = mkdtempSync(join(tmpdir(), 'shoal-outage-'));
  server = new ApiServer({ listen: [`unix://${dir}/s.sock`] }, { registry: reg, log: silentLogger });
  await server.start();
});

t.teardown(async () => {
  etcd?.resume();
  await server?.close();
  reg?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

const READS = [['list-units'], ['list-unit-files'], ['list-machines'], ['cat', 'x.service']];

t.test('reads answer while etcd is up', async (t) => {
  for (const args of READS.slice(0, 3)) t.equal((await ctl(...args)).code, 0, args.join(' '));
});

for (const [fault, apply, undo] of [
  ['paused (SIGSTOP: no answer)', () => etcd.pause(), () => etcd.resume()],
  ['stopped (connection refused)', () => etcd.stop(), () => etcd.restart()],
] as [string, () => unknown, () => unknown][]) {
  t.test(`etcd ${fault}: reads fail fast with a clear message`, async (t) => {
    await apply();
    try {
      for (const args of READS) {
        const r = await ctl(...args);
        t.equal(r.code, 1, `${args.join(' ')} fails`);
        t.ok(r.ms < 3000, `${args.join(' ')}: failed after ${r.ms} ms`);
        t.match(r.err, /shoald cannot reach etcd/, `${args.join(' ')}: says what is wrong: ${r.err.trim()}`);
        t.notMatch(r.err, /DEADLINE_EXCEEDED|Deadline exceeded|No connection established/, 'no raw gRPC status');
      }
    } finally {
      await undo();
    }
    const deadline = Date.now() + 10_000;
    let r = await ctl('list-units');
    while (r.code !== 0 && Date.now() < deadline) r = await ctl('list-units');
    t.equal(r.code, 0, 'reads work again once etcd is back');
  });
}
