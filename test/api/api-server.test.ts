/** The gRPC API against a real etcd and a real server on a unix socket + loopback: units, states, machines, watch, explain. */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { dump } from '../etcd/etcdctl';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord, MachineSession } from '../../src/etcd/registry';
import { ApiServer } from '../../src/api/server';
import { ApiClient } from '../../src/api/client';
import { ConflictError, NotFoundError } from '../../src/api/grpc-errors';
import { ValidationError } from '../../src/errors';
import { silentLogger } from '../../src/log';

const P = '/api1/';
const SVC = '[Unit]\nDescription=web\n\n[Service]\nExecStart=/bin/sleep 1000\n';
const SVC2 = '[Unit]\nDescription=web v2\n\n[Service]\nExecStart=/bin/sleep 2000\n';
const M1 = 'aaaaaaaa11111111aaaaaaaa11111111';
const M2 = 'bbbbbbbb22222222bbbbbbbb22222222';
const machine = (id: string, address: string, metadata: Record<string, string>): MachineRecord => ({
  id, address, metadata, capacity: { cpuMillis: 2000, memoryBytes: 1 << 30 }, version: '0.1.0', startedAt: '2026-01-01T00:00:00.000Z',
});

let etcd: EtcdServer;
let reg: EtcdRegistry;
let server: ApiServer;
let dir: string;
let unixClient: ApiClient;
let tcpClient: ApiClient;
const sessions: MachineSession[] = [];

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  reg = new EtcdRegistry({ ...etcd.connection, prefix: P, callTimeoutMs: 3000 });
  dir = mkdtempSync(join(tmpdir(), 'shoal-api-'));
  server = new ApiServer({ listen: [`unix://${dir}/shoal.sock`, '127.0.0.1:0'] }, { registry: reg, log: silentLogger, strategy: () => 'binpack' });
  await server.start();
  unixClient = new ApiClient({ endpoint: `${dir}/shoal.sock` });
  tcpClient = new ApiClient({ endpoint: server.addresses()[1] });
});

