/**
 * emitEvent(): how any module appends an explicit cluster event (job done, autoscale decision, API write).
 * Process-wide like prom-client's default register: shoald sets the sink (the etcd EventStore) at start;
 * before that, or in a process without one, events are dropped. Never throws, never waits.
 */
import { draftProblem, type EventDraft } from './types';

/** Where emitted events go. */
export interface EventSink {
  post(d: EventDraft): void;
}

let sink: EventSink | null = null;

/** Sets (or with null clears) the process's sink; returns the previous one. */
export function setEventSink(s: EventSink | null): EventSink | null {
  const prev = sink;
  sink = s;
  return prev;
}

/**
 * Appends `d` to the cluster's event log (fire and forget). A draft whose kind is not `area.verb` is
 * dropped with no error (an event must never break its emitter); tests check drafts with draftProblem().
 */
export function emitEvent(d: EventDraft): void {
  if (!sink || draftProblem(d)) return;
  sink.post({ ...d, time: d.time ?? Date.now() });
}
