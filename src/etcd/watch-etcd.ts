/**
 * Watches as AsyncIterables of typed batches. One etcd3 watcher per scope, all on the client's one
 * watch stream. etcd3 re-attaches a watcher after a disconnect from the last revision it delivered;
 * when etcd cancels a watcher (compaction, server-side cancel) we recreate it: from the last revision
 * seen, or — when that revision is gone — from now, after yielding a `reset` batch.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { sleep, withDeadline } from '../abort';
import { Backoff } from '../backoff';
import { UnavailableError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { badValue, decodeCordon, decodeDrainProgress, decodeCount, decodeDeployment, decodeJob, decodeDesired, decodeLoad, decodeMachine, decodeState, decodeUnit } from './codec';
import type { KeyLayout } from './keys';
import type { BadValue, RegistryEvent, WatchBatch, WatchScope } from './registry';

/** The key prefix one scope follows. */
export function scopePrefix(keys: KeyLayout, scope: WatchScope): string {
  switch (scope.kind) {
    case 'assigned': return keys.assignedPrefix(scope.machine);
    case 'metadata-of': return keys.metadataPrefix(scope.machine);
    default: return keys.kindPrefix(scope.kind);
  }
}

/** Turns one etcd event into a registry event; null for keys that are not ours; a BadValue for a value shoal did not write. */
export function toEvent(keys: KeyLayout, kv: IKeyValue, deleted: boolean): RegistryEvent | BadValue | null {
  const key = kv.key.toString();
  const p = keys.parse(key);
  if (!p) return null;
  const raw = kv.value.toString();
  try {
    switch (p.kind) {
      case 'units': return { type: 'unit', unit: p.unit, value: deleted ? null : decodeUnit(key, raw) };
      case 'desired': return { type: 'desired', unit: p.unit, value: deleted ? null : decodeDesired(key, raw) };
      case 'schedule': return { type: 'schedule', unit: p.unit, value: deleted ? null : raw };
      case 'assigned': return { type: 'assigned', machine: p.machine, unit: p.unit, value: !deleted };
      case 'machines': return { type: 'machine', machine: p.machine, value: deleted ? null : decodeMachine(key, raw) };
      case 'metadata': return { type: 'metadata', machine: p.machine, key: p.key, value: deleted ? null : raw };
      case 'states': return { type: 'state', unit: p.unit, machine: p.machine, value: deleted ? null : decodeState(key, raw) };
      case 'groups': return { type: 'group', unit: p.unit, value: deleted ? null : decodeCount(key, raw) };
      case 'deployments': return { type: 'deployment', unit: p.unit, value: deleted ? null : decodeDeployment(key, raw) };
      case 'promote': return { type: 'promote', unit: p.unit, value: deleted ? null : raw };
      case 'load': return { type: 'load', machine: p.machine, value: deleted ? null : decodeLoad(key, raw) };
      case 'cordon': return { type: 'cordon', machine: p.machine, value: deleted ? null : decodeCordon(key, raw) };
      case 'drains': return { type: 'drain', machine: p.machine, value: deleted ? null : decodeDrainProgress(key, raw) };
      case 'jobs': return { type: 'job', unit: p.unit, value: deleted ? null : decodeJob(key, raw) };
      default: return null;
    }
  } catch (err) {
    // a value shoal did not write: report it and skip it rather than kill the watch
    return badValue(err, key, p.kind === 'units' || p.kind === 'desired' ? p.unit : undefined);
  }
}

/** Deadline of creating or cancelling one watcher, ms (etcd3's stream calls have none of their own). */
const WATCH_CALL_MS = 5000;

/** A small async queue: producers push, one consumer iterates. */
class BatchQueue {
  private items: WatchBatch[] = [];
  private wake: (() => void) | null = null;
  push(b: WatchBatch): void { this.items.push(b); this.notify(); }
  notify(): void { const w = this.wake; this.wake = null; w?.(); }
  shift(): WatchBatch | undefined { return this.items.shift(); }
  wait(): Promise<void> { return this.items.length ? Promise.resolve() : new Promise((r) => { this.wake = r; }); }
}

/**
 * Raises `signal`'s listener limit to at least `n`, never lowering it: 0 means no limit, and Node 20's
 * getMaxListeners throws ERR_INVALID_ARG_TYPE for an AbortSignal whose limit was set to 0 (every watch
 * on such a signal failed at once: the 1,000 simulated agents of bench:scale share one).
 */
function raiseMaxListeners(signal: AbortSignal, n: number): void {
  let current: number;
  try { current = getMaxListeners(signal); } catch { return; }
  if (current !== 0 && current < n) setMaxListeners(n, signal);
}

