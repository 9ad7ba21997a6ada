/** What a scenario is, what it gets to work with, and small helpers the scenarios share. */
import type { Observation, Verdict } from './checks';
import type { Cluster, Settled } from './cluster';
import type { Platform } from './platform';
import type { ScenarioUnit } from './units';

/** Everything a scenario works with; the cluster is in its base state when `run` starts. */
export interface ScenarioContext {
  cluster: Cluster;
  platform: Platform;
  /** The units submitted and settled before the scenario started. */
  units: ScenarioUnit[];
  /** The settled observation of the base state. */
  base: Settled;
  /** The lease TTL in ms. */
  ttlMs: number;
  /** Records a line for the report (shown under the table). */
  note(msg: string): void;
}

/** What a passing scenario returns (a failing one throws a ScenarioFailure). */
export interface ScenarioOutcome {
  /** Fault to recovered, in ms (null when the scenario has no single recovery to time). */
  recoveryMs: number | null;
  /** The final settled verdict (lost and doubled counts for the table). */
  verdict: Verdict;
}

/** One failure scenario. */
export interface Scenario {
  name: string;
  title: string;
  /** Needs the platform's spare node. */
  spare?: boolean;
  /** Why the platform cannot inject this scenario's fault (null: it can); the table then says n/a. */
  cannot?(platform: Platform): string | null;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

/** The base node that runs the most non-global units (ties: first by name), optionally one running `unit`. */
export function busiestNode(obs: Observation, units: ScenarioUnit[], unit?: string): string {
  const nonGlobal = new Set(units.filter((u) => !u.global).map((u) => u.name));
  let best = obs.nodes[0].node;
  let bestCount = -1;
  for (const n of obs.nodes) {
    if (unit && n.units.get(unit)?.active !== 'active') continue;
    const count = [...n.units].filter(([name, s]) => nonGlobal.has(name) && s.active === 'active').length;
    if (count > bestCount) { best = n.node; bestCount = count; }
  }
  return best;
}

/** The non-global units active on `node` in `obs`. */
export function unitsOn(obs: Observation, units: ScenarioUnit[], node: string): string[] {
  const view = obs.nodes.find((n) => n.node === node);
  return units.filter((u) => !u.global && view?.units.get(u.name)?.active === 'active').map((u) => u.name);
}

/** `nodes` without `node`. */
export function without(nodes: string[], node: string): string[] {
  return nodes.filter((n) => n !== node);
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
