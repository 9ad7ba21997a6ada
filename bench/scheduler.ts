/**
 * Scheduler benchmark: 10,000 units (20% global, 20% Conflicts, 10% MachineOf, 20% MachineMetadata,
 * resource requests on half) onto 1,000 machines, deterministic seed. Prints placements/s for plans from
 * an empty schedule, and the time to re-plan after 10% of machines are removed. Each plan runs the repair
 * search (plan-repair.ts); its figures are printed, and a second workload (issue 10's amq master/slave
 * conflicts, one set per cell of 3 machines) shows its cost where greedy placement leaves units unplaced.
 * Run: npm run bench:scheduler [-- --strategy epvm|epvm,spread|all]   (env: UNITS, MACHINES, RUNS, STRATEGY)
 */
import { seededRandom as rng } from '../src/seeded-random';
import type { MachineSpec } from '../src/constraints/types';
import { plan, runPlan } from '../src/engine/plan';
import type { Snapshot, SnapshotUnit } from '../src/engine/types';
import type { PlacementStrategy, UnitSpec } from '../src/units/types';

/** Deterministic PRNG (mulberry32). */
const REGIONS = ['us-east', 'us-west', 'eu-west', 'ap-south'];
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Machines with region/disk metadata and capacities. */
export function makeMachines(n: number, rand: () => number): MachineSpec[] {
  const out: MachineSpec[] = [];
  for (let i = 0; i < n; i++) {
    const id = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
    out.push({
      id,
      metadata: { region: REGIONS[Math.floor(rand() * REGIONS.length)], disk: rand() < 0.5 ? 'ssd' : 'hdd' },
      capacity: { cpuMillis: 4000 * (1 + Math.floor(rand() * 4)), memoryBytes: (8 + Math.floor(rand() * 8) * 8) * GiB },
    });
  }
  return out;
}

function spec(name: string, o: Partial<UnitSpec['options']>, cpu = 0, mem = 0): UnitSpec {
  return {
    name, text: '', hash: name, file: { sections: [] },
    options: { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [], ...o },
    resources: { cpuMillis: cpu, memoryBytes: mem },
  };
}

/** The unit mix described in the file comment. */
export function makeUnits(n: number, rand: () => number): SnapshotUnit[] {
  const units: SnapshotUnit[] = [];
  const req = (): [number, number] => (rand() < 0.5 ? [100 + Math.floor(rand() * 5) * 100, (128 + Math.floor(rand() * 4) * 128) * MiB] : [0, 0]);
  const push = (s: UnitSpec) => units.push({ spec: s, desired: 'launched' });
  const nGlobal = Math.round(n * 0.2);
  const nConflict = Math.round(n * 0.2);
  const nPairs = Math.round(n * 0.1); // followers; each has its own target among the plain units
  const nMeta = Math.round(n * 0.2);
  for (let i = 0; i < nGlobal; i++) {
    const md: Record<string, string[]> = rand() < 0.3 ? { region: [REGIONS[i % 4]] } : {};
    push(spec(`node-agent-${i}.service`, { global: true, machineMetadata: md }));
  }
  for (let i = 0; i < nConflict; i++) {
    const g = Math.floor(i / 10); // groups of 10 instances that must not share a machine
    push(spec(`web${g}@${i % 10}.service`, { conflicts: [`web${g}@*.service`] }, ...req()));
  }
  for (let i = 0; i < nMeta; i++) {
    const md: Record<string, string[]> = rand() < 0.5 ? { region: [REGIONS[i % 4], REGIONS[(i + 1) % 4]] } : { disk: ['ssd'] };
    push(spec(`db-${i}.service`, { machineMetadata: md }, ...req()));
  }
  const nPlain = n - nGlobal - nConflict - nMeta - nPairs;
  for (let i = 0; i < nPlain; i++) push(spec(`app-${i}.service`, {}, ...req()));
  for (let i = 0; i < nPairs; i++) push(spec(`app-${i}-sidecar.service`, { machineOf: [`app-${i}.service`] }, ...req()));
  return units;
}

function time<T>(f: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const r = f();
  return [r, Number(process.hrtime.bigint() - t0) / 1e6];
}

/** Strategies to run: `--strategy epvm`, `--strategy epvm,spread` or `--strategy all` (else env STRATEGY, else least-loaded). */
function strategies(argv: readonly string[]): PlacementStrategy[] {
  const at = argv.findIndex((a) => a === '--strategy' || a.startsWith('--strategy='));
  const raw = at < 0 ? process.env.STRATEGY ?? 'least-loaded' : argv[at].includes('=') ? argv[at].split('=')[1] : argv[at + 1] ?? '';
  const list = raw === 'all' ? [...ALL] : raw.split(',').filter(Boolean);
  for (const s of list) if (!(ALL as readonly string[]).includes(s)) throw new Error(`--strategy: unknown strategy "${s}" (one of ${ALL.join(', ')}, all)`);
  if (list.length === 0) throw new Error(`--strategy: give one of ${ALL.join(', ')}, all`);
  return list as PlacementStrategy[];
}

const ALL = ['least-loaded', 'spread', 'binpack', 'epvm'] as const;

