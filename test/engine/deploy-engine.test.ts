/**
 * Deployments driven by real engines on a real etcd, with agents' state reports simulated
 * (test/helpers/state-simulator.ts; the testbed scenarios use real agents): a rolling update waits for
 * health step by step, a broken version auto-reverts with never more than UpdateParallel down, a new
 * leader continues a deployment from the stored step, canaries wait for promote, and a replaced single
 * unit goes through the same gate.
 */
import t from 'tap';
import { engineOnEtcd, machineRecord, until } from '../helpers/engine-etcd';
import { simulateAgents } from '../helpers/state-simulator';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineSession } from '../../src/etcd/registry';
import { setDesiredStates, submitUnit } from '../../src/api/unit-ops';
import { promote } from '../../src/api/group-ops';
import type { Deployment } from '../../src/deploy/types';

const { reg, startEngine: start } = engineOnEtcd(t);
const startEngine = (prefix: string, id: string) => start(prefix, id, { ttlSeconds: 1 });
const rec = (id: string) => machineRecord(id);

const body = (v: string, opts: string) => `[Service]\nExecStart=/bin/sleep ${v}\n[X-Shoal]\n${opts}\n`;

async function cluster(t: { teardown(fn: () => unknown): void }, prefix: string, healthyAfterMs: number) {
  const api = reg(prefix);
  const sessions: MachineSession[] = [];
  for (const id of ['m1', 'm2', 'm3']) sessions.push(await api.register(rec(id), 5));
  const sim = simulateAgents(api, sessions, { healthyAfterMs });
  t.teardown(() => sim.stop());
  return { api, sim };
}

async function deployment(api: EtcdRegistry, unit: string): Promise<Deployment | undefined> {
  return (await api.listDeployments()).find((d) => d.unit === unit);
}

/** Waits for every instance to be healthy at the template's hash. */
async function settled(api: EtcdRegistry, n: number) {
  await until(async () => {
    const tpl = await api.getUnit('web@.service');
    const states = (await api.listStates()).value.filter((s) => s.unit.startsWith('web@') && s.state.hash === tpl?.hash && s.state.health === 'healthy');
    return states.length === n;
  }, 15_000, `${n} healthy instances`);
}

t.test('rolling 6 instances with UpdateParallel=2: three steps, each after the last was healthy', async (t) => {
  const { api, sim } = await cluster(t, '/d1/', 300);
  const e = startEngine('/d1/', 'e1');
  t.teardown(() => e.stop());
  await submitUnit(api, 'web@.service', body('100', 'Instances=6\nUpdateParallel=2\nHealthyDeadline=10s'));
  await setDesiredStates(api, ['web@.service'], 'launched');
  await settled(api, 6);
  const v2 = await submitUnit(api, 'web@.service', body('200', 'Instances=6\nUpdateParallel=2\nHealthyDeadline=10s'), { replace: true });
  sim.maxDown = 0;
  const d = await until(async () => { const x = await deployment(api, 'web@.service'); return x?.status === 'succeeded' && x.to.hash === v2.hash && x; }, 20_000, 'the deployment to succeed');
  t.match(d, { step: 3, steps: 3, healthy: 6, total: 6, maxInFlight: 2 });
  t.ok(sim.maxDown <= 2, `at most 2 instances down at once (saw ${sim.maxDown})`);
  // the order: no instance of step k+1 got the new body before every one of step k reported healthy
  const firstNew = new Map<string, number>();
  const healthyAt = new Map<string, number>();
  for (const l of sim.log) {
    if (l.hash !== v2.hash) continue;
    if (!firstNew.has(l.unit)) firstNew.set(l.unit, l.t);
    if (l.health === 'healthy' && !healthyAt.has(l.unit)) healthyAt.set(l.unit, l.t);
  }
  const order = [...firstNew].sort((a, b) => a[1] - b[1]).map(([u]) => u);
  for (let k = 2; k < 6; k += 2) {
    const prevHealthy = Math.max(...order.slice(k - 2, k).map((u) => healthyAt.get(u)!));
    const nextStart = Math.min(...order.slice(k, k + 2).map((u) => firstNew.get(u)!));
    t.ok(nextStart >= prevHealthy, `step ${k / 2 + 1} started after step ${k / 2} was healthy`);
  }
});

