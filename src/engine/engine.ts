/**
 * The engine: campaigns for leadership; while leader, keeps a ClusterModel current from watches and
 * reconciles (snapshot → plan → guarded, batched schedule writes) on changes (debounced) and on a slow
 * safety timer. Losing the lease aborts the term at once; etcd trouble means backoff, never a destructive
 * write: a pass with no live machines writes nothing, and a failed read is never taken as an empty cluster.
 */
import { isRetryable } from '../errors';
import type { EngineRegistry, LeaderElector, Leadership, ScheduleChange, WatchScope } from '../etcd/registry';
import type { Logger } from '../log';
import type { PlacementStrategy } from '../units/types';
import { ClusterModel } from './cluster-model';
import { plan } from './plan';
import { Deployer } from './deployer';
import type { Decision } from './types';

/** Time, injectable for tests. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** setTimeout-based clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => { signal.removeEventListener('abort', done); resolve(); }, ms);
    const done = () => { clearTimeout(t); resolve(); };
    signal.addEventListener('abort', done, { once: true });
  }),
};

/** Engine settings. */
export interface EngineOptions {
  registry: EngineRegistry & LeaderElector;
  /** This engine's id (shown as the leader). */
  id: string;
  log: Logger;
  /** Leader lease TTL in seconds (default 5). */
  ttlSeconds?: number;
  /** Quiet time after a change before planning (default 50 ms). */
  debounceMs?: number;
  /** Plan at least this often even without events (default 30 s; in-memory, no etcd reads). */
  safetyIntervalMs?: number;
  strategy?: PlacementStrategy;
  clock?: Clock;
}

/** Counters for tests and benches. */
export interface EngineStats {
  terms: number;
  passes: number;
  decisions: number;
  refused: number;
  fullReads: number;
}

const SCOPES: WatchScope[] = [
  { kind: 'units' }, { kind: 'desired' }, { kind: 'schedule' }, { kind: 'machines' }, { kind: 'metadata' },
  { kind: 'groups' }, { kind: 'deployments' }, { kind: 'promote' }, { kind: 'states' },
];

/** While a deployment runs, pass at least this often (its HealthyDeadline is a timer, not an event). */
const DEPLOY_TICK_MS = 500;

/** One engine process's scheduler. `run(signal)` until the signal aborts; resigns on the way out. */
export class Engine {
  readonly stats: EngineStats = { terms: 0, passes: 0, decisions: 0, refused: 0, fullReads: 0 };
  private readonly clock: Clock;
  private leading = false;

  constructor(private readonly opts: EngineOptions) {
    this.clock = opts.clock ?? realClock;
  }

  /** True while this engine holds leadership. */
  get isLeader(): boolean { return this.leading; }

  /** Changes the cluster's default placement strategy (config reload); applies from the next pass on. */
  setStrategy(strategy: PlacementStrategy | undefined): void {
    this.opts.strategy = strategy;
  }

  /** Campaigns, leads, campaigns again after losing, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { registry, id, log } = this.opts;
    const value = JSON.stringify({ id, pid: process.pid, since: new Date().toISOString() });
    while (!signal.aborted) {
      const term = await registry.campaign(value, this.opts.ttlSeconds ?? 5, signal);
      if (!term) return;
      this.stats.terms++;
      this.leading = true;
      log.info('elected leader', { engine: id, revision: term.guard.createRevision });
      const ctl = new AbortController();
      const stop = () => ctl.abort();
      signal.addEventListener('abort', stop, { once: true });
      term.lost.addEventListener('abort', stop, { once: true });
      try {
        await this.lead(term, ctl.signal);
      } catch (err) {
        log.error('leader loop failed', { engine: id, reason: (err as Error).message });
      } finally {
        this.leading = false;
        signal.removeEventListener('abort', stop);
        const why = term.lost.aborted ? String((term.lost.reason as Error)?.message ?? term.lost.reason) : 'stopping';
        log.info('leadership ended', { engine: id, reason: why });
        await term.resign();
      }
      if (!signal.aborted) await this.clock.sleep(100, signal);
    }
  }

  /** One term: read, watch, reconcile until `term` aborts. */
  private async lead(leadership: Leadership, term: AbortSignal): Promise<void> {
    const model = new ClusterModel(this.opts.log);
    const deployer = new Deployer(this.opts.registry, this.opts.log);
    if (!(await this.fullRead(model, term))) return;
    let dirty = true;
    let wake: (() => void) | null = null;
    const poke = () => { dirty = true; const w = wake; wake = null; w?.(); };
    const watching = this.follow(model, term, poke);
    const safety = this.opts.safetyIntervalMs ?? 30_000;
    let backoff = 100;
    try {
      while (!term.aborted) {
        if (!dirty) {
          const woken = new Promise<void>((r) => { wake = r; });
          const timer = new AbortController();
          const wait = model.deploymentActive ? Math.min(safety, DEPLOY_TICK_MS) : safety;
          await Promise.race([woken, this.clock.sleep(wait, AbortSignal.any([term, timer.signal]))]);
          timer.abort();
          wake = null;
          if (term.aborted) break;
        }
        await this.clock.sleep(this.opts.debounceMs ?? 50, term); // let a burst of events settle
        dirty = false;
        try {
          // no live machine: a view we cannot trust, so no deadline is judged on it (like placement)
          const deployed = model.machineCount > 0 ? await deployer.pass(model, leadership.guard, this.clock.now()) : { leader: true };
          if (!deployed.leader) return; // refused: not leader any more
          if (!(await this.pass(model, leadership))) return; // refused: not leader any more
          backoff = 100;
        } catch (err) {
          if (!isRetryable(err)) throw err;
          this.opts.log.warn('etcd unavailable during a pass; retrying', { reason: (err as Error).message, backoffMs: backoff });
          dirty = true;
          await this.clock.sleep(backoff, term);
          backoff = Math.min(backoff * 2, 5000);
        }
      }
    } finally {
      await watching;
    }
  }

