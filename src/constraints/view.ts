/**
 * What placement plugins see: a unit compiled for scheduling, a machine with its running counters,
 * and a read-only view of the working cluster state. The engine's planner implements ClusterView.
 */
import type { MachineSpec } from './types';
import type { PlacementStrategy, TargetState, UnitSpec } from '../units/types';

/** A unit prepared for scheduling: options resolved against the whole unit set once. */
export interface SchedUnit {
  name: string;
  spec: UnitSpec;
  desired: TargetState;
  /** Name before `@` (or before the type suffix): units sharing it are spread by `spread`. */
  prefix: string;
  global: boolean;
  /** `foo@.service`: never placed. */
  template: boolean;
  cpu: number;
  mem: number;
  /** Disk= request, bytes (0: none). */
  disk: number;
  /** Non-global active units this one may not share a machine with (both glob directions, never itself). */
  conflictUnits: ReadonlySet<string>;
  /** Active global units in conflict with this one. */
  conflictGlobals: readonly string[];
  /** Units this one displaces (effective Replaces: in a cycle of two, the smaller name wins). */
  replaces: ReadonlySet<string>;
  /** Units that displace this one. */
  replacedBy: readonly string[];
  /** MachineOf targets (names as written). */
  machineOf: readonly string[];
  /** The MachineOf co-placement group (sorted, includes this unit); id = its first name. */
  group: readonly string[];
  /** Why this unit can never be placed (a MachineOf target is inactive/unknown), or undefined. */
  blocked?: string;
  /** The strategy that ranks machines for it. */
  strategy: PlacementStrategy;
}

/** A machine in the working state. Counters include active global units that run there. */
export interface MachineView {
  spec: MachineSpec;
  id: string;
  /** Position in the snapshot's machine list sorted by id. */
  index: number;
  /** Non-global units placed here. */
  units: Set<string>;
  /** Active global units that run here. */
  globalCount: number;
  reservedCpu: number;
  reservedMem: number;
  reservedDisk: number;
  /** prefix → number of non-global units of that prefix placed here (globals run everywhere they match, so they do not spread). */
  prefixCounts: Map<string, number>;
}

/** Read-only working state as plugins see it. */
export interface ClusterView {
  /** All live machines, sorted by id. */
  readonly machines: readonly MachineView[];
  /** The live machine with this id, or undefined when it is gone. */
  machine(id: string): MachineView | undefined;
  /** The compiled unit, or undefined when no such unit is known. */
  unit(name: string): SchedUnit | undefined;
  /** Machine id a non-global unit is placed on in the working state, or undefined. */
  placementOf(unit: string): string | undefined;
  /** True when the active global unit `name` runs on `machine` (its metadata matches). */
  globalRunsOn(name: string, machine: MachineView): boolean;
  /** Units being placed together right now (a MachineOf group); empty otherwise. */
  readonly coPlacing: ReadonlySet<string>;
  /** True while the planner re-checks units where they already are (a cordoned machine keeps those). */
  readonly keeping?: boolean;
  /** True when `unit` may still be displaced by a Replaces (each group at most once per plan). */
  canDisplace(unit: string): boolean;
  /** Typical units per machine: scales the unit-count term of scorers. */
  readonly countScale: number;
}

/** A filter: may this machine run this unit? */
export interface FilterPlugin {
  name: string;
  /** null when the machine passes; otherwise the reason it is refused. */
  filter(unit: SchedUnit, machine: MachineView, view: ClusterView): string | null;
  /** Optional narrowing: the only machines that can pass (undefined = no narrowing). Must agree with filter(). */
  candidates?(unit: SchedUnit, view: ClusterView): readonly MachineView[] | undefined;
}

/** A scorer: how good is this machine for this unit, 0 (worst) to 100 (best)? */
export interface ScorePlugin {
  name: string;
  /** True when the score depends only on the machine's state, not on the unit (enables an ordered index). */
  unitIndependent: boolean;
  /**
   * Optional: units with equal keys get bit-identical scores on every machine, so the planner may keep
   * machines in score order per key (e.g. epvm depends only on the unit's cpu and memory request).
   */
  key?(unit: SchedUnit): string;
  score(unit: SchedUnit, machine: MachineView, view: ClusterView): number;
}

/** A scorer with its weight inside a strategy. */
export interface WeightedScorer {
  plugin: ScorePlugin;
  weight: number;
}