t.test('a broken version auto-reverts, never more than UpdateParallel down; a new leader carries on', async (t) => {
  const { api, sim } = await cluster(t, '/d2/', 200);
  let e1 = startEngine('/d2/', 'e1');
  const e2 = startEngine('/d2/', 'e2');
  t.teardown(async () => { await e1.stop(); await e2.stop(); });
  const opts = 'Instances=6\nUpdateParallel=2\nHealthyDeadline=2s\nAutoRevert=true';
  const v1 = await submitUnit(api, 'web@.service', body('100', opts));
  await setDesiredStates(api, ['web@.service'], 'launched');
  await settled(api, 6);
  const v2 = await submitUnit(api, 'web@.service', body('666', opts), { replace: true });
  sim.opts.broken = (h) => h === v2.hash;
  sim.maxDown = 0;
  const d = await until(async () => { const x = await deployment(api, 'web@.service'); return x && ['reverted', 'failed'].includes(x.status) && x.to.hash === v2.hash && x; }, 30_000, 'the revert');
  t.equal(d.status, 'reverted', d.message);
  t.match(d.message, /not healthy within 2s/);
  t.ok(sim.maxDown <= 2, `at most 2 down at once (saw ${sim.maxDown})`);
  t.equal((await api.getUnit('web@.service'))!.hash, v1.hash, 'the template is back at the healthy version');
  await settled(api, 6);

  // leader killed mid-deployment: the other engine continues from the stored step
  sim.opts.broken = undefined;
  sim.opts.healthyAfterMs = 800;
  const v3 = await submitUnit(api, 'web@.service', body('300', opts), { replace: true });
  const mid = await until(async () => { const x = await deployment(api, 'web@.service'); return x?.to.hash === v3.hash && x.step >= 2 && x.status === 'running' && x; }, 20_000, 'step 2');
  const leader = e1.engine.isLeader ? e1 : e2;
  await leader.stop();
  t.ok(leader.engine.isLeader === false, `leader stopped at step ${mid.step}/${mid.steps}`);
  const done = await until(async () => { const x = await deployment(api, 'web@.service'); return x?.to.hash === v3.hash && x.status === 'succeeded' && x; }, 30_000, 'the new leader to finish');
  t.equal(done.id, mid.id, 'the same deployment, continued');
  t.equal(done.steps, 3);
  if (leader === e1) e1 = { engine: e1.engine, stop: async () => undefined };
});

t.test('canary then promote; a replaced single unit is gated and reverted when unhealthy', async (t) => {
  const { api, sim } = await cluster(t, '/d3/', 200);
  const e = startEngine('/d3/', 'e1');
  t.teardown(() => e.stop());
  const opts = 'Instances=4\nCanary=1\nUpdateParallel=2\nHealthyDeadline=10s';
  await submitUnit(api, 'web@.service', body('100', opts));
  await setDesiredStates(api, ['web@.service'], 'launched');
  await settled(api, 4);
  const v2 = await submitUnit(api, 'web@.service', body('200', opts), { replace: true });
  const paused = await until(async () => { const x = await deployment(api, 'web@.service'); return x?.status === 'paused' && x; }, 15_000, 'the canary pause');
  t.equal(paused.healthy, 1, 'one canary healthy');
  await new Promise((r) => setTimeout(r, 500));
  const atNew = (await api.listUnits()).value.filter((u) => u.name.startsWith('web@') && u.name !== 'web@.service' && u.hash === v2.hash);
  t.equal(atNew.length, 1, 'the rest wait for promote');
  await promote(api, 'web@.service');
  const d = await until(async () => { const x = await deployment(api, 'web@.service'); return x?.status === 'succeeded' && x; }, 15_000, 'the promoted deployment');
  t.equal(d.healthy, 4);

  await submitUnit(api, 'api.service', body('100', 'HealthyDeadline=1500ms\nAutoRevert=yes'), { desired: 'launched' });
  await until(async () => (await api.listStates('api.service')).value[0]?.state.health === 'healthy', 10_000, 'api healthy');
  const bad = await submitUnit(api, 'api.service', body('666', 'HealthyDeadline=1500ms\nAutoRevert=yes'), { replace: true });
  sim.opts.broken = (h) => h === bad.hash;
  const r = await until(async () => { const x = await deployment(api, 'api.service'); return x && ['reverted', 'failed'].includes(x.status) && x; }, 15_000, 'the single unit to revert');
  t.equal(r.status, 'reverted', r.message);
  t.not((await api.getUnit('api.service'))!.hash, bad.hash, 'api.service back at its previous body');
});
