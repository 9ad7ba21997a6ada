/**
 * Runs scenarios on one platform, one after another on one cluster: before each, bring every base
 * node back, clear faults, destroy all scenario units and submit the base set afresh, then wait
 * until it settles. Each scenario's outcome becomes a row of the table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { evaluate } from './checks';
import { Cluster, ScenarioFailure, type Settled } from './cluster';
import type { Platform } from './platform';
import type { Scenario, ScenarioContext } from './scenario';
import { baseUnits, UNIT_PREFIX } from './units';

/** One row of the result table. */
export interface ScenarioResult {
  name: string;
  passed: boolean;
  recoveryMs: number | null;
  lost: number;
  doubled: number;
  /** Why it failed (first line of the failure). */
  error?: string;
  /** Why the platform cannot inject the fault: the scenario did not run (n/a in the table, never a pass). */
  notInjectable?: string;
  notes: string[];
}

/** Options of runScenarios. */
export interface RunOptions {
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** Puts the cluster back in its base state; returns the settled base observation. */
export async function prepare(platform: Platform, cluster: Cluster, log: (l: string) => void): Promise<Settled> {
  await resetCluster(platform, cluster, log);
  const units = baseUnits();
  await cluster.submit(units);
  const s = await cluster.waitSettled(units, platform.nodes, 30_000);
  if (!s.verdict.settled) throw new ScenarioFailure(`base state did not settle: ${s.verdict.problems.slice(0, 6).join('; ')}`);
  log(`  base state settled in ${s.ms} ms`);
  return s;
}

/**
 * Every base node up and reachable, no fault left (etcd, shoald resumed; thawed; healed), the
 * spare node off and forgotten, and no scenario unit left in the registry or on any node.
 */
export async function resetCluster(platform: Platform, cluster: Cluster, log: (l: string) => void): Promise<void> {
  await platform.resumeEtcd().catch(() => undefined);
  const spare = platform.spare;
  if (spare && (await platform.isRunning(spare))) await platform.poweroffNode(spare);
  if (spare) { await platform.forgetNode(spare); cluster.forget(spare); }
  for (const n of platform.nodes) {
    if (!(await platform.isRunning(n))) { log(`  prepare: starting ${n}`); await platform.startNode(n); continue; }
    await platform.thawNode(n).catch(() => undefined);
    await platform.healNode(n).catch(() => undefined);
    await platform.resumeShoald(n).catch(() => undefined);
  }
  const removed = await cluster.destroyAll();
  if (removed) {
    // the engine unschedules, the agents stop and unload: wait until no scenario unit is left anywhere
    await cluster.waitFor('scenario units gone from every node', 30_000, async () => {
      const obs = await cluster.observe(platform.nodes, []);
      const left = obs.nodes.flatMap((n) => [...n.units].filter(([u, s]) => u.startsWith(UNIT_PREFIX)
        && (s.active === 'active' || s.load === 'loaded')).map(([u]) => `${u}@${n.node}`));
      const sched = [...obs.schedule.keys()].filter((u) => u.startsWith(UNIT_PREFIX));
      return left.length === 0 && sched.length === 0 ? true : undefined;
    });
  }
}

/** Runs one scenario on a prepared cluster; never throws (a failure is a row). */
async function runOne(sc: Scenario, platform: Platform, cluster: Cluster, log: (l: string) => void): Promise<ScenarioResult> {
  const notes: string[] = [];
  const row: ScenarioResult = { name: sc.name, passed: false, recoveryMs: null, lost: 0, doubled: 0, notes };
  const cannot = sc.cannot?.(platform);
  if (cannot) {
    row.notInjectable = cannot;
    return row;
  }
  try {
    if (sc.spare && !platform.spare) throw new ScenarioFailure(`needs a spare node; platform ${platform.name} has none`);
    const base = await prepare(platform, cluster, log);
    const ctx: ScenarioContext = {
      cluster, platform, units: baseUnits(), base, ttlMs: platform.ttlSeconds * 1000,
      note: (m) => { notes.push(m); log(`  ${m}`); },
    };
    const out = await sc.run(ctx);
    Object.assign(row, { passed: out.verdict.settled, recoveryMs: out.recoveryMs, lost: out.verdict.lost.length, doubled: out.verdict.doubled.length });
    if (!out.verdict.settled) row.error = out.verdict.problems.join('; ');
  } catch (err) {
    row.error = (err as Error).message;
    const v = err instanceof ScenarioFailure ? err.verdict : undefined;
    if (v) { row.lost = v.lost.length; row.doubled = v.doubled.length; } else await countNow(platform, cluster, row);
  }
  return row;
}

/** Fills lost/doubled from a fresh observation of the running base nodes (after a failure). */
async function countNow(platform: Platform, cluster: Cluster, row: ScenarioResult): Promise<void> {
  try {
    const up = [];
    for (const n of platform.nodes) if (await platform.isRunning(n)) up.push(n);
    const units = baseUnits();
    const v = evaluate(units, await cluster.observe(up, units), UNIT_PREFIX);
    row.lost = v.lost.length;
    row.doubled = v.doubled.length;
  } catch { /* the cluster cannot be observed: leave the counts at 0, the error says why */ }
}

/** Runs `scenarios` in order on `platform` (which must be up); resolves with one row per scenario. */
export async function runScenarios(platform: Platform, scenarios: Scenario[], opts: RunOptions = {}): Promise<ScenarioResult[]> {
  const log = opts.log ?? (() => undefined);
  const cluster = new Cluster(platform, (m) => log(`  ${m}`));
  const rows: ScenarioResult[] = [];
  try {
    for (const sc of scenarios) {
      log(`scenario ${sc.name}: ${sc.title}`);
      const t0 = Date.now();
      const row = await runOne(sc, platform, cluster, log);
      const result = row.passed ? 'PASS' : row.notInjectable ? `n/a: ${row.notInjectable}` : `FAIL: ${row.error}`;
      log(`scenario ${sc.name}: ${result} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      if (!row.passed && !row.notInjectable) await keepLogs(platform, sc.name, t0, log);
      rows.push(row);
    }
  } finally {
    cluster.close();
  }
  return rows;
}

/** Where a failed scenario's shoald journals are kept (the testbed's nodes, and their journals, go with it). */
export const SCENARIO_LOG_DIR = resolve(process.env.SHOAL_SCENARIO_LOGS ?? 'testbed/logs') // relative to the repo, where npm and tap run;

/**
 * Saves every running node's shoald journal (with times) after a failed scenario, and prints its lines
 * from the scenario's run about registration, leadership and etcd: a flake seen once in CI is read later.
 */
async function keepLogs(platform: Platform, name: string, since: number, log: (l: string) => void): Promise<void> {
  const KEY = /regist|lease|etcd|absent|elected|leadership|grace|unplace|moved|refused/i;
  for (const node of platform.nodes) {
    try {
      if (!(await platform.isRunning(node))) continue;
      const text = await platform.shoaldLog(node, { timestamps: true });
      mkdirSync(SCENARIO_LOG_DIR, { recursive: true });
      const file = join(SCENARIO_LOG_DIR, `scenario-${name}-${node}.log`);
      writeFileSync(file, text);
      const from = new Date(since).toTimeString().slice(0, 8); // journal times are local HH:MM:SS
      const lines = text.split('\n').filter((l) => KEY.test(l) && (l.split(' ')[2] ?? '') >= from);
      log(`  ${node}'s shoald journal: ${file}; its key lines since the scenario began:`);
      for (const l of lines.slice(-30)) log(`    ${l}`);
    } catch (err) {
      log(`  cannot keep ${node}'s shoald journal: ${(err as Error).message}`);
    }
  }
}

/** The result table: scenario, pass/fail, recovery time, units lost, units doubled. */
export function formatTable(rows: ScenarioResult[]): string {
  const head = ['SCENARIO', 'RESULT', 'RECOVERY', 'LOST', 'DOUBLED'];
  const body = rows.map((r) => [
    r.name, r.passed ? 'pass' : r.notInjectable ? 'n/a' : 'FAIL', r.recoveryMs === null ? '-' : `${(r.recoveryMs / 1000).toFixed(2)} s`, String(r.lost), String(r.doubled),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(head), ...body.map(line)];
  for (const r of rows) if (!r.passed) out.push(r.notInjectable ? `${r.name}: not injectable here: ${r.notInjectable}` : `${r.name}: ${r.error}`);
  return out.join('\n');
}
