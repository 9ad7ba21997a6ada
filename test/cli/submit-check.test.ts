/**
 * Every submit path refuses what `shoalctl verify` refuses (a service systemd would not load, a misspelt
 * section or [X-Fleet] key), with file:line, key and what is wrong, and writes nothing to etcd: shoalctl
 * submit/start/load in-process against a real API server on a real etcd, and the API called directly
 * (the server checks what it is sent; it does not trust the client). A batch with one bad file changes nothing.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { dump, revision } from '../etcd/etcdctl';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { ApiServer } from '../../src/api/server';
import { ApiClient } from '../../src/api/client';
import { runCli } from '../../src/cli/program';
import { ValidationError } from '../../src/errors';
import { silentLogger } from '../../src/log';

const P = '/submitcheck/';
let etcd: EtcdServer;
let reg: EtcdRegistry;
let server: ApiServer;
let api: ApiClient;
let dir: string;

const FILES: Record<string, string> = {
  'good.service': '[Service]\nExecStart=/bin/sleep 100\n',
  'noexec.service': '[Unit]\nDescription=nothing to run\n[Service]\nType=simple\nRestart=always\n',
  'twostart.service': '[Service]\nExecStart=/bin/sleep 1\nExecStart=/bin/sleep 2\n',
  'servce.service': '[Unit]\nDescription=x\n[Servce]\nExecStart=/bin/sleep 100\n',
  'fleettypo.service': '[Service]\nExecStart=/bin/sleep 100\n[X-Fleet]\nMachineMetdata=role=web\n',
  'warn.service': '[Service]\nExecStart=/bin/sleep 100\nRestartsec=5\n',
};
const NOEXEC = /noexec\.service:3: \[Service\] ExecStart: systemd would refuse to load it: a service needs ExecStart= \(or ExecStop=, or SuccessAction= in \[Unit\]\), and it has none/;

async function ctl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } },
    env: { SHOAL_ENDPOINT: `unix://${dir}/s.sock` }, cwd: dir,
  });
  return { code, out, err };
}

/** Runs `fn` and checks that etcd did not change at all: same keys, same revision. */
async function unchanged(t: Test, what: string, fn: () => Promise<unknown>): Promise<void> {
  const before = dump(etcd, P);
  const rev = revision(etcd);
  await fn();
  t.same(dump(etcd, P), before, `${what}: no key written`);
  t.equal(revision(etcd), rev, `${what}: etcd's revision unchanged`);
}

t.before(async () => {
  etcd = await startEtcd();
  reg = new EtcdRegistry({ ...etcd.connection, prefix: P, callTimeoutMs: 3000 });
  dir = mkdtempSync(join(tmpdir(), 'shoal-submit-check-'));
  server = new ApiServer({ listen: [`unix://${dir}/s.sock`] }, { registry: reg, log: silentLogger });
  await server.start();
  api = new ApiClient({ endpoint: `${dir}/s.sock` });
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(dir, name), text);
});

t.teardown(async () => {
  api?.close();
  await server?.close();
  reg?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('shoalctl submit/start/load of a service without ExecStart=: exit 1, file:line key and why, etcd unchanged', async (t) => {
  for (const verb of [['submit'], ['start', '--no-block'], ['load', '--no-block'], ['submit', '--replace']]) {
    await unchanged(t, verb.join(' '), async () => {
      const r = await ctl(...verb, 'noexec.service');
      t.equal(r.code, 1, `${verb.join(' ')}: exit 1`);
      t.match(r.err, NOEXEC, `${verb.join(' ')}: says where and what`);
      t.match(r.err, /nothing was submitted/);
      t.equal(r.out, '');
    });
  }
  t.notOk(dump(etcd, P)[`${P}units/noexec.service`], 'no unit key');
});

t.test('a batch with bad files changes nothing, and the error lists every bad file', async (t) => {
  await unchanged(t, 'submit of 5 files, 4 bad', async () => {
    const r = await ctl('submit', 'good.service', 'noexec.service', 'twostart.service', 'servce.service', 'fleettypo.service');
    t.equal(r.code, 1);
    t.match(r.err, NOEXEC);
    t.match(r.err, /twostart\.service:3: \[Service\] ExecStart: systemd would refuse to load it: 2 ExecStart= commands/);
    t.match(r.err, /servce\.service:3: \[Servce\]: unknown section \[Servce\]; did you mean \[Service\]\?/);
    t.match(r.err, /fleettypo\.service:4: \[X-Fleet\] MachineMetdata: unknown key "MachineMetdata" in \[X-Fleet\]; did you mean MachineMetadata\?/);
    t.match(r.err, /4 of 5 unit file\(s\) invalid: nothing was submitted/);
  });
  t.notOk(dump(etcd, P)[`${P}units/good.service`], 'the good file of the batch was not stored either');
});

t.test('a warning (a key near a common one) is printed and the file is stored', async (t) => {
  const r = await ctl('submit', 'warn.service');
  t.equal(r.code, 0, r.err);
  t.match(r.err, /warn\.service:3: \[Service\] Restartsec: warning: unknown key; did you mean RestartSec\?/);
  t.equal(r.out, 'Unit warn.service inactive\n');
  t.ok(dump(etcd, P)[`${P}units/warn.service`], 'stored');
});

t.test('the API refuses them too (server side): ApplyBatch and SubmitUnit, nothing written', async (t) => {
  const unit = (name: string) => ({ name, text: FILES[name] });
  await unchanged(t, 'ApplyBatch of one file', async () => {
    const err = await api.applyBatch({ action: 'SUBMIT', units: [unit('noexec.service')] }).then(() => null, (e) => e);
    t.ok(err instanceof ValidationError, 'INVALID_ARGUMENT');
    t.equal(err?.code, 'unit.not-loadable');
    t.match(err?.message, NOEXEC);
  });
  await unchanged(t, 'ApplyBatch of a good file and three bad ones', async () => {
    const err = await api.applyBatch({ action: 'SUBMIT', units: ['good.service', 'noexec.service', 'servce.service', 'fleettypo.service'].map(unit), state: 'launched' }).then(() => null, (e) => e);
    t.ok(err instanceof ValidationError);
    t.match(err?.message, /^3 of 4 unit files are invalid; nothing was changed:\n/);
    t.match(err?.message, NOEXEC);
    t.match(err?.message, /servce\.service:3: \[Servce\]: unknown section \[Servce\]; did you mean \[Service\]\?/);
    t.match(err?.message, /fleettypo\.service:4: \[X-Fleet\] MachineMetdata: .*did you mean MachineMetadata\?/);
  });
  await unchanged(t, 'SubmitUnit', async () => {
    const err = await api.submitUnit('twostart.service', FILES['twostart.service'], { desired: 'launched' }).then(() => null, (e) => e);
    t.ok(err instanceof ValidationError);
    t.match(err?.message, /twostart\.service:3: \[Service\] ExecStart: systemd would refuse to load it: 2 ExecStart= commands/);
  });
  const ok = await api.applyBatch({ action: 'SUBMIT', units: [unit('good.service'), { name: 'one.service', text: '[Service]\nType=oneshot\nExecStart=/bin/true\nExecStart=/bin/true\n' }] });
  t.same(ok.map((r) => r.outcome), ['created', 'created'], 'good files, and a oneshot with two ExecStart=, are stored');
});
