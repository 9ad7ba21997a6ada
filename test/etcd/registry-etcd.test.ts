/** The etcd registry against a real etcd: key layout, guarded writes, batching, leases, duplicate ids. */
import t from 'tap';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord } from '../../src/etcd/registry';
import { ShoalError, UnavailableError } from '../../src/errors';
import { dump, etcdctl } from './etcdctl';

let etcd: EtcdServer;
const regs: EtcdRegistry[] = [];
const P = '/t1/';
const newReg = (prefix = P) => { const r = new EtcdRegistry({ ...etcd.connection, prefix, callTimeoutMs: 2000 }); regs.push(r); return r; };
const machine = (id: string, extra: Partial<MachineRecord> = {}): MachineRecord => ({
  id, address: '10.0.0.1', metadata: { role: 'web' }, capacity: { cpuMillis: 2000, memoryBytes: 1 << 30 },
  version: '0.1.0', startedAt: '2026-01-01T00:00:00.000Z', ...extra,
});

t.before(async () => { etcd = await startEtcd({ tls: true, auth: true }); });
t.teardown(async () => { for (const r of regs) r.close(); await etcd.close(); });

t.test('writes land at the documented keys', async (t) => {
  const reg = newReg();
  t.equal(await reg.submitUnit({ name: 'web.service', text: '[Service]\nExecStart=/bin/true\n', hash: 'h1' }, { desired: 'launched' }), 'created');
  t.equal(await reg.submitUnit({ name: 'web.service', text: 'other', hash: 'h2' }), 'exists', 'no replace without --replace');
  t.equal(await reg.submitUnit({ name: 'web.service', text: '[Service]\nExecStart=/bin/true\n', hash: 'h1' }), 'unchanged');
  t.equal(await reg.setDesired('nope.service', 'launched'), false, 'desired of a missing unit is refused');
  await reg.setMetadata('m1', 'disk', 'ssd');
  const s = await reg.register(machine('m1'), 5);
  await s.reportState('web.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h1', since: 'now' });
  const c = await reg.campaign(JSON.stringify({ id: 'e1' }), 5, new AbortController().signal);
  t.ok(c);
  const r = await reg.applySchedule(c!.guard, [{ kind: 'place', unit: 'web.service', machine: 'm1' }]);
  t.same(r, { applied: 1, notLeader: false, txns: 1 });
  const kv = dump(etcd, P);
  t.same(Object.keys(kv).sort(), [
    '/t1/assigned/m1/web.service', '/t1/desired/web.service', '/t1/engine/leader', '/t1/engine/writer',
    '/t1/machines/m1', '/t1/metadata/m1/disk', '/t1/schedule/web.service', '/t1/states/web.service/m1', '/t1/units/web.service',
  ]);
  t.same(JSON.parse(kv['/t1/units/web.service']), { name: 'web.service', text: '[Service]\nExecStart=/bin/true\n', hash: 'h1' });
  t.equal(kv['/t1/desired/web.service'], 'launched');
  t.equal(kv['/t1/schedule/web.service'], 'm1');
  t.equal(JSON.parse(kv['/t1/machines/m1']).capacity.cpuMillis, 2000);
  t.equal(JSON.parse(kv['/t1/states/web.service/m1']).activeState, 'active');
  // typed reads see the same
  const cl = await reg.readCluster();
  t.equal(cl.units.get('web.service')?.hash, 'h1');
  t.equal(cl.desired.get('web.service'), 'launched');
  t.equal(cl.schedule.get('web.service'), 'm1');
  t.same(cl.machines.get('m1')?.metadata, { role: 'web' });
  t.equal(cl.metadata.get('m1')?.get('disk'), 'ssd');
  t.same((await reg.listAssigned('m1')).value, ['web.service']);
  t.equal((await reg.listStates('web.service')).value[0].state.subState, 'running');
  // states and the machine record hang on the lease
  await s.close();
  const after = dump(etcd, P);
  t.notOk(after['/t1/machines/m1'], 'record gone with the lease');
  t.notOk(after['/t1/states/web.service/m1'], 'states gone with the lease');
  t.equal(await reg.destroyUnit('web.service'), true);
  t.equal(await reg.getUnit('web.service'), null);
  t.same(await reg.getHistory('web.service'), [], 'history goes with the unit');
  t.equal(await reg.submitUnit({ name: 'v.service', text: 'one', hash: 'v1' }), 'created');
  t.same(await reg.getHistory('v.service'), [], 'a first version needs no history: units/ holds it');
  t.equal(await reg.submitUnit({ name: 'v.service', text: 'two', hash: 'v2' }, { replace: true }), 'replaced');
  t.match(await reg.getHistory('v.service'), [{ hash: 'v1', text: 'one' }, { hash: 'v2', text: 'two' }], 'a replace keeps the replaced body, in the same txn');
  await reg.applyUnitBatch([{ kind: 'submit', unit: { name: 'v.service', text: 'three', hash: 'v3' }, replace: true }]);
  t.same((await reg.getHistory('v.service')).map((v) => v.hash), ['v1', 'v2', 'v3'], 'a batch replace keeps it too');
  await reg.applyUnitBatch([{ kind: 'destroy', name: 'v.service' }]);
  t.same(await reg.getHistory('v.service'), [], 'a batch destroy forgets it');
  t.equal(await reg.destroyUnit('web.service'), false);
  await c!.resign();
});

