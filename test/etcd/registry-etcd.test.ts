/** The etcd registry against a real etcd: key layout, guarded writes, batching, leases, duplicate ids. */
import t from 'tap';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { LeaderGuard, MachineRecord } from '../../src/etcd/registry';
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

t.test('places go a few transactions at once, but never ahead of an unschedule or a move listed before them', async (t) => {
  const reg = newReg('/t4b/');
  const l = await reg.campaign('e', 5, new AbortController().signal);
  t.equal((await reg.applySchedule(l!.guard, [{ kind: 'place', unit: 'old.service', machine: 'm0' }, { kind: 'place', unit: 'mv.service', machine: 'm0' }])).applied, 2);
  const before = Array.from({ length: 400 }, (_, i) => ({ kind: 'place' as const, unit: `a${i}.service`, machine: `m${i % 5}` }));
  const after = Array.from({ length: 400 }, (_, i) => ({ kind: 'place' as const, unit: `b${i}.service`, machine: `m${i % 5}` }));
  const r = await reg.applySchedule(l!.guard, [...before, { kind: 'unschedule', unit: 'old.service', from: 'm0' }, { kind: 'move', unit: 'mv.service', from: 'm0', to: 'm9' }, ...after]);
  t.match(r, { applied: 802, notLeader: false }, 'every change applied');
  // etcd's mod revisions tell the order of commits: nothing after the unschedule was committed before the places ahead of it
  const kvs = (JSON.parse(etcdctl(etcd, 'get', '--prefix', '/t4b/schedule/', '-w', 'json')) as { kvs: { key: string; mod_revision: number }[] }).kvs;
  const rev = new Map(kvs.map((kv) => [Buffer.from(kv.key, 'base64').toString().slice('/t4b/schedule/'.length), Number(kv.mod_revision)]));
  t.notOk(rev.has('old.service'), 'unscheduled');
  const maxBefore = Math.max(...before.map((c) => rev.get(c.unit)!));
  const minAfter = Math.min(...after.map((c) => rev.get(c.unit)!));
  t.ok(rev.get('mv.service')! >= maxBefore, 'the move committed with or after every place before it');
  t.ok(minAfter >= rev.get('mv.service')!, 'every place after the move committed with or after it');
  t.equal(rev.size, 801);
  const forged = { ...l!.guard, createRevision: l!.guard.createRevision + 1 };
  const refused = await reg.applySchedule(forged, Array.from({ length: 1000 }, (_, i) => ({ kind: 'place' as const, unit: `c${i}.service`, machine: 'm1' })));
  t.equal(refused.applied, 0);
  t.equal(refused.notLeader, true);
  t.ok(refused.txns <= 8, `a refusal stops new transactions (${refused.txns} sent)`);
  t.same(Object.keys(dump(etcd, '/t4b/schedule/')).filter((k) => k.includes('/c')), [], 'nothing written by a refused guard');
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

t.test('leadership lost mid-batch: the applied prefix is committed, every transaction whole, and a stale re-plan places nothing twice', async (t) => {
  const reg = newReg('/t4c/');
  const watcher = newReg('/t4c/');
  const a = await reg.campaign('a', 5, new AbortController().signal);
  // 6,000 places: 96 transactions, 8 in flight; the leader key goes (deleted by another client, like an
  // expired lease) when the first of them is seen committed. Not a.resign(): revoking the lease ends its
  // keep-alive stream, and etcd3 takes that CANCELLED for a broken connection and closes the client's
  // channels under the transactions in flight (they throw instead of being refused)
  const places = Array.from({ length: 6000 }, (_, i) => ({ kind: 'place' as const, unit: `u${String(i).padStart(4, '0')}.service`, machine: `m${i % 50}` }));
  const ac = new AbortController();
  const deposed = (async () => {
    for await (const b of watcher.watch([{ kind: 'schedule' }], { signal: ac.signal })) {
      if (b.events.length) { etcdctl(etcd, 'del', a!.guard.key); return; }
    }
  })();
  const r = await reg.applySchedule(a!.guard, places);
  await deposed;
  ac.abort();
  t.equal(r.notLeader, true, 'refused once the leader key was gone');
  t.equal(r.stale, undefined);
  t.ok(r.applied > 0 && r.applied < places.length, `part applied (${r.applied} of ${places.length}, ${r.txns} txns sent)`);
  // through the registry: etcdctl's JSON of 12,000 keys is more than execFileSync's 1 MiB buffer
  const read = async () => {
    const schedule = (await reg.listSchedule()).value;
    const assigned: [string, string][] = [];
    for (const m of Array.from({ length: 50 }, (_, i) => [`m${i}`, `n${i}`]).flat()) {
      for (const unit of (await reg.listAssigned(m)).value) assigned.push([unit, m]);
    }
    return { schedule, assigned };
  };
  const after = await read();
  t.ok(places.slice(0, r.applied).every((c) => after.schedule.get(c.unit) === c.machine), 'the applied prefix is in etcd');
  for (let i = 0; i < places.length; i += 63) {
    const written = places.slice(i, i + 63).filter((c) => after.schedule.has(c.unit)).length;
    if (written !== 0 && written !== Math.min(63, places.length - i)) t.fail(`transaction at ${i} half written (${written})`);
  }
  t.comment(`committed after the applied prefix (in flight when the leader key went): ${after.schedule.size - r.applied}`);
  // the next leader's model lags: it has seen the applied prefix but its last 100 units (their events not
  // yet arrived), nothing after it. It plans the other units on other machines: whatever is already
  // placed must be refused, not overwritten
  const b = await reg.campaign('b', 5, new AbortController().signal);
  const known = new Set(places.slice(0, Math.max(0, r.applied - 100)).map((c) => c.unit));
  t.ok(await replan(t, reg, b!.guard, places, known, 50) > 0, 'a place over a placed unit was refused as stale');
  const end = await read();
  t.equal(end.schedule.size, places.length, 'every unit scheduled');
  t.equal(end.assigned.length, places.length, 'one assigned key per unit: none placed twice');
  t.ok(end.assigned.every(([unit, m]) => end.schedule.get(unit) === m), 'assigned/ agrees with schedule/');
  t.ok([...after.schedule].every(([unit, m]) => end.schedule.get(unit) === m), 'nothing committed by the deposed leader was overwritten');
  await b!.resign();
  await a!.resign();
});

t.test('a transaction that fails mid-batch: the error is thrown, the ones in flight with it commit whole, a re-plan places nothing twice', async (t) => {
  const reg = newReg('/t4d/');
  const l = await reg.campaign('e', 5, new AbortController().signal);
  // 20 transactions of 63 places; the third fails (a 2 MB value: etcd refuses a request over 1.5 MiB)
  const places = Array.from({ length: 20 * 63 }, (_, i) => ({ kind: 'place' as const, unit: `u${String(i).padStart(4, '0')}.service`, machine: `m${i % 10}` }));
  places[2 * 63 + 5] = { ...places[2 * 63 + 5], machine: 'x'.repeat(2_000_000) };
  await t.rejects(reg.applySchedule(l!.guard, places), /schedule txn/, 'the failure is thrown');
  const schedule = (await reg.listSchedule()).value;
  const txnWritten = (i: number) => places.slice(i * 63, i * 63 + 63).filter((c) => schedule.has(c.unit)).length;
  t.same([txnWritten(0), txnWritten(1), txnWritten(2)], [63, 63, 0], 'the two before it committed, it did not');
  const later = Array.from({ length: 17 }, (_, i) => txnWritten(i + 3));
  t.ok(later.every((n) => n === 0 || n === 63), `later transactions whole or not at all (${later.join(',')})`);
  // the first 8 go out at once (the failing one among them); one more starts as each of the first two commits
  t.ok(later.slice(0, 5).every((n) => n === 63), 'the ones sent with it committed');
  t.ok(later.slice(7).every((n) => n === 0), 'none sent after the failure was seen');
  // the caller knows only what committed before the failure (the rest's events not arrived): it plans the
  // rest on other machines; a place over a unit committed after the failed transaction is refused
  const known = new Set(places.slice(0, 2 * 63).map((c) => c.unit));
  t.ok(await replan(t, reg, l!.guard, places, known, 10) > 0, 'refused as stale');
  const end = (await reg.listSchedule()).value;
  const assigned: [string, string][] = [];
  for (const m of Array.from({ length: 10 }, (_, i) => [`m${i}`, `n${i}`]).flat()) for (const u of (await reg.listAssigned(m)).value) assigned.push([u, m]);
  t.equal(end.size, places.length, 'every unit scheduled');
  t.equal(assigned.length, places.length, 'one assigned key per unit: none placed twice');
  t.ok(assigned.every(([u, m]) => end.get(u) === m), 'assigned/ agrees with schedule/');
  t.ok([...schedule].every(([u, m]) => end.get(u) === m), 'nothing committed before was overwritten');
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

/**
 * A leader whose view lags: plans the units of `places` not in `known` on machines n0..n(machines-1), and
 * after each refusal as stale catches up (reads the schedule, as its watch would) and plans again, up to 10
 * times. Returns how many times it was refused as stale.
 */
async function replan(t: { equal(a: unknown, b: unknown): void }, reg: EtcdRegistry, guard: LeaderGuard, places: { unit: string; machine: string; kind: 'place' }[], known: Set<string>, machines: number): Promise<number> {
  let staleSeen = 0;
  for (let attempt = 0; attempt < 10; attempt++) {
    const todo = places.filter((c) => !known.has(c.unit)).map((c) => ({ ...c, machine: `n${Number(c.unit.slice(1, 5)) % machines}` }));
    if (todo.length === 0) break;
    const r = await reg.applySchedule(guard, todo);
    t.equal(r.notLeader, false);
    if (!r.stale) break;
    staleSeen++;
    known = new Set((await reg.listSchedule()).value.keys()); // the watch caught up
  }
  return staleSeen;
}
