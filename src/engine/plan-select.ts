/** Chooses the machine for a unit or MachineOf group: filters first, then the best score, ties by id. */
import { FILTERS } from '../constraints/filters';
import { strategyScorers, strategySplit, totalScore, type StrategySplit } from '../constraints/scorers';
import type { MachineView, SchedUnit } from '../constraints/view';
import type { MachineOrder } from './plan-order';
import type { PlanState } from './plan-state';
import type { Rejection } from './types';

/** The chosen machine and its score, or why every machine was refused. */
export type Selection =
  | { ok: true; machine: MachineView; score: number; /** Machines examined that passed (generic) or were scanned (ordered). */ candidates: number }
  | { ok: false; rejections: Rejection[] };

/** The first filter refusing `group` on `m` (member named when it is not the lead), or null when it fits. */
export function groupRejection(
  state: PlanState, group: readonly SchedUnit[], m: MachineView, together?: readonly string[],
): Rejection | null {
  if (group.length === 1 && !together) return unitRejection(state, group[0], m);
  // Members are added tentatively so later ones see earlier ones (conflicts, resources), then rolled back.
  // `together` = every unit that will share the machine (MachineOf targets among them count as present).
  const prevCo = state.coPlacing;
  state.coPlacing = new Set(together ?? group.map((u) => u.name));
  state.quiet = true;
  const added: SchedUnit[] = [];
  let rej: Rejection | null = null;
  try {
    for (const u of group) {
      rej = unitRejection(state, u, m);
      if (rej) {
        if (u !== group[0]) rej = { ...rej, reason: `${u.name}: ${rej.reason}` };
        break;
      }
      state.add(u, m);
      added.push(u);
    }
  } finally {
    for (const u of added) state.remove(u);
    state.quiet = false;
    state.coPlacing = prevCo;
  }
  return rej;
}

function unitRejection(state: PlanState, u: SchedUnit, m: MachineView): Rejection | null {
  for (const f of FILTERS) {
    const reason = f.filter(u, m, state);
    if (reason !== null) return { machine: m.id, plugin: f.name, reason };
  }
  return null;
}

/** The best machine for the group (all members together), scanning in score order when the strategy allows. */
export function selectMachine(state: PlanState, group: readonly SchedUnit[]): Selection {
  const lead = group[0];
  const narrowed = narrow(state, group);
  const wide = !narrowed || narrowed.list.length > 16;
  const order = state.order(lead.strategy, lead);
  // Unit-independent score: the first machine in order that passes every filter is the best.
  if (order && wide) return firstPassing(state, group, order, narrowed);
  if (!order && wide) {
    const keyed = keyedOrders(state, group);
    if (keyed && group.length === 1) return firstPassing(state, group, keyed[0], narrowed);
    if (keyed) return thresholdScan(state, group, keyed, narrowed);
  }
  const split = strategySplit(lead.strategy);
  if (split && wide && state.indexed) return boundedScan(state, group, split, narrowed);
  const scorers = strategyScorers(lead.strategy);
  let best: MachineView | undefined;
  let bestScore = -Infinity;
  let n = 0;
  for (const m of narrowed ? narrowed.list : state.machines) {
    if (groupRejection(state, group, m)) continue;
    n++;
    let s = 0;
    if (order) s = order.score(m);
    else {
      for (const u of group) s += totalScore(scorers, u, m, state);
      s /= group.length;
    }
    // Candidates come in id order, so a strict > keeps the smallest id among equal scores.
    if (s > bestScore) { best = m; bestScore = s; }
  }
  if (best) return { ok: true, machine: best, score: bestScore, candidates: n };
  return { ok: false, rejections: rejections(state, group) };
}

/** The first machine in `order` passing every filter (the best when `order` ranks by the group's score). */
function firstPassing(state: PlanState, group: readonly SchedUnit[], order: MachineOrder, narrowed: Candidates | undefined): Selection {
  let seen = 0;
  for (const m of order.list) {
    if (narrowed && narrowed.has[m.index] !== 1) continue;
    seen++;
    if (!groupRejection(state, group, m)) return { ok: true, machine: m, score: order.score(m), candidates: seen };
  }
  return { ok: false, rejections: rejections(state, group) };
}

/** Each member's per-key order under the lead's strategy, or undefined when one has none. */
function keyedOrders(state: PlanState, group: readonly SchedUnit[]): MachineOrder[] | undefined {
  const out: MachineOrder[] = [];
  for (const u of group) {
    const o = state.keyedOrder(group[0].strategy, u);
    if (!o) return undefined;
    out.push(o);
  }
  return out;
}