t.test('placements from a non-leader are refused by etcd', async (t) => {
  const reg = newReg('/t2/');
  const a = await reg.campaign('a', 5, new AbortController().signal);
  t.ok(a);
  const forged = { ...a!.guard, createRevision: a!.guard.createRevision + 1 };
  const r1 = await reg.applySchedule(forged, [{ kind: 'place', unit: 'x.service', machine: 'm1' }]);
  t.same(r1, { applied: 0, notLeader: true, txns: 1 }, 'wrong create revision refused');
  await a!.resign();
  t.ok(a!.lost.aborted, 'resigning ends the term');
  const r2 = await reg.applySchedule(a!.guard, [{ kind: 'place', unit: 'x.service', machine: 'm1' }]);
  t.equal(r2.notLeader, true, 'a deposed leader is refused');
  const b = await reg.campaign('b', 5, new AbortController().signal);
  t.ok(b);
  t.equal(await reg.currentLeader(), 'b');
  const r3 = await reg.applySchedule(a!.guard, [{ kind: 'place', unit: 'x.service', machine: 'm1' }]);
  t.equal(r3.notLeader, true, 'old guard refused while a new leader holds the key');
  t.same(dump(etcd, '/t2/schedule/'), {}, 'nothing written');
  await b!.resign();
});

t.test('a second candidate waits until the leader resigns', async (t) => {
  const reg = newReg('/t3/');
  const a = await reg.campaign('a', 5, new AbortController().signal);
  let bLead = false;
  const bp = reg.campaign('b', 5, new AbortController().signal).then((l) => { bLead = true; return l; });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(bLead, false, 'b is not leader while a holds the key');
  await a!.resign();
  const b = await bp;
  t.ok(b, 'b leads after a resigned');
  t.equal(await reg.currentLeader(), 'b');
  const ac = new AbortController();
  const cp = reg.campaign('c', 5, ac.signal);
  ac.abort();
  t.equal(await cp, null, 'an aborted campaign returns null');
  await b!.resign();
});

t.test('batches above 128 operations are split into several transactions', async (t) => {
  const reg = newReg('/t4/');
  const l = await reg.campaign('e', 5, new AbortController().signal);
  const places = Array.from({ length: 300 }, (_, i) => ({ kind: 'place' as const, unit: `u${i}.service`, machine: `m${i % 7}` }));
  const r = await reg.applySchedule(l!.guard, places);
  t.equal(r.applied, 300);
  t.equal(r.notLeader, false);
  t.equal(r.txns, Math.ceil(600 / 126), 'two ops per place, 127 per txn (+1 writer put)');
  t.equal((await reg.listSchedule()).value.size, 300);
  const moves = Array.from({ length: 100 }, (_, i) => ({ kind: 'move' as const, unit: `u${i}.service`, from: `m${i % 7}`, to: 'mX' }));
  const r2 = await reg.applySchedule(l!.guard, moves);
  t.equal(r2.applied, 100);
  t.equal(r2.txns, Math.ceil(100 / 42), 'three ops per move, whole moves per txn');
  t.equal(dump(etcd, '/t4/engine/writer')['/t4/engine/writer'], 'e', 'the writer is recorded');
  t.equal((await reg.listAssigned('mX')).value.length, 100);
  t.equal((await reg.listAssigned('m0')).value.length, Math.ceil(300 / 7) - Math.ceil(100 / 7), 'moved units left their old machine');
  await l!.resign();
});

