/** Input and output of the scheduler core (`plan`). Pure data. */
import type { MachineSpec } from '../constraints/types';
import type { PlacementStrategy, TargetState, UnitSpec } from '../units/types';

/** A unit with the state the user wants it in. */
export interface SnapshotUnit {
  spec: UnitSpec;
  desired: TargetState;
}

/** Everything `plan` needs, read at one point in time. */
export interface Snapshot {
  units: SnapshotUnit[];
  /** Live machines only (their lease is alive). */
  machines: MachineSpec[];
  /** Current placements of non-global units: unit name → machine id (may name a dead machine). */
  schedule: Record<string, string>;
  /** The cluster's default placement strategy. */
  strategy?: PlacementStrategy;
  /** Units a drain moves off their (cordoned) machine now, with their MachineOf groups (src/drain/). */
  evict?: readonly string[];
}

/** Why one machine was refused for one unit. */
export interface Rejection {
  machine: string;
  /** The filter plugin that refused, e.g. `conflicts`. */
  plugin: string;
  reason: string;
}

/** One change to the schedule. Applied in order. */
export type Decision =
  | { kind: 'place'; unit: string; machine: string; reason: string }
  | { kind: 'unschedule'; unit: string; from: string; reason: string }
  | { kind: 'move'; unit: string; from: string; to: string; reason: string };

/** What `plan` returns: the decisions, and the units it could not place with the reasons why. */
export interface PlanResult {
  decisions: Decision[];
  /** `reason` (optional, added by the planner) summarises why, e.g. a blocked MachineOf or the refusing plugins. */
  unplaceable: { unit: string; rejections: Rejection[]; reason?: string }[];
}
