/**
 * The autoscaler's decision for one group, pure: desired = ceil(current × observed / target) per metric
 * (the largest wins), within a tolerance, clamped to [ScaleMin, ScaleMax], then stabilized as Kubernetes'
 * HorizontalPodAutoscaler does (k8s.io/kubernetes pkg/controller/podautoscaler, `behavior`): a scale-down
 * takes the HIGHEST recommendation of the down window, a scale-up the LOWEST of the up window, so a
 * burst or a dip shorter than the window moves nothing.
 */
import type { ScaleOptions } from '../units/scale-options';
import type { ScaleMetric } from './types';

/** |observed/target − 1| within this moves nothing (Kubernetes' --horizontal-pod-autoscaler-tolerance). */
export const TOLERANCE = 0.1;

/** One evaluation's clamped recommendation. */
export interface Recommendation {
  /** ms since the epoch. */
  at: number;
  count: number;
}

/** What one evaluation sees. */
export interface DecideInput {
  /** The group's count now (groups/<template>, else Instances=). */
  current: number;
  options: ScaleOptions;
  /** Average use of the reporting instances per metric, % of the per-instance base. */
  observed: Partial<Record<ScaleMetric, number>>;
  /** Instances whose use was reported (0: no data, the count holds unless outside [min, max]). */
  reporting: number;
  /** ms since the epoch. */
  now: number;
  /** Earlier recommendations, oldest first (the driver keeps them per group). */
  history: readonly Recommendation[];
}

/** What one evaluation decided. */
export interface DecideOutput {
  /** The count to have (equal to current: no change). */
  desired: number;
  /** ceil(current × observed/target) before clamping and stabilization (current when within tolerance or no data). */
  raw: number;
  /** The history to keep for the next evaluation (this one appended, entries older than both windows dropped). */
  history: Recommendation[];
  reason: string;
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

/** The targets a group scales on, % per metric. */
export function targetsOf(o: ScaleOptions): Partial<Record<ScaleMetric, number>> {
  const t: Partial<Record<ScaleMetric, number>> = {};
  if (o.cpuPercent !== undefined) t.cpu = o.cpuPercent;
  if (o.memoryPercent !== undefined) t.memory = o.memoryPercent;
  return t;
}

/** One evaluation. Deterministic; never returns a count outside [min, max]. */
export function decide(i: DecideInput): DecideOutput {
  const { min, max, upWindowMs, downWindowMs } = i.options;
  const targets = targetsOf(i.options);
  let raw = i.current;
  const why: string[] = [];
  if (i.reporting > 0) {
    let best = -1;
    for (const m of Object.keys(targets) as ScaleMetric[]) {
      const obs = i.observed[m];
      if (obs === undefined) continue;
      const ratio = obs / targets[m]!;
      // an empty group with load reported cannot be: it scales to min like one without data
      const r = Math.abs(ratio - 1) <= TOLERANCE ? i.current : Math.ceil(Math.max(1, i.current) * ratio - 1e-9);
      why.push(`${m} ${round(obs)}% vs target ${targets[m]}%`);
      best = Math.max(best, r);
    }
    if (best >= 0) raw = best;
  } else why.push('no instance reported its use');
  const rec = clamp(raw, min, max);
  const keepFrom = i.now - Math.max(upWindowMs, downWindowMs);
  const history = [...i.history.filter((h) => h.at > keepFrom && h.at <= i.now), { at: i.now, count: rec }];
  // a count outside the bounds (a manual scale, changed bounds) is brought inside at once
  const base = clamp(i.current, min, max);
  if (base !== i.current) why.push(`count ${i.current} is outside ScaleMin=${min}..ScaleMax=${max}`);
  let desired = rec;
  if (rec < base) {
    // scale down only as far as the highest recommendation of the window allows
    const hi = Math.max(...history.filter((h) => h.at > i.now - downWindowMs || h.at === i.now).map((h) => h.count));
    desired = Math.min(base, hi);
    if (desired !== rec) why.push(`scale-down window ${round(downWindowMs / 1000)}s holds ${desired}`);
  } else if (rec > base) {
    const lo = Math.min(...history.filter((h) => h.at > i.now - upWindowMs || h.at === i.now).map((h) => h.count));
    desired = Math.max(base, lo);
    if (desired !== rec) why.push(`scale-up window ${round(upWindowMs / 1000)}s holds ${desired}`);
  }
  if (raw !== rec) why.push(`clamped to ${raw > max ? `ScaleMax=${max}` : `ScaleMin=${min}`}`);
  return { desired, raw, history, reason: why.join('; ') };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
