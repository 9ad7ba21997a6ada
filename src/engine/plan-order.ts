/** Machines kept sorted by a unit-independent strategy score (best first, ties by id), updated in place. */
import { strategyScorers, totalScore } from '../constraints/scorers';
import type { ClusterView, MachineView, SchedUnit, WeightedScorer } from '../constraints/view';
import type { PlacementStrategy } from '../units/types';

/**
 * For strategies whose score depends only on machine state, the best machine passing the filters is
 * the first one in this order that passes: placement scans from the front instead of scoring every
 * machine. After a machine's counters change, `update` moves it to its new position (binary search).
 */
export class MachineOrder {
  /** Machines, best score first, ties by ascending id. */
  readonly list: MachineView[];
  private readonly scores: Float64Array;
  private readonly scorers: readonly WeightedScorer[];

  constructor(strategy: PlacementStrategy, private readonly view: ClusterView, private readonly probe: SchedUnit) {
    this.scorers = strategyScorers(strategy);
    this.scores = new Float64Array(view.machines.length);
    for (const m of view.machines) this.scores[m.index] = this.compute(m);
    this.list = [...view.machines].sort((a, b) => this.cmp(a, b));
  }

  /** The machine's current score under this order's strategy. */
  score(m: MachineView): number {
    return this.scores[m.index];
  }

  /** Re-score one machine after its counters changed and move it to its place. */
  update(m: MachineView): void {
    const next = this.compute(m);
    if (next === this.scores[m.index]) return;
    const at = this.find(m);
    this.list.splice(at, 1);
    this.scores[m.index] = next;
    this.list.splice(this.lowerBound(m), 0, m);
  }

  private compute(m: MachineView): number {
    return totalScore(this.scorers, this.probe, m, this.view);
  }

  private cmp(a: MachineView, b: MachineView): number {
    const d = this.scores[b.index] - this.scores[a.index];
    if (d !== 0) return d;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  // First position whose machine does not sort before m.
  private lowerBound(m: MachineView): number {
    let lo = 0;
    let hi = this.list.length;
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
