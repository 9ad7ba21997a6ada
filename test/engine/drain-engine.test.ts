/**
 * Cordon and drain through the API operations and real engines on a real etcd (agents simulated by
 * reporting states): a drain moves a machine's units one group step at a time, never leaving a group
 * below count − UpdateParallel healthy, continues across an engine failover, leaves a unit no other
 * machine can run where it is (reported), and a cordoned machine gets no new units.
 */
import t from 'tap';
import { engineOnEtcd, machineRecord, until } from '../helpers/engine-etcd';
import { simulateAgents } from '../helpers/state-simulator';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineSession } from '../../src/etcd/registry';
import { setDesiredStates, submitUnit } from '../../src/api/unit-ops';
import { scaleGroup } from '../../src/api/group-ops';
import { cordonMachine, drainMachine, drainStatus, uncordonMachine } from '../../src/api/drain-ops';
import { NotFoundError } from '../../src/api/grpc-errors';

const { reg, startEngine } = engineOnEtcd(t);
const rec = (id: string) => machineRecord(id, id === 'm1' ? { disk: 'ssd' } : {});

/** Healthy instances of each group where they are scheduled now. */
async function healthyByGroup(api: EtcdRegistry): Promise<Map<string, number>> {
  const [units, schedule, states] = await Promise.all([api.listUnits(), api.listSchedule(), api.listStates()]);
  const hash = new Map(units.value.map((u) => [u.name, u.hash]));
  const out = new Map<string, number>([['web', 0], ['api', 0]]);
  for (const s of states.value) {
    const g = s.unit.split('@')[0];
    if (!out.has(g) || s.unit.includes('@.') || schedule.value.get(s.unit) !== s.machine) continue;
    if (s.state.hash === hash.get(s.unit) && s.state.health === 'healthy') out.set(g, out.get(g)! + 1);
  }
  return out;
}

t.test('drain: group steps, floors kept, failover, a pinned unit stays, cordon keeps new units off', async (t) => {
  const P = '/d1/';
  const api = reg(P);
  const sessions: MachineSession[] = [];
  for (const id of ['m1', 'm2', 'm3']) sessions.push(await api.register(rec(id), 5));
  const sim = simulateAgents(api, sessions, { healthyAfterMs: 400 });
  t.teardown(() => sim.stop());
  let e = startEngine(P, 'e1');
  t.teardown(() => e.stop());

  await submitUnit(api, 'web@.service', '[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nInstances=6\nUpdateParallel=1\n');
  await submitUnit(api, 'api@.service', '[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nInstances=3\nUpdateParallel=2\n');
  await submitUnit(api, 'pinned.service', '[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nMachineMetadata=disk=ssd\n');
  await setDesiredStates(api, ['web@.service', 'api@.service', 'pinned.service'], 'launched');
  const floors = new Map([['web', 5], ['api', 1]]);
  await until(async () => { const h = await healthyByGroup(api); return h.get('web') === 6 && h.get('api') === 3; }, 15_000, 'every instance healthy');
  const before = (await api.listAssigned('m1')).value.sort();
  t.ok(before.filter((u) => u.startsWith('web@')).length >= 2, `m1 runs several web instances (${before.join(', ')})`);

  await t.rejects(drainMachine(api, 'nosuch', 60_000, 'test'), NotFoundError, 'an unknown machine is refused');
  const started = await drainMachine(api, 'm1', 60_000, 'test');
  t.match(started, { machine: 'm1', changed: true });
  const again = await drainMachine(api, 'm1', 60_000, 'test');
  t.match(again, { changed: false, drainId: started.drainId, message: /already draining/ }, 'a second drain is a no-op that says so');
  t.match(await cordonMachine(api, 'm1', 'test'), { changed: false, message: /already cordoned/ });

  const lows: string[] = [];
  let failedOver = false;
  const progress = await until(async () => {
    const h = await healthyByGroup(api);
    for (const [g, n] of h) if (n < floors.get(g)!) lows.push(`${g}: ${n} healthy`);
    const s = await drainStatus(api, 'm1');
    if (!failedOver && s.progress && s.progress.moved.length >= 1) {
      failedOver = true;
      await e.stop();
      e = startEngine(P, 'e2'); // the drain lives in etcd: the new leader carries on
    }
    return s.progress?.status === 'done' && s.progress;
  }, 40_000, 'the drain to finish');
  t.same(lows, [], 'no group below count − UpdateParallel during the drain');
  t.ok(failedOver, 'the drain continued after an engine failover');
  t.same((await api.listAssigned('m1')).value, ['pinned.service'], 'only the unit no other machine can run is left');
  t.same(progress.stuck.map((s) => s.unit), ['pinned.service']);
  t.match(progress.stuck[0].reason, /metadata disk/);
  t.same(progress.moved.map((m) => m.unit).sort(), before.filter((u) => u !== 'pinned.service').sort(), 'every other unit moved');
  t.ok(progress.moved.every((m) => m.to !== 'm1' && m.healthy), 'each healthy on its new machine');

  await scaleGroup(api, 'web@.service', 9);
  await until(async () => { const s = (await api.listSchedule()).value; return ['web@7.service', 'web@8.service', 'web@9.service'].every((u) => s.has(u)) && s; }, 5000, 'new instances placed');
  t.notOk((await api.listAssigned('m1')).value.some((u) => u.startsWith('web@')), 'a cordoned machine gets no new units');

  t.match(await uncordonMachine(api, 'm1'), { changed: true });
  t.match(await uncordonMachine(api, 'm1'), { changed: false, message: /not cordoned/ });
  t.same(await drainStatus(api, 'm1'), { machine: 'm1', cordon: null, progress: null });
});
