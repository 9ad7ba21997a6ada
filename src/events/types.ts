/**
 * Cluster events: one stream of what happened, with time, kind and subject. Derived from etcd changes by the
 * leader's recorder (recorder.ts, derive.ts) or appended explicitly by any module (emit.ts). Stored under
 * `events/` in etcd, bounded (the last MAX_EVENTS), read in etcd revision order. See docs/events.md.
 */

/** Kinds derived from etcd changes (derive.ts) and kinds other modules append (emitEvent). Open: any `area.verb` string is accepted. */
export const EVENT_KINDS = [
  'unit.submitted', 'unit.replaced', 'unit.destroyed', 'unit.desired', 'unit.placed', 'unit.moved', 'unit.unscheduled',
  'unit.started', 'unit.stopped', 'unit.failed', 'unit.restarted', 'unit.unhealthy', 'unit.healthy',
  'machine.joined', 'machine.lost', 'machine.returned', 'machine.leaving', 'machine.left',
  'leader.changed',
  'deployment.started', 'deployment.step', 'deployment.paused', 'deployment.succeeded', 'deployment.failed', 'deployment.reverting', 'deployment.reverted',
  'job.done', 'job.retried', 'job.failed', 'key.bad', 'autoscale.decision', 'api.write',
] as const;

export type KnownEventKind = typeof EVENT_KINDS[number];

/** What a module hands to emitEvent: a kind and its subject. */
export interface EventDraft {
  /** `area.verb`, e.g. `unit.placed`, `job.done` (lowercase letters, digits, `-`, one or more dots). */
  kind: KnownEventKind | (string & {});
  /** The unit the event is about, when it is about one. */
  unit?: string;
  /** The machine the event is about (or where it happened). */
  machine?: string;
  /** One human line, e.g. `moved from m1 to m2`. */
  message?: string;
  /** Who caused it: an engine id, `api:<identity>`, `agent:<machine>`. */
  actor?: string;
  /** More structured fields (strings only, small). */
  fields?: Record<string, string>;
  /** ms since the epoch; now when absent. */
  time?: number;
}

/** A stored event. */
export interface ClusterEvent extends EventDraft {
  /** The record's key suffix (unique). */
  id: string;
  /** etcd revision the record was created at: the stream's order. */
  revision: number;
  time: number;
}

/** Longest stored `message` and field value, characters (a longer one is cut). */
export const MAX_TEXT = 512;

const KIND_RE = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

/** Checks a draft; returns the problem or null. Pure. */
export function draftProblem(d: EventDraft): string | null {
  if (typeof d.kind !== 'string' || !KIND_RE.test(d.kind)) return `event kind ${JSON.stringify(d.kind)} is not area.verb (lowercase)`;
  if (d.fields && Object.values(d.fields).some((v) => typeof v !== 'string')) return 'event fields must be strings';
  return null;
}

/** Which events a reader wants (every set field must match). */
export interface EventFilter {
  unit?: string;
  machine?: string;
  /** ms since the epoch: events at or after. */
  since?: number;
  /** Kinds or kind prefixes ending in `.` (e.g. `unit.`). */
  kinds?: string[];
  /** Only events stored at or after this etcd revision (resuming a stream). */
  fromRevision?: number;
}

/** True when `e` passes `f`. Pure. */
export function matches(e: ClusterEvent, f: EventFilter): boolean {
  if (f.unit && e.unit !== f.unit) return false;
  if (f.machine && e.machine !== f.machine && !(e.machine && e.machine.startsWith(f.machine))) return false;
  if (f.since !== undefined && e.time < f.since) return false;
  if (f.fromRevision !== undefined && e.revision < f.fromRevision) return false;
  if (f.kinds && f.kinds.length && !f.kinds.some((k) => (k.endsWith('.') ? e.kind.startsWith(k) : e.kind === k))) return false;
  return true;
}
