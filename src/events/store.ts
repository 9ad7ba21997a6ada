/**
 * Cluster events in etcd: `events/<id>` records (JSON), read in the order etcd created them (create
 * revision), at most `maxEvents` kept (trim() deletes the oldest). Every call has a deadline (the client's
 * unary deadline; watch create/cancel WATCH_CALL_MS).
 */
import { randomBytes } from 'node:crypto';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { withDeadline } from '../abort';
import { etcdCall } from '../etcd/client';
import type { KeyLayout } from '../etcd/keys';
import { silentLogger, type Logger } from '../log';
import { eventsStored } from '../metrics';
import { MAX_TEXT, draftProblem, matches, type ClusterEvent, type EventDraft, type EventFilter } from './types';

/** Events kept in etcd by default (the oldest beyond are deleted by the leader's recorder). */
export const MAX_EVENTS = 5000;
/** Deadline of creating or cancelling the events watch, ms. */
const WATCH_CALL_MS = 5000;
/** Operations per transaction (etcd's --max-txn-ops is 128; one is the cursor). */
export const TXN_EVENTS = 120;

/** Where the recorder stands: every event of revisions < `revision` and the first `n` of `revision` are stored. */
export interface Cursor { revision: number; n: number }

/** An event id the recorder derives: from the source revision and its index there (sorts like them). */
export function derivedId(revision: number, n: number): string {
  return `r${String(revision).padStart(12, '0')}-${String(n).padStart(4, '0')}`;
}

