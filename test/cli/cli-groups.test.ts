/** shoalctl's group and version verbs in-process against a real API server and a real etcd (no engine: the API side only). */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { ApiServer } from '../../src/api/server';
import { runCli } from '../../src/cli/program';
import type { CliIO } from '../../src/cli/io';
import { silentLogger } from '../../src/log';
import type { Deployment } from '../../src/deploy/types';
import { createEtcdClient } from '../../src/etcd/client';
import { KeyLayout } from '../../src/etcd/keys';
import { EventStore } from '../../src/events/store';
import { runRecorder } from '../../src/events/recorder';
import { apiRequests } from '../../src/metrics';
import type { Etcd3 } from 'etcd3';

let etcd: EtcdServer;
let reg: EtcdRegistry;
let server: ApiServer;
let dir: string;
let raw: Etcd3;
let recorder: Promise<void>;
const stopRecorder = new AbortController();

async function ctl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } },
    env: { SHOAL_ENDPOINT: `unix://${dir}/s.sock` }, cwd: dir,
  };
  return { code: await runCli(args, io), out, err };
}

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  reg = new EtcdRegistry({ ...etcd.connection, prefix: '/clig/', callTimeoutMs: 3000 });
  dir = mkdtempSync(join(tmpdir(), 'shoal-clig-'));
  // rollout status follows the deployment's events: the leader's recorder stores them
  raw = createEtcdClient({ ...etcd.connection });
  const events = new EventStore(raw, new KeyLayout('/clig/'));
  recorder = runRecorder({ client: raw, store: events, isLeader: () => true, checkMs: 20 }, stopRecorder.signal);
  for (let i = 0; !(await events.list()).events.length; i++) {
    await raw.put('/clig/schedule/marker.service').value(`m${i}`).exec(); // its first term starts from now: wait until it follows
    await new Promise((r) => setTimeout(r, 100));
  }
  server = new ApiServer({ listen: [`unix://${dir}/s.sock`] }, { registry: reg, log: silentLogger, events });
  await server.start();
});
t.teardown(async () => { stopRecorder.abort(); await recorder; await server?.close(); reg?.close(); raw?.close(); await etcd?.close(); rmSync(dir, { recursive: true, force: true }); });

/** API calls of `method` so far (shoal_api_requests_total in this process). */
async function calls(method: string): Promise<number> {
  return (await apiRequests.get()).values.filter((v) => v.labels.method === method).reduce((a, v) => a + v.value, 0);
}

t.test('scale, history, rollback, deployments, promote, rollout status', async (t) => {
  writeFileSync(join(dir, 'web@.service'), '[Service]\nExecStart=/bin/sleep 100\n[X-Shoal]\nInstances=3\nCanary=1\n');
  let r = await ctl('submit', 'web@.service');
  t.equal(r.code, 0, r.err);
  r = await ctl('list-unit-files', '--fields', 'unit,instances', '--no-legend');
  t.equal(r.out, 'web@.service 3/0\n', 'a group shows desired/running');
  r = await ctl('scale', 'web@.service', '5');
  t.equal(r.out, 'Scaled web@.service from 3 to 5 instances\n');
  t.equal(await reg.getScale('web@.service'), 5);
  r = await ctl('scale', 'web.service', '5');
  t.equal(r.code, 2, 'scale of a non-template is a usage error');
  t.match(r.err, /not a template/);
  r = await ctl('scale', 'web@.service', '-1');
  t.equal(r.code, 2, 'a negative count is a usage error');
  r = await ctl('scale', 'web@.service', 'many');
  t.equal(r.code, 2);

  writeFileSync(join(dir, 'web@.service'), '[Service]\nExecStart=/bin/sleep 200\n[X-Shoal]\nInstances=3\nCanary=1\n');
  r = await ctl('submit', '--replace', 'web@.service');
  t.equal(r.code, 0, r.err);
  r = await ctl('history', 'web@.service');
  const lines = r.out.trim().split('\n');
  t.match(lines[0], /^VERSION\s+HASH\s+SUBMITTED/);
  t.equal(lines.length, 3, 'two versions');
  t.match(lines[2], /current$/);
  const first = lines[1].split(/\s+/)[1];
  r = await ctl('rollback', 'web@.service', '--to', 'ffffffff');
  t.equal(r.code, 1);
  t.match(r.err, new RegExp(`stored versions: ${first}, [0-9a-f]{7}`), 'an unknown hash names the ones that exist');
  r = await ctl('rollback', 'web@.service');
  t.match(r.out, new RegExp(`^Rolled web@.service back from [0-9a-f]{7} to ${first}\n$`));
  t.equal((await reg.getUnit('web@.service'))!.hash.slice(0, 7), first);

  r = await ctl('rollout', 'status', 'web@.service');
  t.equal(r.code, 1);
  t.match(r.err, /no deployment/);
  r = await ctl('promote', 'web@.service');
  t.equal(r.code, 1);

  // a deployment as the leader stores it: the verbs read it, promote names it
  const now = Date.now();
  const dep: Deployment = {
    unit: 'web@.service', id: 'abc1234-1', from: { hash: 'a'.repeat(40), text: 'x' }, to: { hash: 'b'.repeat(40), text: 'y' },
    target: 'b'.repeat(40), status: 'paused', parallel: 1, canary: 1, autoRevert: false, healthyDeadlineMs: 60_000, step: 1, steps: 3,
    inFlight: [], stepStartedAt: now, healthy: 1, total: 3, maxInFlight: 1, startedAt: now, updatedAt: now, message: 'waiting for promote',
  };
  const c = await reg.campaign('t', 5, new AbortController().signal);
  await reg.applyUnitChanges(c!.guard, [{ kind: 'put-deployment', deployment: dep }]);
  r = await ctl('deployments', '--no-legend');
  t.equal(r.out, 'web@.service aaaaaaa bbbbbbb paused 1/3 1/3 waiting for promote\n');
  r = await ctl('rollout', 'status', 'web@.service', '--no-wait');
  t.equal(r.code, 0);
  t.match(r.out, /paused, step 1\/3, 1\/3 healthy/);
  r = await ctl('promote', 'web@.service');
  t.equal(r.out, 'Promoted deployment abc1234-1 of web@.service\n');
  const reads = await calls('ListDeployments');
  const status = ctl('rollout', 'status', 'web@.service', '--timeout', '20');
  await new Promise((res) => setTimeout(res, 2500));
  t.equal(await calls('ListDeployments') - reads, 1, 'rollout status read the deployment once and waits on the event stream (a poll would have read it ~5 times by now)');
  await reg.applyUnitChanges(c!.guard, [{ kind: 'put-deployment', deployment: { ...dep, status: 'succeeded', step: 3, healthy: 3, message: 'done' } }]);
  r = await status;
  t.equal(r.code, 0, 'rollout status exits 0 when the deployment succeeded');
  t.match(r.out, /paused.*\n.*succeeded, step 3\/3, 3\/3 healthy/);
  t.equal(await calls('ListDeployments') - reads, 2, 'and once more on the succeeded event');
  await reg.applyUnitChanges(c!.guard, [{ kind: 'put-deployment', deployment: { ...dep, status: 'reverted', message: 'web@2 not healthy' } }]);
  r = await ctl('rollout', 'status', 'web@.service');
  t.equal(r.code, 1, 'exits 1 when it was reverted');
  t.match(r.err, /reverted: web@2 not healthy/);
  await c!.resign();
});
