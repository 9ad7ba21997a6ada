/**
 * The scheduler core: `plan(snapshot)` decides where every non-global unit runs. Pure and deterministic.
 *
 * Phases:
 *  1. Schedule entries that must go (unit gone, template, global, desired inactive, MachineOf blocked).
 *  2. Current placements are re-checked group by group (MachineOf groups, by first name) against a working
 *     state built up in that order: a group that still passes every filter on its machine stays there
 *     (no rebalancing). Machine gone / group split → it must move; a member that fails leaves alone (with
 *     its followers), a follower never takes its target along. A group with a member on a held machine
 *     (gone, but maybe only cut off from etcd) stays exactly as it is.
 *  3. Groups to place: moves first, then new ones, each by group name; groups displaced by a Replaces are
 *     appended (each group is displaced at most once per plan, so this always ends). A group is placed
 *     together when some machine takes it all, else unit by unit as fleet did (targets first; a follower
 *     goes where its targets are or is unplaceable: a sidekick never takes its target down).
 *  3b. Repair search (plan-repair.ts) for groups left unplaced: re-places units not yet running, bounded.
 *  4. Decisions are the diff of the old schedule and the working state: unschedules, then moves, then
 *     places, each sorted by unit name.
 */
import type { SchedUnit } from '../constraints/view';
import type { MachineView } from '../constraints/view';
import { compileUnits, isActive } from './plan-units';
import { groupRejection, rejections, selectMachine } from './plan-select';
import { PlanState } from './plan-state';
import type { Decision, PlanResult, Rejection, Snapshot } from './types';
import { repairPlan, type RepairStats } from './plan-repair';

export interface Work {
  group: SchedUnit[];
}

/** The planner's final working state, its compiled units and its result (for explain). */
export interface PlanRun {
  state: PlanState;
  result: PlanResult;
  /** What the repair search did (see plan-repair.ts). */
  repair: RepairStats;
}

/** How to plan; the default is what the engine uses. */
export interface PlanOptions {
  /** false: score every machine for every placement (no ordered indexes); the reference for tests. */
  indexed?: boolean;
  /** false: no repair search after the greedy pass (tests compare both). */
  repair?: boolean;
}

/** Decide placements for a snapshot. See the file comment for the order of work and of decisions. */
export function plan(snapshot: Snapshot, opts: PlanOptions = {}): PlanResult {
  return runPlan(snapshot, opts).result;
}

/** `plan`, also returning the working state it ended with. */
export function runPlan(snapshot: Snapshot, opts: PlanOptions = {}): PlanRun {
  const units = compileUnits(snapshot.units, snapshot.strategy ?? 'least-loaded');
  const state = new PlanState(snapshot.machines, units, opts.indexed ?? true);
  const ctx: Ctx = { state, why: new Map(), placedWhy: new Map(), failed: new Map(), failReason: new Map(), whyBeforeFail: new Map(), queue: [] };
  ctx.queue = validate(snapshot, ctx);
  for (let i = 0; i < ctx.queue.length; i++) placeWork(ctx, ctx.queue[i]);
  const repair = opts.repair === false ? { placed: 0, moved: 0, steps: 0 } : repairPlan(ctx, snapshot.schedule);
  const result = { decisions: diff(snapshot.schedule, state, ctx.why, ctx.placedWhy), unplaceable: unplaceable(ctx) };
  return { state, result, repair };
}

/** The planner's working data, shared with the repair search. */
export interface Ctx {
  state: PlanState;
  why: Map<string, string>;
  placedWhy: Map<string, string>;
  /** Refusals of units that could not be placed. */
  failed: Map<string, Rejection[]>;
  /** A summary for units whose failure is not "every machine refuses" (a follower whose target's machine refuses it). */
  failReason: Map<string, string>;
  /** `why` of a failed unit before the failure was appended (restored if a later step places it). */
  whyBeforeFail: Map<string, string>;
  queue: Work[];
}

