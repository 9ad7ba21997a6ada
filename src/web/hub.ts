/**
 * StatusHub: the page's live state. While at least one browser follows it, one registry watch runs; each
 * batch of changes adds feed entries at once and re-reads the cluster (at most every `minIntervalMs`), then
 * every follower gets the new view. Followers are written to without waiting: one whose socket buffer
 * passes `maxBufferedBytes` is cut off, so a slow client never holds the others back.
 */
import type { Logger } from '../log';
import type { ClusterReader, LeaderElector, RegistryWatcher, WatchScope } from '../etcd/registry';
import type { PlacementStrategy } from '../units/types';
import type { ClusterEvent, EventFilter } from '../events/types';
import { FeedState, feedEntry, type FeedEntry } from './feed';
import { buildStatus, type StatusView } from './status';

/** A follower: gets server-sent-event frames, `close` cuts it off. */
export interface Follower {
  /** Queues `frame`; returns the bytes still buffered for this follower. */
  send(frame: string): number;
  close(): void;
}

/** The cluster events stream (src/events/store.ts EventStore): stored events first, then live ones. */
export interface EventFollower {
  follow(filter: EventFilter, opts: { signal: AbortSignal; limit?: number }): AsyncIterable<ClusterEvent>;
}

/** What the hub reads from (the leader key too, when the registry can read it). */
export type HubRegistry = ClusterReader & RegistryWatcher & Partial<Pick<LeaderElector, 'currentLeader'>>;

export interface HubOptions {
  registry: HubRegistry;
  log: Logger;
  strategy?: () => PlacementStrategy | undefined;
  /** The feed's source; without it the feed is derived from the hub's own registry watch (FeedState). */
  events?: EventFollower;
  /** Least time between two re-reads of the cluster, ms (default 250). */
  minIntervalMs?: number;
  /** A follower with more than this many bytes unsent is cut off (default 4 MiB). */
  maxBufferedBytes?: number;
  /** How many feed entries are kept for a new follower (default 200). */
  feedSize?: number;
  /** Retry delay after a failed read, ms (default 1000). */
  retryMs?: number;
}

const SCOPES: WatchScope[] = ['units', 'desired', 'schedule', 'machines', 'metadata', 'states', 'groups', 'deployments', 'load', 'cordon', 'drains', 'jobs']
  .map((kind) => ({ kind } as WatchScope));

