/**
 * Autoscaling through a real engine on a real etcd (issue 12): machines' load reports (load/<machine>)
 * drive a group with ScaleCPU= up and, after its scale-down window, down again; the count goes to
 * groups/<template> (where `shoalctl scale` writes it) with a decision record; a new leader does not
 * scale down before a window of its own.
 */
import t from 'tap';
import { engineOnEtcd, machineRecord, until } from '../helpers/engine-etcd';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineLoad, MachineSession } from '../../src/etcd/registry';
import { setDesiredStates, submitUnit } from '../../src/api/unit-ops';
import { setEventSink } from '../../src/events/emit';
import type { EventDraft } from '../../src/events/types';

const { reg, startEngine: start } = engineOnEtcd(t);
const startEngine = (prefix: string, id = 'e1') => start(prefix, id, { autoscaleIntervalMs: 200 });
const rec = (id: string) => machineRecord(id);

/** Every machine reports `cpuMillis` for each web instance placed on it (what its agent's sampler would). */
async function report(api: EtcdRegistry, sessions: Map<string, MachineSession>, cpuMillis: number) {
  const schedule = (await api.listSchedule()).value;
  await Promise.all([...sessions].map(([id, s]) => {
    const units: MachineLoad['units'] = {};
    for (const [u, m] of schedule) if (m === id && u.startsWith('web@')) units[u] = { cpuMillis, memoryBytes: 10 << 20 };
    return s.reportLoad({ at: new Date().toISOString(), cpuMillis: 0, cpuTotalMillis: 4000, memAvailableBytes: 4 * 2 ** 30, memTotalBytes: 8 * 2 ** 30, diskFreeBytes: 2 ** 30, diskTotalBytes: 2 * 2 ** 30, units });
  }));
}

const count = async (api: EtcdRegistry) => api.getScale('web@.service');

t.test('a ScaleCPU= group scales up under load and down after its window; decisions recorded', async (t) => {
  const P = '/as1/';
  const api = reg(P);
  const sessions = new Map<string, MachineSession>();
  for (const id of ['m1', 'm2', 'm3']) sessions.set(id, await api.register(rec(id), 5));
  const events: EventDraft[] = [];
  setEventSink({ post: (d) => events.push(d) });
  t.teardown(() => { setEventSink(null); });
  let e = startEngine(P);
  t.teardown(() => e.stop());
  await submitUnit(api, 'web@.service', '[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nCPU=500m\nScaleMin=2\nScaleMax=5\nScaleCPU=50%\nScaleDownWindow=3s\n');
  await setDesiredStates(api, ['web@.service'], 'launched');
  await until(async () => (await api.listSchedule()).value.size === 2, 5000, '2 instances (ScaleMin) placed');

  // 400m each of a 500m reservation = 80 % against a 50 % target: ceil(2 × 1.6) = 4
  await report(api, sessions, 400);
  t.equal(await until(async () => { const c = await count(api); return c !== null && c !== 2 && c; }, 5000, 'a scale-up'), 4, 'up to ceil(2 × 80/50) = 4');
  await until(async () => (await api.listSchedule()).value.size === 4, 5000, '4 instances placed');
  // still hot on 4: 4 × 1.6 = 6.4 → clamped to ScaleMax=5
  await report(api, sessions, 400);
  t.equal(await until(async () => { const c = await count(api); return c === 5 && c; }, 5000, 'ScaleMax'), 5, 'clamped to ScaleMax=5');
  await until(async () => (await api.listSchedule()).value.size === 5, 5000, '5 placed');

  // load gone: nothing moves for the 3 s window, then down to ScaleMin
  const quiet = Date.now();
  await report(api, sessions, 20);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(await count(api), 5, 'held within the scale-down window');
  t.equal(await until(async () => { const c = await count(api); return c === 2 && c; }, 8000, 'scale-down'), 2, 'down to ScaleMin=2');
  t.ok(Date.now() - quiet >= 3000, `not before the window (${Date.now() - quiet} ms)`);
  await until(async () => (await api.listSchedule()).value.size === 2, 5000, 'instances 3..5 gone');

  const record = (await api.listAutoscale()).get('web@.service')!;
  t.same(record.decisions.map((d) => [d.from, d.to]), [[2, 4], [4, 5], [5, 2]], 'every change recorded');
  t.match(record.decisions[0], { reporting: 2, observed: { cpu: 80 }, target: { cpu: 50 }, raw: 4 });
  t.match(record.decisions[1].reason, /clamped to ScaleMax=5/);
  const scaled = events.filter((x) => x.kind === 'autoscale.decision');
  t.same(scaled.map((x) => [x.unit, x.fields?.from, x.fields?.to]), [['web@.service', '2', '4'], ['web@.service', '4', '5'], ['web@.service', '5', '2']], 'each decision is an event');
  t.match(scaled[0], { actor: 'e1', fields: { reporting: '2', observed: 'cpu=80%', raw: '4' }, message: /scaled 2 -> 4: cpu 80% vs target 50%/ });

  // a new leader does not scale down at once: its history starts with the current count
  await report(api, sessions, 400);
  t.equal(await until(async () => { const c = await count(api); return c === 4 && c; }, 5000, 'up again'), 4);
  await until(async () => (await api.listSchedule()).value.size === 4, 5000, '4 placed');
  await e.stop();
  await report(api, sessions, 20);
  e = startEngine(P, 'e2');
  await new Promise((r) => setTimeout(r, 2000));
  t.equal(await count(api), 4, 'the new leader waits a window of its own before scaling down');
  t.equal(await until(async () => { const c = await count(api); return c === 2 && c; }, 8000, 'scale-down by the new leader'), 2);
});