/** Phases 1 and 2: keep what still fits, return the groups to place (moves first). */
function validate(snapshot: Snapshot, ctx: Ctx): Work[] {
  const { state, why } = ctx;
  const sched = snapshot.schedule;
  const evict = new Set(snapshot.evict ?? []);
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
    if (placed.length === 0) { fresh.push({ group }); continue; }
    const on = new Set(placed.map((u) => sched[u.name]));
    if ([...on].some((id) => state.machine(id)?.spec.held)) {
      // a held machine may only be cut off from etcd: nothing of its group moves, nothing joins it
      for (const u of placed) { const pm = state.machine(sched[u.name]); if (pm) state.add(u, pm); }
      continue;
    }
    const m = on.size === 1 ? state.machine(sched[placed[0].name]) : undefined;
    let reason: string | undefined;
    if (on.size > 1) reason = `MachineOf group split across machines ${[...on].sort().join(', ')}`;
    else if (!m) reason = `machine ${[...on][0]} is gone`;
    else if (evict.size && placed.some((u) => evict.has(u.name))) reason = `machine ${m.id} is draining`;
    if (reason !== undefined) {
      for (const u of placed) why.set(u.name, reason);
      moves.push({ group });
      continue;
    }
    state.keeping = true;
    let kept: SchedUnit[];
    try { kept = keepFitting(ctx, group, placed, m!); } finally { state.keeping = false; }
    displace(ctx, kept, m!, moves);
    if (kept.length < group.length) (kept.length < placed.length ? moves : fresh).push({ group });
  }
  return [...moves, ...fresh];
}

/**
 * Phase 2 for a placed group on `m`: members are re-checked targets first; each that still passes stays.
 * One that fails leaves (with why), and so do the followers of a unit that left: a follower never takes
 * its target along (fleet), a target's move takes its followers.
 */
function keepFitting(ctx: Ctx, group: readonly SchedUnit[], placed: readonly SchedUnit[], m: MachineView): SchedUnit[] {
  const { state } = ctx;
  const names = group.map((u) => u.name);
  const whole = groupRejection(state, placed, m, names);
  if (!whole) {
    for (const u of placed) state.add(u, m);
    return [...placed];
  }
  const isPlaced = new Set(placed.map((u) => u.name));
  const kept: SchedUnit[] = [];
  for (const chunk of followOrder(group)) {
    const here = chunk.filter((u) => isPlaced.has(u.name));
    if (here.length === 0) continue;
    const rej = groupRejection(state, here, m, chunk.map((u) => u.name));
    if (!rej) {
      for (const u of here) state.add(u, m);
      kept.push(...here);
    } else for (const u of here) ctx.why.set(u.name, `no longer fits on ${m.id}: ${rej.plugin}: ${rej.reason}`);
  }
  return kept;
}

/** Phase 3 for one group: all together (with its placed members, or on the best machine), else unit by unit. */
function placeWork(ctx: Ctx, w: Work): void {
  const { state } = ctx;
  const missing = w.group.filter((u) => state.placementOf(u.name) === undefined);
  if (missing.length === 0) return; // already handled (e.g. queued twice)
  const on = new Set(w.group.map((u) => state.placementOf(u.name)).filter((id) => id !== undefined));
  if (on.size === 0) {
    const sel = selectMachine(state, w.group);
    if (sel.ok) {
      const note = `chosen by ${w.group[0].strategy} (score ${sel.score.toFixed(1)}, ${sel.candidates} machine(s) examined)`;
      for (const u of w.group) addWith(ctx, u, sel.machine, note);
      displace(ctx, w.group, sel.machine);
      return;
    }
    if (w.group.length === 1) return fail(ctx, w.group, sel.rejections);
  } else if (on.size === 1) {
    const m = state.machine([...on][0])!;
    if (!groupRejection(state, missing, m, w.group.map((u) => u.name))) {
      for (const u of missing) addWith(ctx, u, m, `placed with its MachineOf group on ${m.id}`);
      displace(ctx, missing, m);
      return;
    }
  }
  placeApart(ctx, w.group);
}

/**
 * The group fits on no machine all together: place it as fleet did, unit by unit, targets first. A unit
 * with no target in the group is placed on its own (a target never waits for its followers); a follower
 * goes where its targets are, or is unplaceable with the reason. Placed members never move for it.
 */