/** One SSE frame. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class StatusHub {
  private readonly followers = new Set<Follower>();
  private readonly feed: FeedEntry[] = [];
  private readonly feedState = new FeedState();
  private last: StatusView | null = null;
  private ac: AbortController | null = null;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private lastRead = 0;
  private error: string | null = null;
  private pending: FeedEntry[] = [];
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: HubOptions) {}

  /** The latest view (a fresh read when nobody follows). Throws what the registry throws. */
  async status(): Promise<StatusView> {
    if (this.ac && this.last) return this.last;
    const [cluster, leader] = await Promise.all([this.o.registry.readCluster(), this.leader()]);
    return buildStatus(cluster, this.o.strategy?.(), Date.now(), leader);
  }

  /** The leader key's value; null when none or unreadable now (the rest of the view still shows). */
  private async leader(): Promise<string | null> {
    return (await this.o.registry.currentLeader?.().catch(() => null)) ?? null;
  }

  /** Adds a follower: it gets the current view and feed as soon as they are known, then every change. */
  follow(f: Follower): () => void {
    this.followers.add(f);
    if (this.last) this.deliver(f, [sseFrame('status', this.last), sseFrame('feed-all', this.feed)]);
    if (this.error) this.deliver(f, [sseFrame('problem', { message: this.error })]);
    if (!this.ac) this.start();
    return () => this.unfollow(f);
  }

  /** How many followers are connected. */
  get size(): number { return this.followers.size; }

  /** Stops the watch and cuts every follower off. */
  close(): void {
    for (const f of [...this.followers]) { this.followers.delete(f); f.close(); }
    this.stop();
  }

  private unfollow(f: Follower): void {
    this.followers.delete(f);
    if (this.followers.size === 0) this.stop();
  }

  private stop(): void {
    this.ac?.abort();
    this.ac = null;
    this.last = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.pending = [];
    // the next first follower starts from the stream again
    this.feed.length = 0;
  }

  private deliver(f: Follower, frames: string[]): void {
    let buffered = 0;
    for (const fr of frames) buffered = f.send(fr);
    if (buffered > (this.o.maxBufferedBytes ?? 4 << 20)) {
      this.o.log.warn('web page client too slow: cut off', { bufferedBytes: buffered });
      this.followers.delete(f);
      f.close();
    }
  }

  private broadcast(frames: string[]): void {
    for (const f of [...this.followers]) this.deliver(f, frames);
  }

  private start(): void {
    const ac = new AbortController();
    this.ac = ac;
    void this.run(ac.signal).catch((err) => this.o.log.error('web page watch failed', { reason: (err as Error).message }));
    if (this.o.events) void this.followEvents(this.o.events, ac.signal);
  }

  /** Feeds the page from the cluster events stream, following it again after an error. */
  private async followEvents(events: EventFollower, signal: AbortSignal): Promise<void> {
    let since: number | undefined;
    while (!signal.aborted) {
      try {
        for await (const e of events.follow(since === undefined ? {} : { since }, { signal, limit: this.o.feedSize ?? 200 })) {
          if (since !== undefined && e.time <= since && this.feed.some((f) => f.time === e.time && f.kind === e.kind && f.subject === (e.unit ?? e.machine ?? ''))) continue;
          since = e.time;
          this.addFeed([feedEntry(e)]);
          // the leader key is not among the watched scopes: its change comes as this event
          if (e.kind === 'leader.changed') { this.dirty = true; this.schedule(signal); }
        }
      } catch (err) {
        if (signal.aborted) return;
        this.o.log.warn('web page: events stream failed; following it again', { reason: (err as Error).message });
      }
      await new Promise((r) => setTimeout(r, this.o.retryMs ?? 1000));
    }
  }

  /** Keeps entries for new followers and sends them to the current ones (stored events come in a burst: one frame). */
  private addFeed(entries: FeedEntry[]): void {
    this.feed.push(...entries);
    this.feed.splice(0, Math.max(0, this.feed.length - (this.o.feedSize ?? 200)));
    this.pending.push(...entries);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      const out = this.pending.splice(0);
      if (out.length) this.broadcast([sseFrame('feed', out)]);
    }, 50);
  }

  /** Reads once (retrying until it works), then follows the watch from that revision. */
  private async run(signal: AbortSignal): Promise<void> {
    let revision = 0;
    while (!signal.aborted) {
      try {
        revision = await this.read(signal, true);
        break;
      } catch (err) {
        this.problem((err as Error).message);
        await new Promise((r) => setTimeout(r, this.o.retryMs ?? 1000));
      }
    }
    if (signal.aborted) return;
    for await (const batch of this.o.registry.watch(SCOPES, { fromRevision: revision, signal })) {
      if (batch.reset) { this.dirty = true; this.schedule(signal); continue; }
      if (!this.o.events) {
        const entries = this.feedState.entries(batch.events);
        if (entries.length) this.addFeed(entries);
      }
      this.dirty = true;
      this.schedule(signal);
    }
  }

  /** Re-reads soon: at once when the last read is older than minIntervalMs, else when it is. */
  private schedule(signal: AbortSignal): void {
    if (this.timer || this.reading || signal.aborted) return;
    const wait = Math.max(0, this.lastRead + (this.o.minIntervalMs ?? 250) - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      if (signal.aborted || !this.dirty) return;
      this.dirty = false;
      this.read(signal, false).catch((err) => {
        this.problem((err as Error).message);
        this.dirty = true;
        setTimeout(() => this.schedule(signal), this.o.retryMs ?? 1000);
      });
    }, wait);
  }

  private async read(signal: AbortSignal, seed: boolean): Promise<number> {
    this.reading = true;
    try {
      const [cluster, leader] = await Promise.all([this.o.registry.readCluster(), this.leader()]);
      this.lastRead = Date.now();
      if (signal.aborted) return cluster.revision;
      if (seed) {
        const states: [string, string, string][] = [];
        for (const [u, per] of cluster.states ?? []) for (const [m, s] of per) states.push([u, m, s.activeState]);
        this.feedState.seed(cluster.machines.keys(), cluster.schedule, states,
          [...(cluster.deployments ?? new Map())].map(([u, d]) => [u, `${d.status} ${d.step}/${d.steps}`]));
      }
      const view = buildStatus(cluster, this.o.strategy?.(), Date.now(), leader);
      this.last = view;
      if (this.error) { this.error = null; this.broadcast([sseFrame('problem', { message: null })]); }
      this.broadcast(seed ? [sseFrame('status', view), sseFrame('feed-all', this.feed)] : [sseFrame('status', view)]);
      return cluster.revision;
    } finally {
      this.reading = false;
      if (this.dirty && !signal.aborted) this.schedule(signal);
    }
  }

  private problem(message: string): void {
    if (this.error === message) return;
    this.error = message;
    this.o.log.warn('web page: cannot read the cluster', { reason: message });
    this.broadcast([sseFrame('problem', { message })]);
  }
}
