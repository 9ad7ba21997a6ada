/** The records of groups, versions and deployments as stored in etcd (docs/etcd-layout.md). Pure data. */

/** One stored version of a unit body (`history/<name>` keeps the last VERSIONS_KEPT, oldest first). */
export interface UnitVersion {
  hash: string;
  text: string;
  /** ms since the epoch when it was submitted. */
  time: number;
}

/** How many versions `history/<name>` keeps. */
export const VERSIONS_KEPT = 10;

/** Where a deployment is: running → (paused for promote →) succeeded, or failed, or reverting → reverted. */
export type DeploymentStatus = 'running' | 'paused' | 'succeeded' | 'failed' | 'reverting' | 'reverted';

/** A deployment of a group (template) or of a single unit, at `deployments/<unit>`; the leader drives it. */
export interface Deployment {
  /** The template (group) or the single unit rolled out. */
  unit: string;
  /** `<short hash of to>-<startedAt>`: `promote/<unit>` names it. */
  id: string;
  /** The version rolled away from (null when none is known: no revert possible). */
  from: { hash: string; text: string } | null;
  to: { hash: string; text: string };
  /** The hash instances are moved to now: to.hash, or from.hash while reverting. */
  target: string;
  status: DeploymentStatus;
  parallel: number;
  canary: number;
  autoRevert: boolean;
  healthyDeadlineMs: number;
  /** True once `shoalctl promote` released it past its canaries (or it has none). */
  promoted?: boolean;
  /** Steps started so far, of `steps` expected. */
  step: number;
  steps: number;
  /** Instances replaced by the current step and not yet healthy. */
  inFlight: string[];
  /** ms since the epoch: when the current step started (its HealthyDeadline counts from here). */
  stepStartedAt: number;
  /** Instances healthy at `target`, of `total` launched ones. */
  healthy: number;
  total: number;
  /** Most instances seen replaced-and-not-yet-healthy at once (≤ parallel; shown by the scenarios). */
  maxInFlight: number;
  startedAt: number;
  updatedAt: number;
  /** Why it failed (set once a step missed its deadline; kept while reverting). */
  failure?: string;
  /** What happened last, in words. */
  message: string;
}

/** True once a deployment will not change any more. */
export function isFinished(d: Deployment): boolean {
  return d.status === 'succeeded' || d.status === 'failed' || d.status === 'reverted';
}