/** Plans from an empty schedule `runs` times, then the two re-plans; returns the median placements/s. */
function benchStrategy(strategy: PlacementStrategy, machines: MachineSpec[], units: SnapshotUnit[], runs: number): number {
  const snap: Snapshot = { units, machines, schedule: {}, strategy };
  console.log(`strategy ${strategy}:`);
  const times: number[] = [];
  let last = plan(snap);
  for (let i = 0; i < runs; i++) {
    const [run, ms] = time(() => runPlan(snap));
    const r = run.result;
    times.push(ms);
    last = r;
    const placed = r.decisions.filter((d) => d.kind === 'place').length;
    const rep = run.repair;
    console.log(`  run ${i + 1}: plan ${ms.toFixed(1)} ms, ${placed} placed, ${r.unplaceable.length} unplaceable, ${Math.round(placed / (ms / 1000))} placements/s; repair placed ${rep.placed}, moved ${rep.moved}, ${rep.steps} steps`);
  }
  const placed = last.decisions.filter((d) => d.kind === 'place').length;
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const rate = Math.round(placed / (median / 1000));
  console.log(`  empty schedule: median plan ${median.toFixed(1)} ms → ${rate} placements/s (best ${Math.round(placed / (sorted[0] / 1000))}); unplaceable ${last.unplaceable.length}`);

  const schedule: Record<string, string> = {};
  for (const d of last.decisions) if (d.kind === 'place') schedule[d.unit] = d.machine;
  const [stable, stableMs] = time(() => plan({ ...snap, schedule }));
  console.log(`  re-plan, nothing changed: ${stableMs.toFixed(1)} ms, ${stable.decisions.length} decisions`);
  const keep = machines.filter((_, i) => i % 10 !== 0);
  const [re, reMs] = time(() => plan({ ...snap, machines: keep, schedule }));
  const moved = re.decisions.filter((d) => d.kind === 'move').length;
  const unsched = re.decisions.filter((d) => d.kind === 'unschedule').length;
  console.log(`  re-plan after removing ${machines.length - keep.length} machines: ${reMs.toFixed(1)} ms, ${moved} moved, ${unsched} unscheduled, ${re.unplaceable.length} unplaceable`);
  return rate;
}

/**
 * Issue 10's amq example at scale: machines in cells of 3 (metadata cell=N); per cell amq-master@N-1..3 and
 * amq-slave1@N-1..3 with the issue's Conflicts, pinned to the cell. Greedy placement leaves one slave per
 * cell unplaced; the repair search finds the complete placement. Prints both.
 */
function benchRepair(cells: number): void {
  const machines: MachineSpec[] = [];
  const units: SnapshotUnit[] = [];
  for (let c = 0; c < cells; c++) {
    for (let j = 0; j < 3; j++) machines.push({ id: `c${c}-m${j}`, metadata: { cell: `${c}` }, capacity: { cpuMillis: 0, memoryBytes: 0 } });
    const md = { cell: [`${c}`] };
    for (let i = 1; i <= 3; i++) {
      units.push({ spec: spec(`amq-master@${c}-${i}.service`, { machineMetadata: md, conflicts: [`amq-master@${c}-*.service`, `amq-slave1@${c}-${i}.service`] }), desired: 'launched' });
      units.push({ spec: spec(`amq-slave1@${c}-${i}.service`, { machineMetadata: md, conflicts: [`amq-slave1@${c}-*.service`, `amq-master@${c}-${i}.service`] }), desired: 'launched' });
    }
  }
  const snap: Snapshot = { units, machines, schedule: {} };
  const [greedy, gMs] = time(() => plan(snap, { repair: false }));
  const [run, ms] = time(() => runPlan(snap));
  const placed = run.result.decisions.filter((d) => d.kind === 'place').length;
  console.log(`repair workload: ${units.length} amq units in ${cells} cells of 3 machines`);
  console.log(`  greedy only: ${gMs.toFixed(1)} ms, ${greedy.unplaceable.length} unplaceable`);
  console.log(`  with repair: ${ms.toFixed(1)} ms, ${placed} placed, ${run.result.unplaceable.length} unplaceable; repair placed ${run.repair.placed}, moved ${run.repair.moved}, ${run.repair.steps} steps (budget per plan)`);
}

function main(): void {
  const nUnits = Number(process.env.UNITS ?? 10000);
  const nMachines = Number(process.env.MACHINES ?? 1000);
  const runs = Number(process.env.RUNS ?? 5);
  const which = strategies(process.argv.slice(2));
  const rand = rng(42);
  const machines = makeMachines(nMachines, rand);
  const units = makeUnits(nUnits, rand);
  const nonGlobal = units.filter((u) => !u.spec.options.global).length;
  console.log(`scheduler bench: ${units.length} units (${nonGlobal} non-global) on ${machines.length} machines, node ${process.version}`);
  const rates = which.map((s) => [s, benchStrategy(s, machines, units, runs)] as const);
  for (const [s, rate] of rates) console.log(`${s}: ${rate} placements/s (median of ${runs}, empty schedule)`);
  benchRepair(Number(process.env.CELLS ?? 100));
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

if (require.main === module) main();
