/**
 * issue 9, fault 1, on a real etcd: an etcd outage (or a new leader's fresh view) is not the death of
 * machines. Machines that were alive get the grace to re-register before any of their units move; a
 * machine that really goes away still loses its units (after the grace, or at once when seen dying).
 */
import t from 'tap';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord, MachineSession } from '../../src/etcd/registry';
import { Engine } from '../../src/engine/engine';
import { silentLogger } from '../../src/log';
import { unitHash } from '../../src/units/unit-hash';
import { parseUnitFile } from '../../src/units/unit-file';

let etcd: EtcdServer;
const regs: EtcdRegistry[] = [];
const reg = (prefix: string) => { const r = new EtcdRegistry({ ...etcd.connection, prefix, callTimeoutMs: 1000 }); regs.push(r); return r; };
const rec = (id: string): MachineRecord => ({
  id, metadata: {}, capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }, version: 'test', startedAt: new Date().toISOString(),
});
const unit = (name: string) => {
  const text = '[Service]\nExecStart=/bin/sleep 1000\n';
  return { name, text, hash: unitHash(parseUnitFile(text)) };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GRACE = 4000;

t.before(async () => { etcd = await startEtcd({ tls: true, auth: true }); });
t.teardown(async () => { for (const r of regs) r.close(); await etcd.close(); });

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!(await cond().catch(() => false))) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
  return Date.now() - t0;
}

function startEngine(prefix: string, id: string) {
  const engine = new Engine({ registry: reg(prefix), id, log: silentLogger, ttlSeconds: 2, debounceMs: 20, machineGraceMs: GRACE, contactIntervalMs: 250 });
  const ac = new AbortController();
  const done = engine.run(ac.signal);
  let stopped = false;
  return { engine, stop: async () => { if (stopped) return; stopped = true; ac.abort(); await done; } };
}

/** Every schedule change from now on (unit → machine, or null for a delete). */
function recordSchedule(prefix: string) {
  const w = reg(prefix);
  const changes: string[] = [];
  const ac = new AbortController();
  const done = (async () => {
    for await (const b of w.watch([{ kind: 'schedule' }], { signal: ac.signal })) {
      for (const e of b.events) if (e.type === 'schedule') changes.push(`${e.unit}=${e.value}`);
    }
  })();
  return { changes, stop: async () => { ac.abort(); await done; } };
}

async function placeSix(api: EtcdRegistry): Promise<Map<string, string>> {
  for (let i = 0; i < 6; i++) await api.submitUnit(unit(`u${i}.service`), { desired: 'launched' });
  await until(async () => (await api.listSchedule()).value.size === 6, 8000, '6 placements');
  return (await api.listSchedule()).value;
}

t.test('etcd paused past every lease: machines re-registering within the grace keep their units', async (t) => {
  const P = '/o1/';
  const api = reg(P);
  const ids = ['m1', 'm2', 'm3'];
  const sessions = new Map<string, MachineSession>();
  for (const id of ids) sessions.set(id, await api.register(rec(id), 2));
  const e = startEngine(P, 'e1');
  t.teardown(() => e.stop());
  const before = await placeSix(api);
  t.equal(new Set(before.values()).size, 3, 'units spread over the 3 machines');
  const history = recordSchedule(P);
  etcd.pause();
  await sleep(5000); // longer than the machines' TTL (2 s) and the leader's
  etcd.resume();
  // the agents come back one by one, the last one late (as an agent still in reconnect backoff would)
  await until(async () => [...sessions.values()].every((s) => s.lost.aborted), 5000, 'the old leases to be lost');
  sessions.set('m1', await api.register(rec('m1'), 2));
  await sleep(1000);
  sessions.set('m2', await api.register(rec('m2'), 2));
  await sleep(1800);
  sessions.set('m3', await api.register(rec('m3'), 2));
  await sleep(1500); // well past any pass the re-registrations triggered
  t.same(history.changes, [], 'no schedule change while the machines came back');
  t.same((await api.listSchedule()).value, before, 'every unit is where it was');

  // a machine that dies for real afterwards (lease runs out while etcd is fine) loses its units at once
  const victim = before.get('u0.service')!;
  const onVictim = [...before].filter(([, m]) => m === victim).map(([u]) => u);
  sessions.get(victim)!.detach();
  const ms = await until(async () => {
    const s = (await api.listSchedule()).value;
    return onVictim.every((u) => s.get(u) !== undefined && s.get(u) !== victim);
  }, 8000, 'units to leave the dead machine');
  t.ok(ms < 2000 + 1500, `units moved ${ms} ms after the keep-alives stopped (TTL 2 s): no grace for a death the engine saw`);
  await history.stop();
  await e.stop();
  for (const s of sessions.values()) await s.close();
});

