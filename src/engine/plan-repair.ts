/**
 * Repair search: the greedy pass may leave a group unplaced although a complete placement exists (fleet,
 * Kubernetes and Nomad are greedy too; issue 10's amq-master/slave example). For each group left (partly)
 * unplaced, a depth-first search re-places it together with the groups around it that are not yet running
 * (placed in this plan, never where the schedule had them): a unit that runs never moves for it. A group
 * with members that run (a new sidekick of a running unit) is completed only on their machine.
 *
 * Bounded and deterministic: at most REPAIR_GROUPS groups per search, REPAIR_BUDGET filter evaluations per
 * plan (a count, not a clock), machines tried in a fixed order (a moved group's own machine first, then by
 * id). Groups touched by Replaces are left alone (displacement is not undone by a search).
 */
import { machineIdFilter, metadataFilter } from '../constraints/filters';
import type { MachineView, SchedUnit } from '../constraints/view';
import { addWith, type Ctx } from './plan';
import { isActive } from './plan-units';
import { groupRejection } from './plan-select';

/** What one plan's repair search did. */
export interface RepairStats {
  /** Units placed by the search that the greedy pass had left unplaced. */
  placed: number;
  /** Units (not yet running) the search moved to make room. */
  moved: number;
  /** Filter evaluations spent (≤ REPAIR_BUDGET). */
  steps: number;
}

/** Filter evaluations one plan may spend on repair. */
export const REPAIR_BUDGET = 20_000;
/** Groups re-placed together in one search (the unplaced one and its neighbours). */
export const REPAIR_GROUPS = 8;

class OutOfBudget extends Error {}

/** Runs the search for every group left unplaced, by group id; updates ctx (placements, notes). */
export function repairPlan(ctx: Ctx, schedule: Readonly<Record<string, string>>): RepairStats {
  const stats: RepairStats = { placed: 0, moved: 0, steps: 0 };
  const { state } = ctx;
  const todo = new Map<string, SchedUnit[]>();
  for (const u of state.units.values()) {
    if (!isActive(u) || u.global || u.blocked || state.placementOf(u.name) !== undefined || todo.has(u.group[0])) continue;
    todo.set(u.group[0], u.group.map((n) => state.unit(n)!));
  }
  for (const id of [...todo.keys()].sort()) {
    if (stats.steps >= REPAIR_BUDGET) break;
    const group = todo.get(id)!;
    // Members that run stay where they run: the rest of the group may only join them there.
    const running = group.filter((u) => { const at = state.placementOf(u.name); return at !== undefined && schedule[u.name] === at; });
    const pinned = state.machine(running.length ? state.placementOf(running[0].name)! : '');
    if (running.some((u) => state.placementOf(u.name) !== pinned?.id)) continue;
    if (!movable(ctx, group.filter((u) => !running.includes(u)), schedule, true) || running.some((u) => u.replaces.size > 0 || u.replacedBy.length > 0)) continue;
    try {
      repairGroup(ctx, group, schedule, stats, pinned);
    } catch (e) {
      if (!(e instanceof OutOfBudget)) throw e;
      break;
    }
  }
  return stats;
}

// A group the search may re-place: no Replaces involved; placed members (if any) are not running there.
function movable(ctx: Ctx, group: readonly SchedUnit[], schedule: Readonly<Record<string, string>>, partial = false): boolean {
  for (const u of group) {
    if (u.replaces.size > 0 || u.replacedBy.length > 0 || u.blocked) return false;
    const at = ctx.state.placementOf(u.name);
    if (at === undefined ? !partial : schedule[u.name] === at) return false;
  }
  return true;
}

interface Item {
  group: SchedUnit[];
  names: string[];
  /** Where each member was before the search (undefined: unplaced). */
  was: (MachineView | undefined)[];
  /** Machines passing the static filters, the group's own machine first, then by id. */
  candidates: MachineView[];
}