t.test('a change made on a stale view of the schedule is refused, nothing of its transaction written', async (t) => {
  const reg = newReg('/t4s/');
  const l = await reg.campaign('e', 5, new AbortController().signal);
  const sched = () => dump(etcd, '/t4s/schedule/');
  const assigned = () => Object.keys(dump(etcd, '/t4s/assigned/')).sort();
  t.same(await reg.applySchedule(l!.guard, [{ kind: 'place', unit: 'a.service', machine: 'm1' }]), { applied: 1, notLeader: false, txns: 1 });
  // a leader whose model missed that write plans a.service again: placing it over m1 would leave assigned/m1 behind
  t.same(await reg.applySchedule(l!.guard, [{ kind: 'place', unit: 'b.service', machine: 'm2' }, { kind: 'place', unit: 'a.service', machine: 'm2' }]),
    { applied: 0, notLeader: false, stale: true, txns: 1 }, 'a place over a placed unit');
  t.same(await reg.applySchedule(l!.guard, [{ kind: 'move', unit: 'a.service', from: 'm2', to: 'm3' }]),
    { applied: 0, notLeader: false, stale: true, txns: 1 }, 'a move from a machine the unit is not on');
  t.same(await reg.applySchedule(l!.guard, [{ kind: 'unschedule', unit: 'a.service', from: 'm2' }]),
    { applied: 0, notLeader: false, stale: true, txns: 1 }, 'an unschedule from a machine the unit is not on');
  t.same(await reg.applySchedule(l!.guard, [{ kind: 'unschedule', unit: 'gone.service', from: 'm2' }]),
    { applied: 0, notLeader: false, stale: true, txns: 1 }, 'an unschedule of a unit not scheduled');
  t.same(sched(), { '/t4s/schedule/a.service': 'm1' }, 'nothing of a refused transaction written');
  t.same(assigned(), ['/t4s/assigned/m1/a.service']);
  const forged = { ...l!.guard, createRevision: l!.guard.createRevision + 1 };
  t.same(await reg.applySchedule(forged, [{ kind: 'place', unit: 'a.service', machine: 'm2' }]),
    { applied: 0, notLeader: true, txns: 1 }, 'a failed guard is told as notLeader, even with a stale change in the txn');
  // changes that match what etcd holds go through
  t.same(await reg.applySchedule(l!.guard, [{ kind: 'move', unit: 'a.service', from: 'm1', to: 'm3' }, { kind: 'place', unit: 'b.service', machine: 'm2' }]),
    { applied: 2, notLeader: false, txns: 1 });
  t.same(await reg.applySchedule(l!.guard, [{ kind: 'unschedule', unit: 'a.service', from: 'm3' }]), { applied: 1, notLeader: false, txns: 1 });
  t.same(sched(), { '/t4s/schedule/b.service': 'm2' });
  t.same(assigned(), ['/t4s/assigned/m2/b.service']);
  // several transactions: the stale one stops the batch; what was applied is the committed prefix
  const many = Array.from({ length: 200 }, (_, i) => ({ kind: 'place' as const, unit: `u${String(i).padStart(3, '0')}.service`, machine: 'm1' }));
  many[150] = { kind: 'place', unit: 'b.service', machine: 'm1' }; // in the third transaction (63 places each)
  const r = await reg.applySchedule(l!.guard, many);
  t.match(r, { applied: 126, notLeader: false, stale: true }, 'two transactions committed, the third refused');
  const keys = sched();
  t.ok(many.slice(0, 126).every((c) => keys[`/t4s/schedule/${c.unit}`] === 'm1'), 'the prefix is written');
  t.ok(many.slice(126, 189).every((c) => c.unit === 'b.service' || !(`/t4s/schedule/${c.unit}` in keys)), 'nothing of the refused transaction');
  t.equal(keys['/t4s/schedule/b.service'], 'm2', 'b.service stays where it is');
  t.notOk(assigned().includes('/t4s/assigned/m1/b.service'));
  await l!.resign();
});