t.test('etcd paused: a machine that does not come back loses its units after the grace', async (t) => {
  const P = '/o2/';
  const api = reg(P);
  const sessions = new Map<string, MachineSession>();
  for (const id of ['n1', 'n2']) sessions.set(id, await api.register(rec(id), 2));
  const e = startEngine(P, 'e1');
  t.teardown(() => e.stop());
  const before = await placeSix(api);
  const onN2 = [...before].filter(([, m]) => m === 'n2').map(([u]) => u);
  etcd.pause();
  await sleep(4000);
  etcd.resume();
  const back = Date.now();
  await until(async () => sessions.get('n1')!.lost.aborted, 5000, 'n1 lease lost');
  sessions.set('n1', await api.register(rec('n1'), 2));
  const ms = await until(async () => {
    const s = (await api.listSchedule()).value;
    return onN2.every((u) => s.get(u) === 'n1');
  }, GRACE + 8000, "n2's units on n1");
  const since = ms + (Date.now() - back - ms);
  t.ok(since >= GRACE - 500, `n2's units moved ${since} ms after etcd came back: not before the grace (${GRACE} ms)`);
  await e.stop();
  for (const s of sessions.values()) await s.close();
});

t.test('a new leader holds machines it never saw alive until the grace ends', async (t) => {
  const P = '/o3/';
  const api = reg(P);
  const sessions = new Map<string, MachineSession>();
  for (const id of ['k1', 'k2']) sessions.set(id, await api.register(rec(id), 2));
  const e1 = startEngine(P, 'e1');
  const before = await placeSix(api);
  await e1.stop();
  // k2's agent is away (its lease runs out) while no engine runs; it comes back shortly after e2 starts
  sessions.get('k2')!.detach();
  await until(async () => !(await api.listMachines()).value.some((m) => m.id === 'k2'), 5000, 'k2 record to lapse');
  const history = recordSchedule(P);
  const e2 = startEngine(P, 'e2');
  t.teardown(() => e2.stop());
  await until(async () => e2.engine.isLeader, 5000, 'e2 to lead');
  await sleep(1500);
  sessions.set('k2', await api.register(rec('k2'), 2));
  await sleep(1000);
  t.same(history.changes, [], 'the new leader moved nothing off the machine it had not seen die');
  t.same((await api.listSchedule()).value, before, 'every unit is where it was');
  // a clean leave (revoke) is a death the leader sees: the units move at once
  await sessions.get('k2')!.close();
  const ms = await until(async () => [...(await api.listSchedule()).value.values()].every((m) => m === 'k1'), 5000, 'units on k1');
  t.ok(ms < 1500, `moved ${ms} ms after k2 left`);
  await history.stop();
  await e2.stop();
  for (const s of sessions.values()) await s.close();
});

t.test('a machine marked leaving loses its units at once and gets no new ones; its revoke moves nothing more', async (t) => {
  const P = '/o4/';
  const api = reg(P);
  const sessions = new Map<string, MachineSession>();
  for (const id of ['l1', 'l2']) sessions.set(id, await api.register(rec(id), 2));
  const e = startEngine(P, 'e1');
  t.teardown(() => e.stop());
  await placeSix(api);
  await sessions.get('l2')!.update({ ...rec('l2'), leaving: true });
  const ms = await until(async () => [...(await api.listSchedule()).value.values()].every((m) => m === 'l1'), 5000, 'units off the leaving machine');
  t.ok(ms < 2000, `units left l2 ${ms} ms after it was marked leaving`);
  await api.submitUnit(unit('late.service'), { desired: 'launched' });
  await until(async () => (await api.listSchedule()).value.get('late.service') === 'l1', 5000, 'late.service placed');
  t.pass('a new unit is not placed on the leaving machine');
  await sessions.get('l2')!.close();
  await sleep(500);
  t.equal((await api.listSchedule()).value.size, 7, 'nothing lost when the leaving machine revoked its lease');
  await e.stop();
  for (const s of sessions.values()) await s.close();
});