/**
 * A group whose members each have a per-key order (Fagin's threshold algorithm): walk all orders in
 * step; a machine not yet seen scores at most the mean of each member's score at the current depth, so
 * the walk stops once that bound falls below the best found. Sums run in member order like the full scan
 * (float addition is monotone), so the bound holds exactly: same result as scoring every machine.
 */
function thresholdScan(state: PlanState, group: readonly SchedUnit[], orders: readonly MachineOrder[], narrowed: Candidates | undefined): Selection {
  const distinct = [...new Set(orders)];
  const seen = new Uint8Array(state.machines.length);
  const len = state.machines.length;
  let best: MachineView | undefined;
  let bestScore = -Infinity;
  let n = 0;
  for (let depth = 0; depth < len; depth++) {
    for (const o of distinct) {
      const m = o.list[depth];
      if (seen[m.index] === 1) continue;
      seen[m.index] = 1;
      if ((narrowed && narrowed.has[m.index] !== 1) || groupRejection(state, group, m)) continue;
      n++;
      let s = 0;
      for (const ord of orders) s += ord.score(m);
      s /= group.length;
      if (s > bestScore || (s === bestScore && m.id < best!.id)) { best = m; bestScore = s; }
    }
    if (depth + 1 === len) break;
    let bound = 0;
    for (const ord of orders) bound += ord.score(ord.list[depth + 1]);
    if (bound / group.length < bestScore) break;
  }
  if (best) return { ok: true, machine: best, score: bestScore, candidates: n };
  return { ok: false, rejections: rejections(state, group) };
}

/**
 * Mixed strategy (e.g. spread + least-loaded): scan machines in the order of the unit-independent part;
 * a machine can score at most (depWeight·100 + indWeight·its ordered score) / total, so the scan stops
 * once that bound falls below the best found. Exact: same result as scoring every machine.
 */
function boundedScan(state: PlanState, group: readonly SchedUnit[], split: StrategySplit, narrowed: Candidates | undefined): Selection {
  const order = state.order(split.by, group[0])!;
  const scorers = strategyScorers(group[0].strategy);
  const total = split.depWeight + split.indWeight;
  let best: MachineView | undefined;
  let bestScore = -Infinity;
  let n = 0;
  for (const m of order.list) {
    if (narrowed && narrowed.has[m.index] !== 1) continue;
    if ((split.depWeight * 100 + split.indWeight * order.score(m)) / total < bestScore) break;
    if (groupRejection(state, group, m)) continue;
    n++;
    let s = 0;
    for (const u of group) s += totalScore(scorers, u, m, state);
    s /= group.length;
    if (s > bestScore || (s === bestScore && m.id < best!.id)) { best = m; bestScore = s; }
  }
  if (best) return { ok: true, machine: best, score: bestScore, candidates: n };
  return { ok: false, rejections: rejections(state, group) };
}

/** Why each machine (by id) refuses the group: the first refusing filter per machine. */
export function rejections(state: PlanState, group: readonly SchedUnit[]): Rejection[] {
  const out: Rejection[] = [];
  for (const m of state.machines) {
    const r = groupRejection(state, group, m);
    if (r) out.push(r);
  }
  return out;
}

interface Candidates {
  list: readonly MachineView[];
  has: Uint8Array;
}

const flagsCache = new WeakMap<readonly MachineView[], Uint8Array>();

// Intersection of what the narrowing filters allow (machine-id, metadata), sorted by id; undefined = all.
function narrow(state: PlanState, group: readonly SchedUnit[]): Candidates | undefined {
  let result: Candidates | undefined;
  for (const u of group) {
    for (const f of FILTERS) {
      const list = f.candidates?.(u, state);
      if (!list) continue;
      let has = flagsCache.get(list);
      if (!has) {
        has = new Uint8Array(state.machines.length);
        for (const m of list) has[m.index] = 1;
        flagsCache.set(list, has);
      }
      if (!result) result = { list, has };
      else {
        const flags = has;
        const both = result.list.filter((m) => flags[m.index] === 1);
        const bothFlags = new Uint8Array(state.machines.length);
        for (const m of both) bothFlags[m.index] = 1;
        result = { list: both, has: bothFlags };
      }
    }
  }
  return result;
}
