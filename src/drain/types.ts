/** The records of cordons and drains as stored in etcd (docs/etcd-layout.md, docs/operations.md). Pure data and constants. */

/**
 * `cordon/<machine>`, written by the API (`shoalctl cordon`/`drain`) or by a shoald stopping for good:
 * the machine takes no new units. With `drain`, the leader also moves its units away (see drain-plan.ts).
 * Not on a lease: it survives engine failover and the machine's own restarts until `shoalctl uncordon`.
 */
export interface CordonRecord {
  /** ms since the epoch. */
  since: number;
  /** Who cordoned it (an API identity, or STOP_CORDON_BY for a machine stopped for good). */
  by: string;
  drain?: DrainRequest;
}

/**
 * Longest wait of a stop for good for its drain, ms: systemd's default TimeoutStopSec is 90 s, and after the
 * drain come ≤ 2 s to mark the machine leaving, ≤ 10 s for the rest to move and ≤ 10 s to stop what is left.
 */
export const STOP_DRAIN_MS = 45_000;
/** Who a cordon written by a stop for good is by: shoald lifts only its own when it starts again. */
export const STOP_CORDON_BY = 'shoald:stop';

/** A drain asked of the leader. */
export interface DrainRequest {
  /** `<machine prefix>-<startedAt>`: the progress record names it. */
  id: string;
  /** ms since the epoch. */
  startedAt: number;
  /** ms since the epoch: past it, everything still movable moves at once (Nomad's drain deadline). */
  deadlineAt: number;
}

/** Where a drain is: draining → done (every unit moved, or left because it fits nowhere else). */
export type DrainStatus = 'draining' | 'done';

/** One unit a drain moved. */
export interface DrainMove {
  unit: string;
  to: string;
  /** ms since the epoch. */
  at: number;
  /** True once it was seen healthy (or active without checks) on `to`. */
  healthy: boolean;
  /** Moved at the deadline, without waiting for its group's capacity. */
  forced?: boolean;
}

/** `drains/<machine>`: the leader's progress of the drain `id`, rewritten as it goes. */
export interface DrainProgress {
  id: string;
  machine: string;
  status: DrainStatus;
  moved: DrainMove[];
  /** Units left on the machine because no other machine can run them, with the planner's reason. */
  stuck: { unit: string; reason: string }[];
  /** Units still on the machine waiting for their group's capacity (a step in flight). */
  waiting: string[];
  /** True once the deadline passed. */
  deadlinePassed?: boolean;
  message: string;
  /** ms since the epoch. */
  updatedAt: number;
}