function placeApart(ctx: Ctx, group: readonly SchedUnit[]): void {
  const { state } = ctx;
  for (const chunk of followOrder(group)) {
    const inChunk = new Set(chunk.map((u) => u.name));
    const targets = [...new Set(chunk.flatMap((u) => u.machineOf.filter((t) => group.some((g) => g.name === t) && !inChunk.has(t))))].sort();
    // A placed follower whose target went elsewhere (or nowhere) must follow it.
    if (targets.length) {
      const at = state.placementOf(targets[0]);
      for (const u of chunk) {
        const here = state.placementOf(u.name);
        if (here !== undefined && (at === undefined || here !== at || targets.some((t) => state.placementOf(t) !== at))) {
          state.remove(u);
          ctx.why.set(u.name, `its MachineOf target ${targets.join(', ')} is no longer on ${here}`);
        }
      }
    }
    const todo = chunk.filter((u) => state.placementOf(u.name) === undefined);
    if (todo.length === 0) continue;
    if (targets.length === 0) {
      const sel = selectMachine(state, todo);
      if (!sel.ok) { fail(ctx, todo, sel.rejections); continue; }
      const note = `chosen by ${todo[0].strategy} (score ${sel.score.toFixed(1)}, ${sel.candidates} machine(s) examined); its MachineOf group fits on no machine together`;
      for (const u of todo) addWith(ctx, u, sel.machine, note);
      displace(ctx, todo, sel.machine);
      continue;
    }
    const where = targets.map((t) => state.placementOf(t));
    const lost = targets.filter((_, i) => where[i] === undefined);
    if (lost.length) { fail(ctx, todo, [], `MachineOf target ${lost.join(', ')} is not placed`); continue; }
    if (new Set(where).size > 1) {
      fail(ctx, todo, [], `MachineOf targets are on different machines (${targets.map((t, i) => `${t} on ${where[i]}`).join(', ')})`);
      continue;
    }
    const m = state.machine(where[0]!)!;
    const rej = groupRejection(state, todo, m, chunk.map((u) => u.name));
    if (rej) {
      fail(ctx, todo, [rej], `MachineOf ${targets.join(', ')} runs on ${m.id}, which refuses it: ${rej.plugin}: ${rej.reason}`);
      continue;
    }
    for (const u of todo) addWith(ctx, u, m, `placed with its MachineOf target ${targets.join(', ')} on ${m.id}`);
    displace(ctx, todo, m);
  }
}

/** Place `u` on `m` with the note a decision will carry; forgets an earlier failure. */
export function addWith(ctx: Ctx, u: SchedUnit, m: MachineView, note: string): void {
  ctx.state.add(u, m);
  ctx.placedWhy.set(u.name, note);
  ctx.failed.delete(u.name);
  ctx.failReason.delete(u.name);
  const before = ctx.whyBeforeFail.get(u.name);
  if (before !== undefined) ctx.why.set(u.name, before);
  ctx.whyBeforeFail.delete(u.name);
}

function fail(ctx: Ctx, units: readonly SchedUnit[], rejections: Rejection[], reason?: string): void {
  for (const u of units) {
    const first = !ctx.failed.has(u.name);
    ctx.failed.set(u.name, rejections);
    if (reason !== undefined) ctx.failReason.set(u.name, reason);
    const prior = ctx.why.get(u.name);
    if (prior !== undefined && first) {
      ctx.whyBeforeFail.set(u.name, prior);
      ctx.why.set(u.name, `${prior}; ${reason ?? 'no machine fits'}`);
    }
  }
}

/**
 * A MachineOf group as chunks in placement order: targets before their followers, ties by name. Units
 * that follow each other in a cycle form one chunk (they can only be placed together).
 */
export function followOrder(group: readonly SchedUnit[]): SchedUnit[][] {
  if (group.length === 1) return [[group[0]]];
  const names = new Set(group.map((u) => u.name));
  const done = new Set<string>();
  const out: SchedUnit[][] = [];
  let left = [...group].sort((a, b) => (a.name < b.name ? -1 : 1));
  while (left.length) {
    const ready = left.filter((u) => u.machineOf.every((t) => !names.has(t) || done.has(t)));
    // A cycle: everything left that can reach itself goes together.
    const chunk = ready.length ? [ready[0]] : left;
    for (const u of chunk) done.add(u.name);
    out.push(chunk);
    left = left.filter((u) => !done.has(u.name));
  }
  return out;
}

/** Units on `m` that the newly placed `group` replaces are taken off and queued to move (once per plan). */
function displace(ctx: Ctx, group: readonly SchedUnit[], m: MachineView, queue: Work[] = ctx.queue): void {
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
      queue.push({ group: victims });
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
function unplaceable(ctx: Ctx): PlanResult['unplaceable'] {
  const { state, failed } = ctx;
  const out: PlanResult['unplaceable'] = [];
  const names = [...state.units.values()].filter((u) => isActive(u) && !u.global && state.placementOf(u.name) === undefined);
  for (const u of names.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rej = failed.get(u.name) ?? rejections(state, [u]);
    out.push({ unit: u.name, rejections: rej, reason: ctx.failReason.get(u.name) ?? summary(u, rej, state.machines.length) });
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