  /** Loads the model from a full read, retrying etcd trouble; false when the term ended first. */
  private async fullRead(model: ClusterModel, term: AbortSignal): Promise<boolean> {
    let backoff = 100;
    while (!term.aborted) {
      try {
        this.stats.fullReads++;
        model.load(await this.opts.registry.readCluster());
        return true;
      } catch (err) {
        if (!isRetryable(err)) throw err;
        this.opts.log.warn('cannot read the cluster; retrying', { reason: (err as Error).message });
        await this.clock.sleep(backoff, term);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    return false;
  }

  /** Applies watch batches to the model until the term ends; a reset means a full re-read. */
  private async follow(model: ClusterModel, term: AbortSignal, poke: () => void): Promise<void> {
    for await (const batch of this.opts.registry.watch(SCOPES, { fromRevision: model.revision, signal: term })) {
      if (batch.reset) {
        this.opts.log.warn('watch history compacted; re-reading the cluster', { revision: batch.revision });
        if (!(await this.fullRead(model, term))) return;
        poke();
        continue;
      }
      if (batch.revision <= model.revision) continue; // already in the full read
      let changed = false;
      for (const e of batch.events) changed = model.apply(e) || changed;
      if (changed) poke();
    }
  }

  /** One reconcile pass; false when etcd refused our writes because we are no longer leader. */
  private async pass(model: ClusterModel, leadership: Leadership): Promise<boolean> {
    this.stats.passes++;
    if (model.machineCount === 0) {
      // no live machine is either a dead cluster or a view we cannot trust: moving nothing is safe either way
      this.opts.log.warn('no live machines; not changing the schedule');
      return true;
    }
    const result = plan(model.snapshot(this.opts.strategy));
    model.pruneSpecs();
    for (const u of result.unplaceable) {
      this.opts.log.debug('unit cannot be placed', { unit: u.unit, reason: u.reason ?? u.rejections.map((r) => `${r.machine}:${r.plugin}`).join(',') });
    }
    if (result.decisions.length === 0) return true;
    const res = await this.opts.registry.applySchedule(leadership.guard, result.decisions.map(toChange));
    for (const d of result.decisions.slice(0, res.applied)) {
      model.schedule.delete(d.unit);
      if (d.kind === 'place') model.schedule.set(d.unit, d.machine);
      if (d.kind === 'move') model.schedule.set(d.unit, d.to);
      this.opts.log.debug('schedule', { kind: d.kind, unit: d.unit, reason: d.reason });
    }
    this.stats.decisions += res.applied;
    if (res.applied) this.opts.log.info('schedule written', { decisions: res.applied, txns: res.txns });
    if (res.notLeader) {
      this.stats.refused++;
      this.opts.log.warn('placement refused by etcd: no longer leader', { engine: this.opts.id });
      return false;
    }
    return true;
  }
}

function toChange(d: Decision): ScheduleChange {
  switch (d.kind) {
    case 'place': return { kind: 'place', unit: d.unit, machine: d.machine };
    case 'unschedule': return { kind: 'unschedule', unit: d.unit, from: d.from };
    case 'move': return { kind: 'move', unit: d.unit, from: d.from, to: d.to };
  }
}
