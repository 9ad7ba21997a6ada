/** The scorer plugins (0 = worst, 100 = best) and the strategies that weigh them. Pure. */
import type { PlacementStrategy } from '../units/types';
import type { ClusterView, MachineView, ScorePlugin, SchedUnit, WeightedScorer } from './view';

/** Units on the machine (placed + global), squashed into 0..1 relative to the cluster's typical count. */
export function countLoad(machine: MachineView, view: ClusterView, extra = 0): number {
  const c = machine.units.size + machine.globalCount + extra;
  return c / (c + view.countScale);
}

/** Fraction of a resource in use; undefined when capacity is unknown (0). */
function util(reserved: number, capacity: number): number | undefined {
  return capacity > 0 ? Math.min(1, reserved / capacity) : undefined;
}

/** Mean of the unit-count load and the known resource utilisations. */
function meanLoad(machine: MachineView, view: ClusterView): number {
  let sum = countLoad(machine, view);
  let n = 1;
  const cpu = util(machine.reservedCpu, machine.spec.capacity.cpuMillis);
  const mem = util(machine.reservedMem, machine.spec.capacity.memoryBytes);
  if (cpu !== undefined) { sum += cpu; n++; }
  if (mem !== undefined) { sum += mem; n++; }
  return sum / n;
}

/** Prefer machines with fewer units and less reserved CPU/memory (fleet's default). */
export const leastLoadedScorer: ScorePlugin = {
  name: 'least-loaded',
  unitIndependent: true,
  score: (_unit, machine, view) => 100 * (1 - meanLoad(machine, view)),
};

/**
 * Prefer machines whose agents measure the least real use (CPU busy, memory in use), with the unit count and
 * reservations of least-loaded so units placed in one pass still spread. A machine without a report counts by
 * its reservations only. (Nomad and Kubernetes score by reservations; real use is the Build-an-Orchestrator
 * design's "worker statistics".)
 */
export const realLoadScorer: ScorePlugin = {
  name: 'real-load',
  unitIndependent: true,
  score: (_unit, machine, view) => {
    const l = machine.spec.load;
    if (!l) return 100 * (1 - meanLoad(machine, view));
    // real use weighs as much as the count and reservations together
    const real = (Math.min(1, l.cpu) + Math.min(1, l.mem)) / 2;
    return 100 * (1 - (meanLoad(machine, view) + real) / 2);
  },
};

/** Prefer the most-used machines that still pass the filters, to keep others empty. */
export const binpackScorer: ScorePlugin = {
  name: 'binpack',
  unitIndependent: true,
  score: (_unit, machine, view) => 100 * meanLoad(machine, view),
};

/** Prefer machines with fewer units of the same prefix/template (web@1, web@2 … apart). */
export const spreadScorer: ScorePlugin = {
  name: 'spread',
  unitIndependent: false,
  score: (unit, machine) => 100 / (1 + (machine.prefixCounts.get(unit.prefix) ?? 0)),
};

/** epvm's unit-independent powers for one machine state (n^u before, and n^u of the count after one more unit). */
interface EpvmPowers {
  base: number; count: number; scale: number; cpu: number; mem: number; capCpu: number; capMem: number;
  count1: number; count0: number; cpu0: number; mem0: number;
}

// Memo per machine, valid while its inputs are unchanged: every per-key order re-scores a changed machine,
// so the powers that do not depend on the unit are computed once per machine state instead of once per key.
const epvmPowers = new WeakMap<MachineView, EpvmPowers>();

function powersOf(machine: MachineView, view: ClusterView, base: number): EpvmPowers {
  const p = epvmPowers.get(machine);
  const count = machine.units.size + machine.globalCount;
  const { cpuMillis: capCpu, memoryBytes: capMem } = machine.spec.capacity;
  if (p && p.base === base && p.count === count && p.scale === view.countScale && p.cpu === machine.reservedCpu &&
    p.mem === machine.reservedMem && p.capCpu === capCpu && p.capMem === capMem) return p;
  const next: EpvmPowers = {
    base, count, scale: view.countScale, cpu: machine.reservedCpu, mem: machine.reservedMem, capCpu, capMem,
    count1: base ** countLoad(machine, view, 1), count0: base ** countLoad(machine, view),
    cpu0: capCpu > 0 ? base ** Math.min(1, machine.reservedCpu / capCpu) : 0,
    mem0: capMem > 0 ? base ** Math.min(1, machine.reservedMem / capMem) : 0,
  };
  epvmPowers.set(machine, next);
  return next;
}

