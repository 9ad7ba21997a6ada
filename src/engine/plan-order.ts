/** Machines kept sorted by a strategy score (best first, ties by id), re-scored lazily as machines change. */
import { strategyScorers, totalScore } from '../constraints/scorers';
import type { ClusterView, MachineView, SchedUnit, WeightedScorer } from '../constraints/view';
import type { PlacementStrategy } from '../units/types';

/** The working state as an order sees it: the cluster plus a log of machine indexes whose counters changed. */
export interface LoggedView extends ClusterView {
  /** Index of every machine whose counters changed (committed changes only), in order; only ever appended. */
  readonly changes: readonly number[];
}

/**
 * For strategies whose score depends only on machine state (or, per key, only on the unit's key), the best
 * machine passing the filters is the first one in this order that passes: placement scans from the front
 * instead of scoring every machine. Changed machines are re-scored lazily from the view's change log when
 * the order is next used (`sync`), each moved to its new position by binary search.
 */
export class MachineOrder {
  /** Machines, best score first, ties by ascending id. */
  readonly list: MachineView[];
  private readonly scores: Float64Array;
  private readonly scorers: readonly WeightedScorer[];
  private synced: number;

  constructor(strategy: PlacementStrategy, private readonly view: LoggedView, private readonly probe: SchedUnit) {
    this.scorers = strategyScorers(strategy);
    this.scores = new Float64Array(view.machines.length);
    this.list = [...view.machines];
    this.synced = view.changes.length;
    this.rebuild();
  }

  /** Apply the changes logged since the last sync (a full re-sort when many machines changed). */
  sync(): this {
    const log = this.view.changes;
    if (log.length - this.synced > this.list.length / 4) this.rebuild();
    else for (let i = this.synced; i < log.length; i++) this.update(this.view.machines[log[i]]);
    this.synced = log.length;
    return this;
  }

  /** The machine's current score under this order's strategy. */
  score(m: MachineView): number {
    return this.scores[m.index];
  }

  // Re-score one machine after its counters changed and move it to its place.
  private update(m: MachineView): void {
    const next = this.compute(m);
    if (next === this.scores[m.index]) return;
    const at = this.find(m);
    this.scores[m.index] = next;
    // Shift the machines between the old and the new place by one (no splice: it allocates every call).
    const list = this.list;
    if (at > 0 && this.cmp(m, list[at - 1]) < 0) {
      const to = this.lowerBound(m, 0, at);
      for (let i = at; i > to; i--) list[i] = list[i - 1];
      list[to] = m;
    } else if (at + 1 < list.length && this.cmp(list[at + 1], m) < 0) {
      const to = this.lowerBound(m, at + 1, list.length) - 1;
      for (let i = at; i < to; i++) list[i] = list[i + 1];
      list[to] = m;
    }
  }

  private rebuild(): void {
    for (const m of this.view.machines) this.scores[m.index] = this.compute(m);
    this.list.sort((a, b) => this.cmp(a, b));
  }

  private compute(m: MachineView): number {
    return totalScore(this.scorers, this.probe, m, this.view);
  }

  private cmp(a: MachineView, b: MachineView): number {
    const d = this.scores[b.index] - this.scores[a.index];
    if (d !== 0) return d;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  // First position in [lo, hi) whose machine does not sort before m.
  private lowerBound(m: MachineView, lo = 0, hi = this.list.length): number {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(this.list[mid], m) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private find(m: MachineView): number {
    const at = this.lowerBound(m);
    if (this.list[at] === m) return at;
    return this.list.indexOf(m); // not reached while scores are kept in sync; safe fallback
  }
}
