/**
 * `npm run bench:rollout`: a rolling update of a group of 30 instances (MinHealthyTime=1s, UpdateParallel=5,
 * no check) on the 3-node testbed with shoald (engine + agent) in every node, real systemd. Measures from
 * `submit --replace` to the deployment succeeded, against the ideal of 6 steps × 1 s (each step needs its
 * instances active for MinHealthyTime), and prints both and their ratio (target ≤ 1.5×). RUNS=n (default 2).
 */
import { Cluster } from '../scenarios/cluster';
import { TestbedPlatform } from '../scenarios/platform-testbed';
import { destroyUnit, setDesiredStates, submitUnit } from '../src/api/unit-ops';

const RUNS = Number(process.env.RUNS ?? 2);
const N = 30;
const PARALLEL = 5;
const MIN_HEALTHY_MS = 1000;
const TPL = 'bench-roll@.service';
const t00 = Date.now();
const log = (l: string) => console.error(`[${((Date.now() - t00) / 1000).toFixed(1).padStart(6)} s] ${l}`);

const text = (v: number) => ['[Service]', 'ExecStart=/usr/bin/sleep infinity', `Environment=V=${v}`, '', '[X-Shoal]',
  `Instances=${N}`, `UpdateParallel=${PARALLEL}`, `MinHealthyTime=${MIN_HEALTHY_MS}ms`, 'HealthyDeadline=60s', ''].join('\n');

async function allHealthy(cluster: Cluster, hash: string): Promise<void> {
  await cluster.waitFor(`${N} healthy instances`, 120_000, async () => {
    const s = (await cluster.reg.listStates()).value.filter((x) => x.unit.startsWith('bench-roll@') && x.state.hash === hash && x.state.health === 'healthy');
    return s.length === N ? true : undefined;
  });
}

const PROBE_MS = 25;
interface Phases { agent: number[]; health: number[]; engine: number[] }

/**
 * Samples states and the deployment every PROBE_MS while a rollout runs and splits each step's time into
 * agent (step written -> instance active at the new hash), health (active -> reported healthy) and
 * engine (the step's last instance healthy -> the next step's instances written) phases.
 */
function watchPhases(cluster: Cluster, hash: () => string | undefined): { stop(): Promise<Phases> } {
  let on = true;
  const stepAt = new Map<number, number>();
  const activeAt = new Map<string, number>();
  const healthyAt = new Map<string, number>();
  const stepOf = new Map<string, number>();
  const loop = (async () => {
    while (on) {
      const h = hash();
      if (h) {
        const now = Date.now();
        const [states, deps] = await Promise.all([cluster.reg.listStates(), cluster.reg.listDeployments()]);
        const d = deps.find((y) => y.unit === TPL && y.to.hash === h);
        if (d && !stepAt.has(d.step)) stepAt.set(d.step, now);
        if (d) for (const i of d.inFlight) if (!stepOf.has(i)) stepOf.set(i, d.step);
        for (const s of states.value) {
          if (!s.unit.startsWith('bench-roll@') || s.state.hash !== h) continue;
          if (s.state.activeState === 'active' && !activeAt.has(s.unit)) activeAt.set(s.unit, now);
          if (s.state.health === 'healthy' && !healthyAt.has(s.unit)) healthyAt.set(s.unit, now);
        }
      }
      await new Promise((r) => setTimeout(r, PROBE_MS));
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      const out: Phases = { agent: [], health: [], engine: [] };
      const lastHealthy = new Map<number, number>();
      for (const [u, step] of stepOf) {
        const s = stepAt.get(step), a = activeAt.get(u), hh = healthyAt.get(u);
        if (s !== undefined && a !== undefined) out.agent.push(a - s);
        if (a !== undefined && hh !== undefined) out.health.push(hh - a);
        if (hh !== undefined) lastHealthy.set(step, Math.max(lastHealthy.get(step) ?? 0, hh));
      }
      for (const [step, t] of lastHealthy) { const next = stepAt.get(step + 1); if (next !== undefined) out.engine.push(next - t); }
      return out;
    },
  };
}

async function main(): Promise<number> {
  const platform = new TestbedPlatform();
  log('bringing up the testbed');
  await platform.up();
  const cluster = new Cluster(platform, log);
  try {
    const first = await submitUnit(cluster.reg, TPL, text(0));
    await setDesiredStates(cluster.reg, [TPL], 'launched');
    await allHealthy(cluster, first.hash);
    log(`${N} instances healthy`);
    const times: number[] = [];
    const phases: Phases = { agent: [], health: [], engine: [] };
    for (let run = 1; run <= RUNS; run++) {
      const t0 = Date.now();
      let v: { hash: string } | undefined;
      const probe = watchPhases(cluster, () => v?.hash);
      v = await submitUnit(cluster.reg, TPL, text(run), { replace: true });
      const d = await cluster.waitFor('the deployment', 180_000, async () => {
        const x = (await cluster.reg.listDeployments()).find((y) => y.unit === TPL && y.to.hash === v.hash);
        return x && ['succeeded', 'failed', 'reverted'].includes(x.status) ? x : undefined;
      });
      const ms = Date.now() - t0;
      const p = await probe.stop();
      for (const k of ['agent', 'health', 'engine'] as const) phases[k].push(...p[k]);
      if (d.status !== 'succeeded') throw new Error(`deployment ${d.status}: ${d.message}`);
      log(`run ${run}: ${d.steps} steps in ${ms} ms (most in flight ${d.maxInFlight})`);
      times.push(ms);
    }
    await destroyUnit(cluster.reg, TPL);
    const ideal = Math.ceil(N / PARALLEL) * MIN_HEALTHY_MS;
    const median = [...times].sort((a, b) => a - b)[times.length >> 1];
    const ratio = median / ideal;
    console.log(`ROLLOUT ${N} instances, UpdateParallel=${PARALLEL}, MinHealthyTime=${MIN_HEALTHY_MS} ms (testbed, real systemd)`);
    console.log(`measured (median of ${RUNS}): ${(median / 1000).toFixed(2)} s   ideal: ${Math.ceil(N / PARALLEL)} steps x ${MIN_HEALTHY_MS / 1000} s = ${(ideal / 1000).toFixed(2)} s   ratio: ${ratio.toFixed(2)}x   target <= 1.5x: ${ratio <= 1.5 ? 'yes' : 'NO'}`);
    console.log(`raw ms: ${times.join(' ')}`);
    const med = (a: number[]) => a.length ? [...a].sort((x, y) => x - y)[a.length >> 1] : NaN;
    console.log(`phases (median per instance/step, sampled every ${PROBE_MS} ms): step written -> new version active ${med(phases.agent)} ms; ` +
      `active -> reported healthy ${med(phases.health)} ms (MinHealthyTime ${MIN_HEALTHY_MS}); last healthy of a step -> next step written ${med(phases.engine)} ms`);
    return 0;
  } finally {
    cluster.close();
    await platform.down();
  }
}

main().then((code) => process.exit(code), (err) => { console.error(`bench:rollout: ${err.stack ?? err}`); process.exit(1); });
