/**
 * The leader's event recorder: follows every change under the prefix (one etcd watch with previous
 * values), derives events (derive.ts) and stores them with the cursor in one transaction, so a new
 * leader resumes exactly where the last one stopped (no event lost or doubled across a failover, unless
 * etcd compacted the revisions in between: then it goes on from now). Trims the log to MAX_EVENTS.
 */
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import { sleep, withDeadline } from '../abort';
import { silentLogger, type Logger } from '../log';
import { EventDeriver } from './derive';
import { MAX_EVENTS, TXN_EVENTS, derivedId, type Cursor, type EventStore } from './store';
import type { EventDraft } from './types';

export interface RecorderOptions {
  client: Etcd3;
  store: EventStore;
  /** True while this process's engine leads (polled every `checkMs`). */
  isLeader: () => boolean;
  log?: Logger;
  /** Events kept (default MAX_EVENTS). */
  maxEvents?: number;
  checkMs?: number;
}

/** How many revisions back the first recorder of a cluster starts (no cursor yet). */
export const FIRST_LOOKBACK = 10_000;

/** One derived event with its place in the log. */
interface Placed { revision: number; n: number; draft: EventDraft }

/** Runs until `signal` aborts: records while the engine leads, idles otherwise. Never throws. */
export async function runRecorder(o: RecorderOptions, signal: AbortSignal): Promise<void> {
  const log = o.log ?? silentLogger;
  const checkMs = o.checkMs ?? 500;
  while (!signal.aborted) {
    if (!o.isLeader()) { await sleep(checkMs, signal); continue; }
    const term = new AbortController();
    const both = AbortSignal.any([signal, term.signal]);
    const timer = setInterval(() => { if (!o.isLeader()) term.abort(); }, checkMs);
    try {
      await recordTerm(o, both, log);
    } catch (err) {
      if (!both.aborted) log.warn('event recorder failed; starting again', { err: (err as Error).message });
      await sleep(1000, signal);
    } finally {
      clearInterval(timer);
      term.abort();
    }
  }
}

/** One leadership term: resume from the cursor, follow, commit; returns when `signal` aborts or another recorder moved the cursor. */
async function recordTerm(o: RecorderOptions, signal: AbortSignal, log: Logger): Promise<void> {
  const { store, client } = o;
  const keys = store.keys;
  const deriver = new EventDeriver(keys);
  let { cursor, raw, revision } = await store.readCursor();
  // no cursor: the first recorder of this cluster. It starts from the cluster's history (at most
  // FIRST_LOOKBACK revisions back) rather than from now, so what happened before it attached (the units
  // submitted and placed while it was being elected) is in the log too
  let pos: Cursor = cursor ?? { revision: Math.max(1, revision + 1 - FIRST_LOOKBACK), n: 0 };
  const pending: Placed[] = [];
  let lastRev = 0;
  let counter = { revision: 0, n: 0 };
  let failed: unknown;
  let moved = false;
  let wake: (() => void) | null = null;
  const notify = () => { const w = wake; wake = null; w?.(); };
  const onData = (res: IWatchResponse) => {
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev !== counter.revision) counter = { revision: rev, n: 0 };
      const key = ev.kv.key.toString();
      const change = { key, prev: ev.prev_kv ? ev.prev_kv.value.toString() : null, next: ev.type === 'Delete' ? null : ev.kv.value.toString() };
      for (const draft of deriver.derive(change, Date.now())) {
        const n = counter.n++;
        if (rev < pos.revision || (rev === pos.revision && n < pos.n)) continue; // stored by an earlier term
        pending.push({ revision: rev, n, draft });
      }
      lastRev = rev;
    }
    if (pending.length) notify();
  };
  let watcher: Watcher | null = null;
  const attach = async (from: number) => {
    const b = client.watch().prefix(keys.prefix).withPreviousKV().startRevision(String(from));
    const w = await withDeadline(b.create(), 5000, 'etcd.unavailable', 'etcd recorder watch');
    watcher = w;
    w.on('data', onData);
    w.on('error', (err) => {
      if (watcher !== w) return;
      watcher = null;
      w.removeAllListeners('data');
      failed = err;
      notify();
    });
  };
  const onAbort = () => notify();
  signal.addEventListener('abort', onAbort);
  let sinceTrim = Number.MAX_SAFE_INTEGER;
  try {
    try {
      await attach(pos.revision);
    } catch (err) {
      if (!/compact/i.test(String(err))) throw err;
      log.warn('events between the last recorded revision and now were compacted away; recording from now', { from: pos.revision });
      pos = { revision: revision + 1, n: 0 };
      await attach(pos.revision);
    }
    log.info('event recorder following', { from: pos.revision });
    while (!signal.aborted && !moved) {
      if (failed) throw failed;
      if (sinceTrim > 200) {
        sinceTrim = 0;
        const n = await o.store.trim(o.maxEvents ?? MAX_EVENTS).catch(() => 0);
        if (n) log.debug('events trimmed', { deleted: n });
      }
      if (!pending.length) { await new Promise<void>((r) => { wake = r; }); continue; }
      const chunk = pending.slice(0, TXN_EVENTS);
      const last = chunk[chunk.length - 1];
      const next = { revision: last.revision, n: last.n + 1 };
      const ok = await store.commitDerived(raw, chunk.map((p) => ({ id: derivedId(p.revision, p.n), draft: p.draft })), next);
      if (!ok) { moved = true; log.info('event cursor moved by another recorder; this one stops'); break; }
      pending.splice(0, chunk.length);
      raw = `${next.revision}:${next.n}`;
      pos = next;
      sinceTrim += chunk.length;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    const w = watcher as Watcher | null;
    if (w) await withDeadline(w.cancel(), 5000, 'etcd.unavailable', 'etcd watch cancel').catch(() => undefined);
  }
  void lastRev;
}