/** Follows `scopes` until `signal` aborts; see RegistryWatcher.watch. */
export async function* watchScopes(
  client: Etcd3, keys: KeyLayout, scopes: WatchScope[], opts: { fromRevision?: number; signal?: AbortSignal; log?: Logger },
): AsyncGenerator<WatchBatch> {
  const log = opts.log ?? silentLogger;
  const signal = opts.signal ?? new AbortController().signal;
  const queue = new BatchQueue();
  const onAbort = () => queue.notify();
  // each scope's follower listens on the signal while it creates its watcher: the engine's 13 scopes
  // would otherwise trip Node's leak warning (10) though every listener is removed
  raiseMaxListeners(signal, scopes.length + 10);
  signal.addEventListener('abort', onAbort);
  const followers = scopes.map((s) => new ScopeFollower(client, keys, scopePrefix(keys, s), opts.fromRevision, queue, signal, log));
  try {
    await Promise.all(followers.map((f) => f.start()));
    while (!signal.aborted) {
      await queue.wait();
      for (let b = queue.shift(); b && !signal.aborted; b = queue.shift()) yield b;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await Promise.all(followers.map((f) => f.stop()));
  }
}

/** One prefix: keeps an etcd3 watcher alive and tracks the last revision delivered. */
class ScopeFollower {
  private watcher: Watcher | null = null;
  private last: number | undefined;
  private stopped = false;

  constructor(
    private readonly client: Etcd3, private readonly keys: KeyLayout, private readonly prefix: string,
    from: number | undefined, private readonly queue: BatchQueue, private readonly signal: AbortSignal,
    private readonly log: Logger,
  ) {
    this.last = from;
  }

  /**
   * Creates the watcher; retries (jittered backoff, logged) until it is attached or the signal aborts.
   * Each attempt has a deadline and ends at once on abort: a create sent to an unreachable etcd never
   * resolves, and must not hold up a shutdown.
   */
  async start(): Promise<void> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
    let failures = 0;
    while (!this.stopped && !this.signal.aborted) {
      const b = this.client.watch().prefix(this.prefix);
      if (this.last !== undefined) b.startRevision(String(this.last + 1));
      const creating = b.create();
      try {
        const w = await raceAbort(creating, this.signal, WATCH_CALL_MS, `etcd watch ${this.prefix}`);
        if (!w || this.stopped || this.signal.aborted) { void cancelLater(creating); return; }
        this.watcher = w;
        w.on('data', (res: IWatchResponse) => this.onData(res));
        w.on('error', () => void this.onError(w));
        if (failures) this.log.info('etcd watch attached again', { prefix: this.prefix, failures });
        return;
      } catch (err) {
        void cancelLater(creating);
        if (failures++ % 10 === 0) this.log.warn('cannot watch etcd; retrying', { prefix: this.prefix, failures, err: String(err) });
        await sleep(backoff.next(), this.signal);
      }
    }
  }

  private onData(res: IWatchResponse): void {
    const revision = Number(res.header.revision);
    const events: RegistryEvent[] = [];
    const bad: BadValue[] = [];
    for (const ev of res.events) {
      const e = toEvent(this.keys, ev.kv, ev.type === 'Delete');
      if (e && 'reason' in e) bad.push(e);
      else if (e) events.push(e);
    }
    if (res.events.length) this.last = Math.max(this.last ?? 0, ...res.events.map((e) => Number(e.kv.mod_revision)));
    if (events.length || bad.length) this.queue.push({ revision, events, ...(bad.length ? { bad } : {}) });
  }

  /** etcd cancelled the watcher: recreate it; a compaction means changes were missed, so say reset. */
  private async onError(w: Watcher): Promise<void> {
    if (w !== this.watcher || this.stopped) return;
    this.watcher = null; // etcd3 already dropped it; cancel() would wait forever for an 'end' that never comes
    w.removeAllListeners('data');
    // etcd 3.4 gives no reason with a compaction cancel: ask whether our next revision still exists
    const probe = await this.probe();
    if (probe === null) return;
    if (probe.compacted) {
      this.last = probe.revision;
      this.queue.push({ revision: probe.revision, events: [], reset: true });
    }
    await this.start();
  }

  /** The current revision, and whether the revision after the last one seen was compacted; null when stopped. */
  private async probe(): Promise<{ revision: number; compacted: boolean } | null> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
    let failures = 0;
    while (!this.stopped && !this.signal.aborted) {
      try {
        const now = Number((await this.client.get(this.prefix).exec()).header.revision);
        if (this.last === undefined) return { revision: now, compacted: false };
        try {
          await this.client.get(this.prefix).revision(String(Math.min(this.last + 1, now))).exec();
          return { revision: now, compacted: false };
        } catch (err) {
          if (/compact/i.test(err instanceof Error ? err.message : String(err))) return { revision: now, compacted: true };
          throw err;
        }
      } catch (err) {
        if (failures++ % 10 === 0) this.log.warn('cannot probe etcd after a cancelled watch; retrying', { prefix: this.prefix, failures, err: String(err) });
        await sleep(backoff.next(), this.signal);
      }
    }
    return null;
  }

  /** Cancels the watcher; bounded (a cancel sent to an unreachable etcd is never answered). */
  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.watcher;
    this.watcher = null;
    if (w) await withDeadline(w.cancel(), WATCH_CALL_MS, 'etcd.unavailable', 'etcd watch cancel').catch(() => undefined);
  }
}

/**
 * `p`; undefined as soon as `signal` aborts; an UnavailableError `etcd.unavailable` after `ms`. The abort
 * listener is removed however the wait ends: a create sent to an unreachable etcd never settles, and a
 * listener left per timed-out attempt piles up on the long-lived signal (MaxListenersExceededWarning).
 */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal, ms: number, what: string): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const end = () => { clearTimeout(timer); signal.removeEventListener('abort', onAbort); };
    const onAbort = () => { end(); resolve(undefined); };
    const timer = setTimeout(() => { end(); reject(new UnavailableError('etcd.unavailable', `${what}: no answer within ${ms} ms`)); }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { end(); resolve(v); }, (err) => { end(); reject(err); });
  });
}

/** A watcher created after we stopped waiting for it: cancel it whenever it arrives (bounded). */
async function cancelLater(creating: Promise<Watcher>): Promise<void> {
  const w = await creating.catch(() => undefined);
  if (w) await withDeadline(w.cancel(), WATCH_CALL_MS, 'etcd.unavailable', 'etcd watch cancel').catch(() => undefined);
}