/**
 * Enhanced PVM (Amir et al., "An Opportunity Cost Approach for Job Assignment", 2000): a machine costs
 * Σ_r n^(u_r) with n the number of machines and u_r the utilisation of resource r; choose the lowest
 * marginal cost of adding the unit. Resources: CPU and memory when capacity is known, and the unit count.
 * Units with the same cpu/memory request score identically (key), so the planner keeps one order per request.
 */
export const epvmScorer: ScorePlugin = {
  name: 'epvm',
  unitIndependent: false,
  key: (unit) => `${unit.cpu}/${unit.mem}`,
  score(unit, machine, view) {
    const base = Math.max(2, view.machines.length);
    const p = powersOf(machine, view, base);
    let marginal = p.count1 - p.count0;
    let k = 1;
    const cap = machine.spec.capacity;
    if (cap.cpuMillis > 0) {
      // A zero request leaves utilisation as it is: the same power, without computing it again.
      marginal += (unit.cpu === 0 ? p.cpu0 : base ** Math.min(1, (machine.reservedCpu + unit.cpu) / cap.cpuMillis)) - p.cpu0;
      k++;
    }
    if (cap.memoryBytes > 0) {
      marginal += (unit.mem === 0 ? p.mem0 : base ** Math.min(1, (machine.reservedMem + unit.mem) / cap.memoryBytes)) - p.mem0;
      k++;
    }
    return 100 * (1 - marginal / (k * (base - 1)));
  },
};

/** Every scorer by name. */
export const SCORERS: Record<string, ScorePlugin> = {
  'least-loaded': leastLoadedScorer, binpack: binpackScorer, spread: spreadScorer, epvm: epvmScorer, 'real-load': realLoadScorer,
};

const STRATEGIES: Record<PlacementStrategy, readonly WeightedScorer[]> = {
  'least-loaded': [{ plugin: leastLoadedScorer, weight: 1 }],
  // Spread first; load breaks ties between machines with equally few siblings.
  spread: [{ plugin: spreadScorer, weight: 3 }, { plugin: leastLoadedScorer, weight: 1 }],
  binpack: [{ plugin: binpackScorer, weight: 1 }],
  epvm: [{ plugin: epvmScorer, weight: 1 }],
  'real-load': [{ plugin: realLoadScorer, weight: 1 }],
};

/** The weighted scorers of a strategy. */
export function strategyScorers(strategy: PlacementStrategy): readonly WeightedScorer[] {
  return STRATEGIES[strategy];
}

/** True when the strategy's score depends only on machine state (machines can be kept in score order). */
export function isUnitIndependent(strategy: PlacementStrategy): boolean {
  return STRATEGIES[strategy].every((s) => s.plugin.unitIndependent);
}

/**
 * Units with the same strategy key score identically on every machine (see ScorePlugin.key); undefined
 * when some scorer depends on the unit in a way no key captures. '' for unit-independent strategies.
 */
export function strategyKey(strategy: PlacementStrategy, unit: SchedUnit): string | undefined {
  let key = '';
  for (const s of STRATEGIES[strategy]) {
    if (s.plugin.unitIndependent) continue;
    if (!s.plugin.key) return undefined;
    key += `${s.plugin.name}=${s.plugin.key(unit)};`;
  }
  return key;
}

/** How a mixed strategy splits: its unit-independent scorers (as a strategy of their own) and the weights. */
export interface StrategySplit {
  /** The strategy made of the unit-independent scorers, which can keep machines in order. */
  by: PlacementStrategy;
  /** Total weight of the unit-dependent scorers (each scores at most 100). */
  depWeight: number;
  indWeight: number;
}

/** For `spread`: least-loaded orders machines, spread's term is bounded by 100 (branch and bound). */
export function strategySplit(strategy: PlacementStrategy): StrategySplit | undefined {
  return strategy === 'spread' ? { by: 'least-loaded', depWeight: 3, indWeight: 1 } : undefined;
}

/** The weighted mean score 0..100 of a unit on a machine under its strategy. */
export function totalScore(scorers: readonly WeightedScorer[], unit: SchedUnit, machine: MachineView, view: ClusterView): number {
  let sum = 0;
  let weights = 0;
  for (const s of scorers) {
    sum += s.weight * s.plugin.score(unit, machine, view);
    weights += s.weight;
  }
  return weights === 0 ? 0 : sum / weights;
}
