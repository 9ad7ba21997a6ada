/** The autoscaler's records: what a group scales on, and the decisions the leader made. Pure data. */

/** The metrics a group scales on. */
export type ScaleMetric = 'cpu' | 'memory';

/** One decision of the leader about one group, with its inputs (kept at autoscale/<template>). */
export interface ScaleDecision {
  /** ms since the epoch. */
  at: number;
  /** Instance count before and after. */
  from: number;
  to: number;
  /** Instances whose use was reported (the average is over these). */
  reporting: number;
  /** Average use per metric, % of the per-instance base (CPU= reservation or one core; Memory= reservation). */
  observed: Partial<Record<ScaleMetric, number>>;
  /** Target per metric, %. */
  target: Partial<Record<ScaleMetric, number>>;
  /** ceil(current × observed/target) before clamping and stabilization. */
  raw: number;
  /** Why `to` (e.g. `cpu 140% > target 70%`, `held by the scale-down window`, `clamped to ScaleMax=4`). */
  reason: string;
}

/** autoscale/<template>: the last decisions that changed a count, oldest first (at most DECISIONS_KEPT). */
export interface AutoscaleRecord {
  template: string;
  decisions: ScaleDecision[];
}

/** Decisions kept per group in etcd. */
export const DECISIONS_KEPT = 20;
