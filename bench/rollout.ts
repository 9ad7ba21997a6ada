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
    for (let run = 1; run <= RUNS; run++) {
      const t0 = Date.now();
      const v = await submitUnit(cluster.reg, TPL, text(run), { replace: true });
      const d = await cluster.waitFor('the deployment', 180_000, async () => {
        const x = (await cluster.reg.listDeployments()).find((y) => y.unit === TPL && y.to.hash === v.hash);
        return x && ['succeeded', 'failed', 'reverted'].includes(x.status) ? x : undefined;
      });
      const ms = Date.now() - t0;
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
    return 0;
  } finally {
    cluster.close();
    await platform.down();
  }
}

main().then((code) => process.exit(code), (err) => { console.error(`bench:rollout: ${err.stack ?? err}`); process.exit(1); });
