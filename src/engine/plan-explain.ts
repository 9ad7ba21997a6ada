/** `explain(snapshot, unit)`: per machine, every filter's verdict and the score breakdown. Pure. */
import { FILTERS } from '../constraints/filters';
import { strategyScorers } from '../constraints/scorers';
import type { PlacementStrategy } from '../units/types';
import { runPlan } from './plan';
import { globalsOn } from '../constraints/globals';
import type { Snapshot } from './types';

/** One filter's verdict on one machine. */
export interface FilterVerdict {
  plugin: string;
  ok: boolean;
  reason?: string;
}

/** One scorer's contribution on one machine. */
export interface ScoreTerm {
  plugin: string;
  weight: number;
  score: number;
}

/** Everything about one machine for one unit. */
export interface MachineExplanation {
  machine: string;
  filters: FilterVerdict[];
  passes: boolean;
  /** Present only when every filter passes. */
  scores?: ScoreTerm[];
  total?: number;
  /** True for the machine the plan puts (or keeps) the unit on. */
  chosen: boolean;
}

/** Why a unit is (or is not) where the plan puts it. */
export interface Explanation {
  unit: string;
  status: 'placed' | 'unplaceable' | 'inactive' | 'global' | 'template' | 'unknown';
  strategy?: PlacementStrategy;
  /** Machine the plan puts it on. */
  machine?: string;
  /** The planner's summary (decision or unplaceable reason). */
  reason?: string;
  /** Machines sorted best first (passing ones by total score, then the rest), ties by id. */
  machines: MachineExplanation[];
}

/**
 * Runs the plan, then evaluates the unit (with its MachineOf group taken off) against the resulting state:
 * all filters on every machine (not only the first refusal), and each scorer's term where all pass.
 */
export function explain(snapshot: Snapshot, unitName: string): Explanation {
  const { state, result } = runPlan(snapshot);
  const u = state.unit(unitName);
  if (!u) return { unit: unitName, status: 'unknown', machines: [] };
  const decision = result.decisions.find((d) => d.unit === unitName);
  const unplaced = result.unplaceable.find((x) => x.unit === unitName);
  const where = state.placementOf(unitName);
  const status = u.template ? 'template' : u.global ? 'global' : u.desired === 'inactive' ? 'inactive' : where ? 'placed' : 'unplaceable';
  const group = u.group.map((n) => state.unit(n)!);
  const taken = group.filter((g) => state.remove(g) !== undefined).map((g) => [g, where] as const);
  state.coPlacing = new Set(u.group);
  const scorers = strategyScorers(u.strategy);
  const machines: MachineExplanation[] = state.machines.map((m) => {
    state.keeping = m.id === where; // a cordoned machine keeps what it runs
    const filters = FILTERS.map((f) => {
      const reason = f.filter(u, m, state);
      return reason === null ? { plugin: f.name, ok: true } : { plugin: f.name, ok: false, reason };
    });
    const passes = filters.every((f) => f.ok);
    const out: MachineExplanation = { machine: m.id, filters, passes, chosen: m.id === where };
    if (passes) {
      out.scores = scorers.map((s) => ({ plugin: s.plugin.name, weight: s.weight, score: s.plugin.score(u, m, state) }));
      out.total = out.scores.reduce((a, s) => a + s.weight * s.score, 0) / out.scores.reduce((a, s) => a + s.weight, 0);
    }
    return out;
  });
  // Put the state back as the plan left it.
  state.keeping = false;
  state.coPlacing = new Set();
  for (const [g, id] of taken) if (id) state.add(g, state.machine(id)!);
  machines.sort((a, b) => (a.passes !== b.passes ? (a.passes ? -1 : 1) : (b.total ?? 0) - (a.total ?? 0) || (a.machine < b.machine ? -1 : 1)));
  return { unit: unitName, status, strategy: u.strategy, machine: where, reason: decision?.reason ?? unplaced?.reason, machines };
}

/** Where a global unit runs, machine by machine (src/constraints/globals.ts's model), and where it is kept off. */
export interface GlobalPlacement {
  runs: string[];
  keptOff: { machine: string; reason: string }[];
}

/**
 * The machines the active global `name` runs on, given the non-global placements `schedule` (unit → machine
 * id; the snapshot's own by default): the same model the engine reserves with and the agent starts from.
 */
export function globalPlacement(snapshot: Snapshot, name: string, schedule: Readonly<Record<string, string>> = snapshot.schedule): GlobalPlacement {
  // The unit itself counts as active: for an inactive global this is where it would run.
  const active = snapshot.units.filter((u) => (u.desired !== 'inactive' || u.spec.name === name) && !u.spec.name.includes('@.'));
  const globals = active.filter((u) => u.spec.options.global).map((u) => u.spec);
  const out: GlobalPlacement = { runs: [], keptOff: [] };
  for (const m of [...snapshot.machines].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const assigned = active.filter((u) => !u.spec.options.global && schedule[u.spec.name] === m.id).map((u) => u.spec);
    const { runs, keptOff } = globalsOn(m.metadata, globals, assigned);
    if (runs.some((g) => g.name === name)) out.runs.push(m.id);
    const off = keptOff.find((k) => k.unit === name);
    if (off) out.keptOff.push({ machine: m.id, reason: off.reason });
  }
  return out;
}