t.test('duplicate machine ids are refused while the first lives', async (t) => {
  const reg = newReg('/t5/');
  const s1 = await reg.register(machine('dup'), 5);
  const err = await reg.register(machine('dup'), 5).then(() => null, (e) => e);
  t.type(err, ShoalError);
  t.equal(err.code, 'machine.duplicate-id');
  t.match(err.message, /dup/);
  await s1.close();
  const s2 = await reg.register(machine('dup'), 5);
  t.equal(s2.machineId, 'dup', 'the id is free again once the first session closed');
  await s2.close();
});

t.test('a restarted agent with the same session token takes its live record over; another token is refused', async (t) => {
  const reg = newReg('/t5b/');
  const s1 = await reg.register({ ...machine('same'), session: 'tok-1' }, 5);
  await s1.reportState('a.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: 'now' });
  const stranger = await reg.register({ ...machine('same'), session: 'tok-2' }, 5).then(() => null, (e) => e);
  t.equal(stranger?.code, 'machine.duplicate-id', 'a different machine with the same id is still refused');
  // the agent restarts: its old lease is still alive (s1 is abandoned, not closed)
  const events: string[] = [];
  const ac = new AbortController();
  const watching = (async () => {
    for await (const b of reg.watch([{ kind: 'machines' }], { signal: ac.signal })) {
      for (const e of b.events) if (e.type === 'machine') events.push(e.value === null ? 'delete' : 'put');
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  const s2 = await reg.register({ ...machine('same'), session: 'tok-1', startedAt: 'later' }, 5);
  t.equal(s2.machineId, 'same');
  t.equal((await reg.listMachines()).value[0]?.startedAt, 'later', 'the record is the new one');
  t.same((await reg.listStates()).value, [], "the old incarnation's states went with its lease");
  t.notOk(s2.lost.aborted, 'the new session is alive');
  await new Promise((r) => setTimeout(r, 300));
  ac.abort();
  await watching;
  t.same(events, ['put'], 'the machine record was never deleted in between (no failover triggered)');
  await s2.close();
});

t.test('a revoked lease is reported as lost', async (t) => {
  const reg = newReg('/t6/');
  const s = await reg.register(machine('m9'), 2);
  const out = etcdctl(etcd, 'lease', 'list');
  const ids = out.split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-f]+$/.test(l));
  t.ok(ids.length >= 1);
  for (const id of ids) etcdctl(etcd, 'lease', 'revoke', id);
  const t0 = Date.now();
  await new Promise<void>((resolve) => { if (s.lost.aborted) resolve(); else s.lost.addEventListener('abort', () => resolve()); });
  t.ok(Date.now() - t0 < 3000, 'noticed within the TTL');
  t.same((await reg.listMachines()).value, []);
  await s.close();
});

t.test('etcd unreachable gives a retryable UnavailableError', async (t) => {
  const reg = new EtcdRegistry({ endpoints: ['http://127.0.0.1:1'], prefix: '/t7/', callTimeoutMs: 500 });
  regs.push(reg);
  const err = await reg.readCluster().then(() => null, (e) => e);
  t.type(err, UnavailableError);
  t.equal(err.code, 'etcd.unavailable');
  t.equal(err.retryable, true);
});

t.test('reportStates writes many states in one transaction, on the lease', async (t) => {
  const reg = newReg('/t-states/');
  const s = await reg.register(machine('m1'), 5);
  const st = (active: string) => ({ loadState: 'loaded', activeState: active, subState: 'running', hash: 'h', since: 'now' });
  const before = reg.stats.requests;
  await s.reportStates(Array.from({ length: 128 }, (_, i) => [`u${i}.service`, st('active')] as const));
  t.equal(reg.stats.requests - before, 1, 'one etcd request for 128 states');
  t.equal((await reg.listStates()).value.length, 128);
  await s.reportStates([['u0.service', null], ['u1.service', { ...st('failed'), reason: 'start failed: x' }]]);
  const states = (await reg.listStates()).value;
  t.equal(states.length, 127);
  t.match(states.find((e) => e.unit === 'u1.service')!.state, { activeState: 'failed', reason: 'start failed: x' });
  await t.rejects(s.reportStates(Array.from({ length: 129 }, (_, i) => [`v${i}.service`, null] as const)), RangeError);
  await s.close();
  t.equal((await reg.listStates()).value.length, 0, 'states go with the lease');
});