t.teardown(async () => {
  unixClient?.close();
  tcpClient?.close();
  for (const s of sessions) await s.close();
  await server?.close();
  reg?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('listens on the unix socket and on loopback', async (t) => {
  t.match(server.addresses()[0], /^unix:\/\/.*shoal\.sock$/);
  t.match(server.addresses()[1], /^127\.0\.0\.1:\d+$/);
  t.same(await unixClient.listUnitFiles(), []);
  t.same(await tcpClient.listUnitFiles(), []);
});

t.test('bad names and bad unit files are refused and nothing is written', async (t) => {
  const cases: [string, string, RegExp, RegExp][] = [
    ['a/b.service', SVC, /contains '\/'/, /^unit\.bad-name$/],
    ['../etc.service', SVC, /contains '\/'/, /^unit\.bad-name$/],
    ['a..b.service', SVC, /contains '\.\.'/, /^unit\.bad-name$/],
    ['web.nope', SVC, /unknown unit type/, /^unit\.bad-name$/],
    ['web.service', '[Service]\nExecStart=/bin/true\nthis is not a key\n', /web\.service:3/, /^unit\./],
    ['web.service', '[X-Fleet]\nGlobal=maybe\n', /Global/, /^unit\./],
  ];
  for (const [name, text, msg, code] of cases) {
    const err = await unixClient.submitUnit(name, text).then(() => null, (e) => e);
    t.ok(err instanceof ValidationError, `${name}: INVALID_ARGUMENT comes back as a ValidationError`);
    t.match(err?.message, msg, `${name}: message says what is wrong`);
    t.match(err?.code, code, `${name}: the ShoalError code travels back (${err?.code})`);
  }
  for (const name of ['a/b.service', '../x.service']) {
    await t.rejects(unixClient.setDesiredState([name], 'launched'), ValidationError);
    await t.rejects(unixClient.destroyUnit(name), ValidationError);
  }
  t.same(dump(etcd, P), {}, 'etcd holds no key under the prefix');
});

t.test('submit, replace, cat and destroy round-trip', async (t) => {
  const r1 = await unixClient.submitUnit('web.service', SVC);
  t.equal(r1.outcome, 'created');
  t.match(r1.hash, /^[0-9a-f]{40}$/);
  t.equal((await unixClient.submitUnit('web.service', SVC)).outcome, 'unchanged');
  const err = await unixClient.submitUnit('web.service', SVC2).then(() => null, (e) => e);
  t.ok(err instanceof ConflictError, 'a different body without replace is refused');
  t.match(err.message, /--replace/);
  t.equal(JSON.parse(dump(etcd, P)[`${P}units/web.service`]).text, SVC, 'the stored body is unchanged');
  const r2 = await unixClient.submitUnit('web.service', SVC2, { replace: true });
  t.equal(r2.outcome, 'replaced');
  t.not(r2.hash, r1.hash);
  const info = await tcpClient.getUnit('web.service');
  t.equal(info.text, SVC2);
  t.equal(info.desiredState, 'inactive');
  t.equal(info.currentState, 'inactive');
  t.equal(info.targetMachine, '');
  t.equal(await unixClient.destroyUnit('web.service'), true);
  t.equal(await unixClient.destroyUnit('web.service'), false);
  await t.rejects(unixClient.getUnit('web.service'), NotFoundError);
  t.same(dump(etcd, P), {});
});

t.test('desired states, templates and instances', async (t) => {
  await unixClient.submitUnit('app@.service', '[Service]\nExecStart=/bin/sleep %i\n[X-Fleet]\nConflicts=app@*.service\n');
  await t.rejects(unixClient.setDesiredState(['app@.service'], 'launched'), { message: /template/ });
  await t.rejects(unixClient.submitUnit('app@.service', SVC, { replace: true, desired: 'launched' }), ValidationError);
  await t.rejects(unixClient.setDesiredState(['nope.service'], 'launched'), NotFoundError);
  await t.rejects(unixClient.setDesiredState(['nope@1.service'], 'launched'), { message: /template nope@\.service/ });
  // one bad name in a batch: nothing written
  await t.rejects(unixClient.setDesiredState(['app@1.service', 'nope.service'], 'launched'), NotFoundError);
  t.notOk(dump(etcd, P)[`${P}units/app@1.service`], 'no instance created when one name fails');
  const created = await unixClient.setDesiredState(['app@1.service', 'app@2.service'], 'launched');
  t.same(created, ['app@1.service', 'app@2.service']);
  const kv = dump(etcd, P);
  t.equal(kv[`${P}desired/app@1.service`], 'launched');
  t.match(JSON.parse(kv[`${P}units/app@2.service`]).text, /sleep %i/, 'instance stored with the template text');
  t.same(await unixClient.setDesiredState(['app@1.service'], 'loaded'), [], 'existing instance: only its state changes');
  t.equal(dump(etcd, P)[`${P}desired/app@1.service`], 'loaded');
  const files = await unixClient.listUnitFiles();
  t.same(files.map((f) => [f.name, f.desiredState, f.template]), [
    ['app@.service', 'inactive', true], ['app@1.service', 'loaded', false], ['app@2.service', 'launched', false],
  ], 'sorted by name with desired states');
  for (const n of ['app@.service', 'app@1.service', 'app@2.service']) await unixClient.destroyUnit(n);
});

t.test('machines, metadata, reported states, unit files with targets', async (t) => {
  const s1 = await reg.register(machine(M1, '10.0.0.1', { role: 'web', disk: 'hdd' }), 10);
  const s2 = await reg.register(machine(M2, '10.0.0.2', { role: 'db' }), 10);
  sessions.push(s1, s2);
  t.equal(await unixClient.setMetadata('aaaaaaaa', 'disk', 'ssd'), M1, 'a prefix resolves to the full id');
  await t.rejects(unixClient.setMetadata('cccc', 'disk', 'ssd'), NotFoundError);
  await t.rejects(unixClient.setMetadata(M1, 'bad/key', 'x'), ValidationError);
  await t.rejects(unixClient.setMetadata(M1, 'a', 'b=c'), { name: 'ValidationError', message: /holds '='/ }, 'a value no unit can match is refused');
  await t.rejects(unixClient.setMetadata(M1, 'a', ''), ValidationError);
  let ms = await unixClient.listMachines();
  t.same(ms.map((m) => m.id), [M1, M2]);
  t.same(ms[0].metadata, { role: 'web', disk: 'ssd' }, 'dynamic metadata wins over static');
  t.same(ms[0].dynamicMetadata, { disk: 'ssd' });
  t.equal(ms[0].cpuMillis, 2000);
  t.same(await unixClient.deleteMetadata(M1, 'disk'), { machine: M1, existed: true });
  ms = await unixClient.listMachines();
  t.same(ms[0].metadata, { role: 'web', disk: 'hdd' });

  await unixClient.submitUnit('b.service', SVC, { desired: 'launched' });
  await unixClient.submitUnit('a.service', SVC, { desired: 'loaded' });
  const lead = await reg.campaign('{"id":"t"}', 10, new AbortController().signal);
  await reg.applySchedule(lead!.guard, [{ kind: 'place', unit: 'b.service', machine: M2 }, { kind: 'place', unit: 'a.service', machine: M1 }]);
  await s2.reportState('b.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', mainPid: 42, since: 'now' });
  await s1.reportState('a.service', { loadState: 'loaded', activeState: 'inactive', subState: 'dead', hash: 'h', since: 'now' });
  const states = await unixClient.listUnits();
  t.same(states.map((s) => [s.unit, s.machine, s.machineAddress, s.activeState, s.subState]), [
    ['a.service', M1, '10.0.0.1', 'inactive', 'dead'], ['b.service', M2, '10.0.0.2', 'active', 'running'],
  ]);
  t.equal(states[1].mainPid, 42);
  t.same((await unixClient.listUnits(['b.service'])).map((s) => s.unit), ['b.service']);
  const files = await unixClient.listUnitFiles();
  t.same(files.map((f) => [f.name, f.desiredState, f.currentState, f.targetMachine, f.targetAddress]), [
    ['a.service', 'loaded', 'loaded', M1, '10.0.0.1'], ['b.service', 'launched', 'launched', M2, '10.0.0.2'],
  ]);
  const ex = await unixClient.explain('b.service');
  t.equal(ex.machine, M2);
  t.match(ex.summary, new RegExp(`on ${M2}`));
  t.equal(ex.status, 'placed');
  t.equal(ex.strategy, 'binpack', "explain scores with the cluster's strategy (the engine's config), not least-loaded");
  t.same(ex.details.filter((d) => d.chosen).map((d) => d.machine), [M2], 'per-machine details mark the chosen one');
  t.ok(ex.details.every((d) => d.filters.length > 0), 'every filter verdict is listed');
  await unixClient.submitUnit('c.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineMetadata=role=cache\n', { desired: 'launched' });
  const no = await unixClient.explain('c.service');
  t.equal(no.machine, '');
  t.match(no.summary, /not placed/);
  t.same(no.rejections.map((r) => [r.machine, r.plugin]), [[M1, 'metadata'], [M2, 'metadata']]);
  t.equal(no.status, 'unplaceable');
  t.match(no.rejections[0].reason, /role=web not in \{cache\}/);
  await unixClient.submitUnit('g.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineMetadata=role=db\n', { desired: 'launched' });
  const g = await unixClient.explain('g.service');
  t.same(g.machines, [M2]);
  // A global that loses a conflict to g.service on M2 runs only on M1, and explain says so.
  await unixClient.submitUnit('gx.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nConflicts=g.service\n', { desired: 'launched' });
  const gx = await unixClient.explain('gx.service');
  t.same(gx.machines, [M1]);
  t.match(gx.summary, new RegExp(`runs on 1 of 2 live machine\\(s\\): ${M1}; kept off ${M2} \\(conflicts with global g\\.service`));
  await t.rejects(unixClient.explain('zzz.service'), NotFoundError);
  await lead!.resign();
});

t.test('watch streams reported state changes', async (t) => {
  const s = sessions[0];
  const ctl = new AbortController();
  const seen: string[] = [];
  const done = (async () => {
    for await (const ev of unixClient.watchUnitStates(['w.service'], { initial: true, signal: ctl.signal })) {
      seen.push(`${ev.state.unit}:${ev.deleted ? 'deleted' : ev.state.activeState}`);
      if (seen.length === 3) ctl.abort();
    }
  })();
  await s.reportState('w.service', { loadState: 'loaded', activeState: 'activating', subState: 'start', hash: 'h', since: 'now' });
  await new Promise((r) => setTimeout(r, 50));
  await s.reportState('other.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: 'now' });
  await s.reportState('w.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: 'now' });
  await s.reportState('w.service', null);
  await done;
  t.same(seen, ['w.service:activating', 'w.service:active', 'w.service:deleted'], 'only the watched unit, in order');
});

t.test('status without an agent role or a running unit says so', async (t) => {
  await t.rejects(unixClient.unitStatus('nothing.service'), { message: /not loaded on any live machine/ });
  await t.rejects(unixClient.unitStatus('a.service', { local: true }), { message: /agent role/ });
  const drain = async <T>(it: AsyncIterable<T>) => { for await (const _ of it) { /* nothing expected */ } };
  await t.rejects(drain(unixClient.journal('nothing.service')), NotFoundError, 'a stream error comes back with its status');
  await t.rejects(drain(unixClient.journal('a/b.service')), ValidationError);
  await t.rejects(drain(unixClient.watchUnitStates(['../x.service'])), ValidationError);
});
