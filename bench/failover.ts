/**
 * Failover benchmark on the 3-node testbed with shoald (engine + agent) in every node, default TTL:
 *  - machine loss: a node killed (SIGKILL to its PID 1) → every unit it ran reported active by an
 *    agent elsewhere (watch on states/), then confirmed by systemctl in the surviving nodes;
 *  - leader loss: the leader's shoald killed (kill -9) → a new engine/leader key (polled every 20 ms).
 * Median, min and max of BENCH_FAILOVER_RUNS runs (default 5) each; targets: TTL + 2 s and TTL + 1 s.
 * Run as root: `npm run bench:failover` (builds first). Exits 1 when a median misses its target.
 */
import { Cluster } from '../scenarios/cluster';
import { TestbedPlatform } from '../scenarios/platform-testbed';
import { prepare } from '../scenarios/runner';
import { busiestNode, unitsOn, without } from '../scenarios/scenario';
import { baseUnits } from '../scenarios/units';

const RUNS = Number(process.env.BENCH_FAILOVER_RUNS ?? 5);
const log = (l: string) => console.error(l);

/** One machine-loss run: ms from the kill to all of the victim's units reported active elsewhere. */
async function machineLoss(platform: TestbedPlatform, cluster: Cluster): Promise<number> {
  const base = await prepare(platform, cluster, log);
  const units = baseUnits();
  const victim = busiestNode(base.obs, units);
  const moved = unitsOn(base.obs, units, victim);
  const lostId = await cluster.machineId(victim);
  const rev = (await cluster.reg.listStates()).revision;
  const t0 = Date.now();
  await platform.killNode(victim);
  const ms = await cluster.waitReportedElsewhere(moved, lostId, rev, t0, platform.ttlSeconds * 1000 + 30_000);
  await cluster.expectSettled('after the kill', units, without(platform.nodes, victim), 20_000);
  log(`  machine loss: ${victim} (${moved.length} units) -> all active elsewhere in ${ms} ms`);
  await platform.startNode(victim);
  return ms;
}

/** One leader-loss run: ms from kill -9 of the leader's shoald to a new leader key. */
async function leaderLoss(platform: TestbedPlatform, cluster: Cluster): Promise<number> {
  await prepare(platform, cluster, log);
  const old = await cluster.waitFor('a leader', 10_000, async () => (await cluster.leader()) ?? undefined);
  if (!old.node) throw new Error(`cannot map the leader to a node: ${old.raw}`);
  const t0 = Date.now();
  await platform.killShoald(old.node);
  const ms = await cluster.waitFor('a new leader', platform.ttlSeconds * 1000 + 30_000, async () => {
    const l = await cluster.leader();
    return l && l.raw !== old.raw ? Date.now() - t0 : undefined;
  });
  log(`  leader loss: ${old.node} killed -> new leader in ${ms} ms`);
  return ms;
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1] };
}

async function main(): Promise<number> {
  const platform = new TestbedPlatform();
  const ttl = platform.ttlSeconds * 1000;
  log(`bringing up the testbed (TTL ${platform.ttlSeconds} s), ${RUNS} runs each`);
  await platform.up();
  const cluster = new Cluster(platform, log);
  try {
    const machine: number[] = [];
    const leader: number[] = [];
    for (let i = 0; i < RUNS; i++) machine.push(await machineLoss(platform, cluster));
    for (let i = 0; i < RUNS; i++) leader.push(await leaderLoss(platform, cluster));
    const rows = [
      { name: 'machine loss -> units active elsewhere', s: stats(machine), target: ttl + 2000 },
      { name: 'leader shoald killed -> new leader', s: stats(leader), target: ttl + 1000 },
    ];
    const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(`${'FAILOVER'.padEnd(40)} ${'RUNS'.padEnd(5)} ${'MEDIAN'.padEnd(9)} ${'MIN'.padEnd(9)} ${'MAX'.padEnd(9)} ${'TARGET'.padEnd(9)} OK`);
    for (const r of rows) {
      console.log(`${r.name.padEnd(40)} ${String(RUNS).padEnd(5)} ${sec(r.s.median).padEnd(9)} ${sec(r.s.min).padEnd(9)} `
        + `${sec(r.s.max).padEnd(9)} ${sec(r.target).padEnd(9)} ${r.s.median <= r.target ? 'yes' : 'NO'}`);
    }
    console.log(`raw ms: machine ${machine.join(' ')}; leader ${leader.join(' ')}`);
    return rows.every((r) => r.s.median <= r.target) ? 0 : 1;
  } finally {
    cluster.close();
    await platform.down();
  }
}

main().then((code) => process.exit(code), (err) => { console.error(`bench:failover: ${err.stack ?? err}`); process.exit(1); });
