/**
 * The scheduler core: `plan(snapshot)` decides where every non-global unit runs. Pure and deterministic.
 *
 * Phases:
 *  1. Schedule entries that must go (unit gone, template, global, desired inactive, MachineOf blocked).
 *  2. Current placements are re-checked group by group (MachineOf groups, by first name) against a working
 *     state built up in that order: a group that still passes every filter on its machine stays there
 *     (no rebalancing). Machine gone / filters fail / group split → it must move.
 *  3. Groups to place: moves first, then new ones, each by group name; groups displaced by a Replaces are
 *     appended (each group is displaced at most once per plan, so this always ends).
 *  4. Decisions are the diff of the old schedule and the working state: unschedules, then moves, then
 *     places, each sorted by unit name.
 */
import type { SchedUnit } from '../constraints/view';
import type { MachineView } from '../constraints/view';
import { compileUnits, isActive } from './plan-units';
import { groupRejection, rejections, selectMachine } from './plan-select';
import { PlanState } from './plan-state';
import type { Decision, PlanResult, Rejection, Snapshot } from './types';

interface Work {
  group: SchedUnit[];
  /** The live machine the already-placed members stay on, if any. */
  anchor?: MachineView;
  move: boolean;
}

/** The planner's final working state, its compiled units and its result (for explain). */
export interface PlanRun {
  state: PlanState;
  result: PlanResult;
}

/** How to plan; the default is what the engine uses. */
export interface PlanOptions {
  /** false: score every machine for every placement (no ordered indexes); the reference for tests. */
  indexed?: boolean;
}

/** Decide placements for a snapshot. See the file comment for the order of work and of decisions. */
export function plan(snapshot: Snapshot, opts: PlanOptions = {}): PlanResult {
  return runPlan(snapshot, opts).result;
}

/** `plan`, also returning the working state it ended with. */
export function runPlan(snapshot: Snapshot, opts: PlanOptions = {}): PlanRun {
  const units = compileUnits(snapshot.units, snapshot.strategy ?? 'least-loaded');
  const state = new PlanState(snapshot.machines, units, opts.indexed ?? true);
  const why = new Map<string, string>();
  const placedWhy = new Map<string, string>();
  const failed = new Map<string, Rejection[]>();
  const work = validate(snapshot, state, why);
  const ctx: Ctx = { state, why, placedWhy, failed, queue: work };
  for (let i = 0; i < ctx.queue.length; i++) placeWork(ctx, ctx.queue[i]);
  return { state, result: { decisions: diff(snapshot.schedule, state, why, placedWhy), unplaceable: unplaceable(state, failed) } };
}

interface Ctx {
  state: PlanState;
  why: Map<string, string>;
  placedWhy: Map<string, string>;
  failed: Map<string, Rejection[]>;
  queue: Work[];
}

/** Phases 1 and 2: keep what still fits, return the groups to place (moves first). */
function validate(snapshot: Snapshot, state: PlanState, why: Map<string, string>): Work[] {
  const sched = snapshot.schedule;
  for (const name of Object.keys(sched)) {
    const u = state.unit(name);
    if (!u) why.set(name, 'unit no longer exists');
    else if (u.template) why.set(name, 'template units are never scheduled');
    else if (u.global) why.set(name, 'global units run on every matching machine, not on a scheduled one');
    else if (u.desired === 'inactive') why.set(name, 'desired state is inactive');
    else if (u.blocked) why.set(name, u.blocked);
  }
  const groups = new Map<string, SchedUnit[]>();
  for (const u of state.units.values()) {
    if (!isActive(u) || u.global || u.blocked || groups.has(u.group[0])) continue;
    groups.set(u.group[0], u.group.map((n) => state.unit(n)!));
  }
  const moves: Work[] = [];
  const fresh: Work[] = [];
  for (const id of [...groups.keys()].sort()) {
    const group = groups.get(id)!;
    const placed = group.filter((u) => sched[u.name] !== undefined);
    if (placed.length === 0) { fresh.push({ group, move: false }); continue; }
    const on = new Set(placed.map((u) => sched[u.name]));
    const m = on.size === 1 ? state.machine(sched[placed[0].name]) : undefined;
    let reason: string | undefined;
    if (on.size > 1) reason = `MachineOf group split across machines ${[...on].sort().join(', ')}`;
    else if (!m) reason = `machine ${[...on][0]} is gone`;
    else {
      const rej = groupRejection(state, placed, m, group.map((u) => u.name));
      if (rej) reason = `no longer fits on ${m.id}: ${rej.plugin}: ${rej.reason}`;
    }
    if (reason !== undefined) {
      for (const u of placed) why.set(u.name, reason);
      moves.push({ group, move: true });
      continue;
    }
    for (const u of placed) state.add(u, m!);
    displace({ state, why, placedWhy: new Map(), failed: new Map(), queue: moves }, placed, m!);
    if (placed.length < group.length) fresh.push({ group, anchor: m, move: false });
  }
  return [...moves, ...fresh];
}