/** A record's JSON, with long text cut to MAX_TEXT. */
export function encodeEvent(d: EventDraft, now: number): string {
  const cut = (s: string | undefined) => (s === undefined ? undefined : s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT - 1)}…` : s);
  const fields = d.fields ? Object.fromEntries(Object.entries(d.fields).map(([k, v]) => [k, cut(v)!])) : undefined;
  return JSON.stringify({ kind: d.kind, unit: d.unit, machine: d.machine, message: cut(d.message), actor: d.actor, fields, time: d.time ?? now });
}

/** Parses one record; null when it is not one shoal wrote (readers skip it). */
export function decodeEvent(keys: KeyLayout, kv: IKeyValue): ClusterEvent | null {
  const id = kv.key.toString().slice(keys.kindPrefix('events').length);
  try {
    const o = JSON.parse(kv.value.toString()) as Partial<ClusterEvent>;
    if (typeof o.kind !== 'string' || typeof o.time !== 'number') return null;
    return { ...o, kind: o.kind, time: o.time, id, revision: Number(kv.create_revision) };
  } catch {
    return null;
  }
}

/** Reads, follows, appends and trims events. */
export class EventStore {
  /** Requests sent to etcd (metrics). */
  readonly stats = { requests: 0, errors: 0, dropped: 0 };
  private inFlight = 0;

  constructor(private readonly client: Etcd3, readonly keys: KeyLayout, private readonly log: Logger = silentLogger) {}

  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    this.stats.requests++;
    try {
      return await etcdCall(op, fn);
    } catch (err) {
      this.stats.errors++;
      throw err;
    }
  }

  /** Stores one explicit event. Throws ValidationError-like Error on a bad draft, UnavailableError when etcd fails. */
  async append(d: EventDraft): Promise<ClusterEvent> {
    const problem = draftProblem(d);
    if (problem) throw new Error(problem);
    const now = Date.now();
    const id = `x${String(d.time ?? now).padStart(13, '0')}-${randomBytes(4).toString('hex')}`;
    const res = await this.call('event append', () => this.client.put(this.keys.event(id)).value(encodeEvent(d, now)).exec());
    eventsStored.inc({ source: 'emitted' });
    return { ...d, time: d.time ?? now, id, revision: Number(res.header.revision) };
  }

  /**
   * Fire and forget (emitEvent): never throws, never waits; at most 256 appends in flight, the rest are
   * dropped and counted (an emitter must not pile up memory while etcd is away).
   */
  post(d: EventDraft): void {
    if (this.inFlight >= 256) { this.stats.dropped++; return; }
    this.inFlight++;
    this.append(d).catch((err) => this.log.debug('event not stored', { kind: d.kind, err: (err as Error).message }))
      .finally(() => { this.inFlight--; });
  }

  /** The recorder's cursor; null when none was stored. */
  async readCursor(): Promise<{ cursor: Cursor | null; raw: string | null; revision: number }> {
    const res = await this.call('event cursor read', () => this.client.get(this.keys.eventCursor).exec());
    const raw = res.kvs[0]?.value.toString() ?? null;
    const m = raw ? /^(\d+):(\d+)$/.exec(raw) : null;
    return { cursor: m ? { revision: Number(m[1]), n: Number(m[2]) } : null, raw, revision: Number(res.header.revision) };
  }

  /**
   * Stores derived events and moves the cursor in one transaction, if the cursor still reads `expected`
   * (another recorder moved it: false, nothing written). `events` ≤ TXN_EVENTS.
   */
  async commitDerived(expected: string | null, events: { id: string; draft: EventDraft }[], next: Cursor): Promise<boolean> {
    const now = Date.now();
    const key = this.keys.eventCursor;
    const cmp = expected === null ? this.client.if(key, 'Create', '==', 0) : this.client.if(key, 'Value', '==', expected);
    const puts = events.map((e) => this.client.put(this.keys.event(e.id)).value(encodeEvent(e.draft, now)));
    const res = await this.call('event commit', () => cmp.then(...puts, this.client.put(key).value(`${next.revision}:${next.n}`)).commit());
    if (res.succeeded) eventsStored.inc({ source: 'derived' }, events.length);
    return res.succeeded;
  }

  /** The last `limit` stored events passing `filter`, oldest first, and the revision read at. */
  async list(filter: EventFilter = {}, limit = MAX_EVENTS): Promise<{ events: ClusterEvent[]; revision: number }> {
    const res = await this.call('event list', () => this.client.getAll().prefix(this.keys.kindPrefix('events')).sort('Create', 'Ascend').exec());
    const all = res.kvs.map((kv) => decodeEvent(this.keys, kv)).filter((e): e is ClusterEvent => e !== null && matches(e, filter));
    return { events: all.slice(Math.max(0, all.length - limit)), revision: Number(res.header.revision) };
  }

  /**
   * Stored events passing `filter` (the last `limit`), then new ones as they are stored, until `signal`
   * aborts. A watch cancelled by etcd (compaction) is created again from now.
   */
  async *follow(filter: EventFilter, opts: { signal: AbortSignal; limit?: number; initial?: boolean }): AsyncGenerator<ClusterEvent> {
    const first = await this.list(filter, opts.limit ?? MAX_EVENTS);
    if (opts.initial !== false) yield* first.events;
    let from = first.revision + 1;
    const queue: ClusterEvent[] = [];
    let wake: (() => void) | null = null;
    const notify = () => { const w = wake; wake = null; w?.(); };
    let watcher: Watcher | null = null;
    const attach = async (): Promise<void> => {
      const b = this.client.watch().prefix(this.keys.kindPrefix('events')).only('put').startRevision(String(from));
      this.stats.requests++;
      const w = await withDeadline(b.create(), WATCH_CALL_MS, 'etcd.unavailable', 'etcd events watch');
      if (opts.signal.aborted) { void w.cancel().catch(() => undefined); return; }
      watcher = w;
      w.on('put', (kv) => {
        from = Math.max(from, Number(kv.mod_revision) + 1);
        const e = decodeEvent(this.keys, kv);
        if (e && matches(e, filter)) { queue.push(e); notify(); }
      });
      w.on('error', () => {
        if (watcher !== w) return;
        watcher = null;
        w.removeAllListeners('put');
        // a compaction: what came between is gone; go on from now
        void this.list({}, 0).then((r) => { from = Math.max(from, r.revision + 1); }).catch(() => undefined)
          .then(() => (opts.signal.aborted ? undefined : attach())).catch((err) => { failed = err; notify(); });
      });
    };
    let failed: unknown;
    const onAbort = () => notify();
    opts.signal.addEventListener('abort', onAbort);
    try {
      await attach();
      while (!opts.signal.aborted) {
        if (queue.length) { yield queue.shift()!; continue; }
        if (failed) throw failed;
        await new Promise<void>((r) => { wake = r; });
      }
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
      const w = watcher as Watcher | null;
      if (w) await withDeadline(w.cancel(), WATCH_CALL_MS, 'etcd.unavailable', 'etcd watch cancel').catch(() => undefined);
    }
  }

  /** Deletes the oldest events beyond `max`; returns how many were deleted. */
  async trim(max = MAX_EVENTS): Promise<number> {
    const prefix = this.keys.kindPrefix('events');
    const count = await this.call('event count', () => this.client.getAll().prefix(prefix).count());
    const excess = count - max;
    if (excess <= 0) return 0;
    const old = await this.call('event oldest', () => this.client.getAll().prefix(prefix).sort('Create', 'Ascend').limit(excess).keys());
    for (let i = 0; i < old.length; i += TXN_EVENTS) {
      const chunk = old.slice(i, i + TXN_EVENTS);
      await this.call('event trim', () => this.client.if(chunk[0], 'Create', '>', 0).then(...chunk.map((k) => this.client.delete().key(k))).commit());
    }
    return old.length;
  }
}