/** `pinned`: the machine where members of `group` run; only the others are re-placed, and only there. */
function repairGroup(ctx: Ctx, group: SchedUnit[], schedule: Readonly<Record<string, string>>, stats: RepairStats, pinned?: MachineView): void {
  const { state } = ctx;
  const spend = (n: number) => {
    stats.steps += n;
    if (stats.steps > REPAIR_BUDGET) throw new OutOfBudget();
  };
  const items: Item[] = [];
  const seen = new Set<string>();
  const addItem = (g: SchedUnit[], only?: MachineView) => {
    seen.add(g[0].group[0]);
    const free = only ? g.filter((u) => !(state.placementOf(u.name) === only.id && schedule[u.name] === only.id)) : g;
    const was = free.map((u) => state.machine(state.placementOf(u.name) ?? ''));
    const home = was.find((m) => m !== undefined);
    let candidates = staticCandidates(ctx, free, spend);
    if (only) candidates = candidates.filter((m) => m === only);
    if (home && candidates.includes(home)) candidates.splice(candidates.indexOf(home), 1), candidates.unshift(home);
    items.push({ group: free, names: g.map((u) => u.name), was, candidates });
  };
  addItem(group, pinned);
  if (items[0].candidates.length === 0) return;
  // Breadth-first neighbourhood: movable groups in conflict with an item, then movable groups sharing an item's machines.
  for (let i = 0; i < items.length && items.length < REPAIR_GROUPS; i++) {
    const near: string[] = [];
    for (const u of items[i].group) for (const c of u.conflictUnits) near.push(c);
    for (const m of items[i].candidates) {
      spend(1);
      for (const n of m.units) near.push(n);
    }
    for (const n of [...new Set(near)].sort()) {
      if (items.length >= REPAIR_GROUPS) break;
      const u = state.unit(n)!;
      if (seen.has(u.group[0]) || state.placementOf(n) === undefined) continue;
      const g = u.group.map((x) => state.unit(x)!);
      if (!movable(ctx, g, schedule)) { seen.add(u.group[0]); continue; }
      addItem(g);
    }
  }
  for (const it of items) for (const u of it.group) state.remove(u);
  const chosen: (MachineView | undefined)[] = new Array(items.length);
  let ok = false;
  try {
    ok = search(ctx, items, 0, chosen, spend);
  } finally {
    if (!ok) {
      for (let i = 0; i < items.length; i++) if (chosen[i]) for (const u of items[i].group) state.remove(u);
      for (const it of items) it.group.forEach((u, j) => { if (it.was[j]) state.add(u, it.was[j]!); });
    }
  }
  if (!ok) return;
  const lead = (items[0].group.find((_, j) => items[0].was[j] === undefined) ?? group[0]).name;
  items.forEach((it, i) => {
    const m = chosen[i]!;
    it.group.forEach((u, j) => {
      state.remove(u);
      if (it.was[j] === undefined) {
        stats.placed++;
        addWith(ctx, u, m, `placed by the repair search on ${m.id} (greedy placement left it unplaced)`);
      } else if (it.was[j] !== m) {
        stats.moved++;
        addWith(ctx, u, m, `moved by the repair search to ${m.id} to make room for ${lead} (it was not running yet)`);
      } else state.add(u, m);
    });
  });
}

// Depth-first: item i on each of its candidates in order; true with every item placed (left in state).
function search(ctx: Ctx, items: Item[], i: number, chosen: (MachineView | undefined)[], spend: (n: number) => void): boolean {
  if (i === items.length) return true;
  const { state } = ctx;
  const it = items[i];
  for (const m of it.candidates) {
    spend(it.group.length);
    if (groupRejection(state, it.group, m, it.names)) continue;
    for (const u of it.group) state.add(u, m);
    chosen[i] = m;
    if (search(ctx, items, i + 1, chosen, spend)) return true;
    for (const u of it.group) state.remove(u);
    chosen[i] = undefined;
  }
  return false;
}

// Machines the group's static constraints allow (machine id, metadata, global MachineOf targets), by id.
function staticCandidates(ctx: Ctx, group: readonly SchedUnit[], spend: (n: number) => void): MachineView[] {
  const { state } = ctx;
  let list: readonly MachineView[] = state.machines;
  for (const u of group) {
    for (const f of [machineIdFilter, metadataFilter]) {
      const narrowed = f.candidates?.(u, state); // cached per plan: cheap to ask again
      if (narrowed && narrowed.length < list.length) list = narrowed;
    }
  }
  spend(list.length);
  return list.filter((m) => group.every((u) =>
    machineIdFilter.filter(u, m, state) === null && metadataFilter.filter(u, m, state) === null &&
    u.machineOf.every((t) => !state.unit(t)?.global || state.globalRunsOn(t, m))));
}