/** Phase 3 for one group: at its anchor if it has one, else on the best machine, else unplaceable. */
function placeWork(ctx: Ctx, w: Work): void {
  const { state } = ctx;
  const placed = w.group.filter((u) => state.placementOf(u.name) !== undefined);
  if (placed.length === w.group.length) return; // already handled (e.g. queued twice)
  // An anchor holds only while the placed members are still there (a Replaces may have displaced them).
  if (w.anchor && (placed.length === 0 || placed.some((u) => state.placementOf(u.name) !== w.anchor!.id))) w.anchor = undefined;
  if (w.anchor) {
    const missing = w.group.filter((u) => state.placementOf(u.name) === undefined);
    const rej = groupRejection(state, missing, w.anchor, w.group.map((u) => u.name));
    if (!rej) {
      for (const u of missing) {
        state.add(u, w.anchor);
        ctx.placedWhy.set(u.name, `placed with its MachineOf group on ${w.anchor.id}`);
      }
      displace(ctx, missing, w.anchor);
      return;
    }
    // The group never splits: re-place all of it.
    for (const u of w.group) {
      if (state.remove(u) !== undefined) ctx.why.set(u.name, `MachineOf group moved: ${rej.plugin}: ${rej.reason}`);
    }
  }
  const sel = selectMachine(state, w.group);
  if (!sel.ok) {
    for (const u of w.group) {
      ctx.failed.set(u.name, sel.rejections);
      const prior = ctx.why.get(u.name);
      if (prior !== undefined) ctx.why.set(u.name, `${prior}; no machine fits`);
    }
    return;
  }
  const lead = w.group[0];
  const note = `chosen by ${lead.strategy} (score ${sel.score.toFixed(1)}, ${sel.candidates} machine(s) examined)`;
  for (const u of w.group) {
    state.add(u, sel.machine);
    ctx.placedWhy.set(u.name, note);
  }
  displace(ctx, w.group, sel.machine);
}

/** Units on `m` that the newly placed `group` replaces are taken off and queued to move (once per plan). */
function displace(ctx: Ctx, group: readonly SchedUnit[], m: MachineView): void {
  const { state } = ctx;
  for (const x of group) {
    for (const y of x.replaces) {
      if (state.placementOf(y) !== m.id || !state.canDisplace(y)) continue;
      const victims = state.unit(y)!.group.map((n) => state.unit(n)!);
      state.markDisplaced(victims[0].name);
      for (const v of victims) {
        state.remove(v);
        ctx.why.set(v.name, `displaced from ${m.id} by ${x.name} (Replaces)`);
      }
      ctx.queue.push({ group: victims, move: true });
    }
  }
}

/** Phase 4: old schedule vs working state → ordered decisions. */
function diff(schedule: Record<string, string>, state: PlanState, why: Map<string, string>, placedWhy: Map<string, string>): Decision[] {
  const unsched: Decision[] = [];
  const moves: Decision[] = [];
  const places: Decision[] = [];
  const final = state.placements();
  for (const name of Object.keys(schedule).sort()) {
    const from = schedule[name];
    const to = final.get(name);
    if (to === undefined) unsched.push({ kind: 'unschedule', unit: name, from, reason: why.get(name) ?? 'no machine fits' });
    else if (to !== from) moves.push({ kind: 'move', unit: name, from, to, reason: `${why.get(name) ?? 'moved'}; ${placedWhy.get(name) ?? ''}` });
  }
  for (const name of [...final.keys()].sort()) {
    if (schedule[name] === undefined) places.push({ kind: 'place', unit: name, machine: final.get(name)!, reason: placedWhy.get(name) ?? 'placed' });
  }
  return [...unsched, ...moves, ...places];
}

/** Active non-global units left without a machine, by name, with every machine's refusal. */
function unplaceable(state: PlanState, failed: Map<string, Rejection[]>): PlanResult['unplaceable'] {
  const out: PlanResult['unplaceable'] = [];
  const names = [...state.units.values()].filter((u) => isActive(u) && !u.global && state.placementOf(u.name) === undefined);
  for (const u of names.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rej = failed.get(u.name) ?? rejections(state, [u]);
    out.push({ unit: u.name, rejections: rej, reason: summary(u, rej, state.machines.length) });
  }
  return out;
}

function summary(u: SchedUnit, rej: readonly Rejection[], machines: number): string {
  if (u.blocked) return u.blocked;
  if (machines === 0) return 'no live machines';
  const by = new Map<string, number>();
  for (const r of rej) by.set(r.plugin, (by.get(r.plugin) ?? 0) + 1);
  const parts = [...by].map(([p, n]) => `${p} on ${n}`);
  return `none of ${machines} machine(s) passes the filters: ${parts.join(', ')}`;
}
