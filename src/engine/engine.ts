/**
 * The engine: campaigns for leadership; while leader, keeps a ClusterModel current from watches and
 * reconciles (snapshot → plan → guarded, batched schedule writes) on changes (debounced) and on a slow
 * safety timer. Losing the lease aborts the term at once; etcd trouble means backoff, never a destructive
 * write: a pass with no live machines writes nothing, and a failed read is never taken as an empty cluster.
 * Leader or not, every engine follows machine records and its own contact with etcd (LivenessWitness), so
 * an etcd outage, a reconnect or a new leader's fresh view is never taken for the death of machines.
 */
import { engineLeader, engineTerms, placements, planDuration, unplaceable } from '../metrics';
import { anyAborted, childController, withDeadline } from '../abort';
import { Backoff } from '../backoff';
import type { MachineSpec } from '../constraints/types';
import { isRetryable } from '../errors';
import type { BadValue, EngineRegistry, LeaderElector, MachineRecord, Leadership, ScheduleChange, WatchScope } from '../etcd/registry';
import type { Logger } from '../log';
import type { PlacementStrategy } from '../units/types';
import { ClusterModel } from './cluster-model';
import { LivenessWitness } from './liveness';
import { plan } from './plan';
import { Deployer } from './deployer';
import { Autoscaler } from './autoscaler';
import { Drainer, stuckOf } from './drainer';
import { Jobber } from './jobber';
import type { Launch } from '../jobs/job';
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
  /**
   * How long a machine whose record vanished while the engine's view was stale (etcd outage, reconnect,
   * new leader) keeps its units, waiting for its agent to re-register, in ms. Default: one machine TTL
   * (5 s) plus 3 s; shoald passes two machine TTLs + 3 s.
   */
  machineGraceMs?: number;
  /** How often the leader evaluates autoscaled groups, ms (default 5000). */
  autoscaleIntervalMs?: number;
  /** How often every engine checks that etcd answers, in ms (default 1000). */
  contactIntervalMs?: number;
  clock?: Clock;
  /** Called with true when this engine becomes the leader and false when its term ends (shoald: V8 tiering). */
  onLeading?: (leading: boolean) => void;
}

/** Moves and unschedules logged one by one per pass (the rest at debug level). */
const MOVES_LOGGED = 20;

/** No answer from etcd for this long (ms) = the engine's view is stale. */
const STALE_MS = 3000;

/** Counters for tests and benches. */
export interface EngineStats {
  terms: number;
  passes: number;
  decisions: number;
  refused: number;
  /** Schedule transactions refused because the model was behind etcd (ScheduleWriter.applySchedule). */
  stale: number;
  fullReads: number;
}

const SCOPES: WatchScope[] = [
  { kind: 'units' }, { kind: 'desired' }, { kind: 'schedule' }, { kind: 'machines' }, { kind: 'metadata' },
  { kind: 'groups' }, { kind: 'deployments' }, { kind: 'promote' }, { kind: 'states' }, { kind: 'load' }, { kind: 'cordon' }, { kind: 'drains' },
  { kind: 'jobs' },
];

/** While a deployment runs, pass at least this often (its HealthyDeadline is a timer, not an event). */
const DEPLOY_TICK_MS = 500;

/** One engine process's scheduler. `run(signal)` until the signal aborts; resigns on the way out. */
export class Engine {
  readonly stats: EngineStats = { terms: 0, passes: 0, decisions: 0, refused: 0, stale: 0, fullReads: 0 };
  private readonly clock: Clock;
  private leading = false;
  /** What this engine has seen of machine liveness (kept across terms). */
  readonly witness: LivenessWitness;
  /** Earliest end of a hold found by the last pass (ms; Infinity when nothing is held). */
  private holdEnds = Infinity;
  private heldKey = '';

  constructor(private readonly opts: EngineOptions) {
    this.clock = opts.clock ?? realClock;
    this.witness = new LivenessWitness({ graceMs: opts.machineGraceMs ?? 8000, staleMs: STALE_MS });
  }

  /** True while this engine holds leadership. */
  get isLeader(): boolean { return this.leading; }

  /** Changes the cluster's default placement strategy (config reload); applies from the next pass on. */
  setStrategy(strategy: PlacementStrategy | undefined): void {
    this.opts.strategy = strategy;
  }

  /** Campaigns, leads, campaigns again after losing, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const value = JSON.stringify({ id: this.opts.id, pid: process.pid, since: new Date().toISOString() });
    const life = childController(signal);
    const following = this.followLiveness(life.signal);
    try {
      await this.campaignLoop(value, signal);
    } finally {
      life.controller.abort();
      life.dispose();
      await following;
    }
  }

  private async campaignLoop(value: string, signal: AbortSignal): Promise<void> {
    const { registry, id, log } = this.opts;
    while (!signal.aborted) {
      const term = await registry.campaign(value, this.opts.ttlSeconds ?? 5, signal);
      if (!term) return;
      this.stats.terms++;
      this.leading = true;
      this.opts.onLeading?.(true);
      engineLeader.set(1);
      engineTerms.inc();
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
        this.opts.onLeading?.(false);
        engineLeader.set(0);
        signal.removeEventListener('abort', stop);
        const why = term.lost.aborted ? String((term.lost.reason as Error)?.message ?? term.lost.reason) : 'stopping';
        log.info('leadership ended', { engine: id, reason: why });
        // bounded: with etcd unreachable the revoke would wait for its call deadline (the lease lapses anyway)
        await withDeadline(term.resign(), 1500, 'etcd.unavailable', 'resign').catch(() => undefined);
      }
      if (!signal.aborted) await this.clock.sleep(100, signal);
    }
  }

  /** One term: read, watch, reconcile until `term` aborts. */
  private async lead(leadership: Leadership, term: AbortSignal): Promise<void> {
    const model = new ClusterModel(this.opts.log);
    const deployer = new Deployer(this.opts.registry, this.opts.log);
    const autoscaler = new Autoscaler(this.opts.registry, this.opts.log, this.opts.autoscaleIntervalMs);
    const drainer = new Drainer(this.opts.registry, this.opts.log);
    const jobber = new Jobber(this.opts.registry, this.opts.log);
    let jobsActive = false;
    if (!(await this.fullRead(model, term))) return;
    this.sawRead(model);
    let dirty = true;
    let wake: (() => void) | null = null;
    const poke = () => { dirty = true; const w = wake; wake = null; w?.(); };
    const watching = this.follow(model, term, poke);
    const safety = this.opts.safetyIntervalMs ?? 30_000;
    const backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
    try {
      while (!term.aborted) {
        if (!dirty) {
          const woken = new Promise<void>((r) => { wake = r; });
          // a held machine's grace ends: plan again then (re-checked each second while any is held)
          const holdIn = this.holdEnds === Infinity && this.heldKey === '' ? safety : Math.max(0, Math.min(this.holdEnds - this.clock.now(), 1000));
          const scaleIn = model.hasAutoscaled ? autoscaler.dueIn(this.clock.now()) : Infinity;
          const wait = Math.min(model.deploymentActive || model.drainActive || jobsActive ? Math.min(safety, DEPLOY_TICK_MS) : safety, holdIn, scaleIn);
          const timer = childController(term);
          await Promise.race([woken, this.clock.sleep(wait, timer.signal)]);
          timer.controller.abort();
          timer.dispose();
          wake = null;
          if (term.aborted) break;
          dirty = true;
        }
        // let a burst of events settle; shorter while a deployment waits on health (each step waits on this)
        const debounce = this.opts.debounceMs ?? 50;
        await this.clock.sleep(model.deploymentActive ? Math.min(debounce, 10) : debounce, term);
        dirty = false;
        try {
          // no live machine: a view we cannot trust, so no deadline is judged on it (like placement)
          // autoscaling first: a new count's instances are created by the group pass right after
          if (model.machineCount > 0 && !(await autoscaler.pass(model, leadership.guard, this.clock.now()))) return;
          const deployed = model.machineCount > 0 ? await deployer.pass(model, leadership.guard, this.clock.now()) : { leader: true };
          if (!deployed.leader) return; // refused: not leader any more
          // batch jobs: runs ended, retries due, completions and timer events (their records before any placement)
          const jobs = model.machineCount > 0 ? await jobber.pass(model, leadership.guard, this.clock.now()) : null;
          if (jobs && !jobs.leader) return;
          jobsActive = jobs?.active ?? jobsActive;
          const passed = await this.pass(model, leadership, drainer, jobs?.launch);
          if (passed === 'not-leader') return; // refused: not leader any more
          if (passed === 'stale') {
            // the model is behind etcd (see ScheduleWriter.applySchedule): plan again once the watch caught up
            dirty = true;
            await this.clock.sleep(backoff.next(), term);
            continue;
          }
          backoff.reset();
        } catch (err) {
          if (!isRetryable(err)) throw err;
          const ms = backoff.next();
          this.opts.log.warn('etcd unavailable during a pass; retrying', { reason: (err as Error).message, backoffMs: ms });
          dirty = true;
          await this.clock.sleep(ms, term);
        }
      }
    } finally {
      await watching;
    }
  }

  /** Loads the model from a full read, retrying etcd trouble; false when the term ended first. */
  private async fullRead(model: ClusterModel, term: AbortSignal): Promise<boolean> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
    while (!term.aborted) {
      try {
        this.stats.fullReads++;
        const state = await this.opts.registry.readCluster();
        this.reportBad(state.bad ?? []);
        model.load(state);
        this.witness.contact(this.clock.now());
        return true;
      } catch (err) {
        if (!isRetryable(err)) throw err;
        this.opts.log.warn('cannot read the cluster; retrying', { reason: (err as Error).message });
        await this.clock.sleep(backoff.next(), term);
      }
    }
    return false;
  }

  /** Tells the witness what a full read found: live records, and machines it thought alive that are gone. */
  private sawRead(model: ClusterModel): void {
    const now = this.clock.now();
    const live = new Set<string>();
    for (const rec of model.liveMachines()) { live.add(rec.id); this.witness.sawAlive(rec, now, model.revision); }
    for (const id of model.absentScheduled()) if (!live.has(id)) this.witness.sawAbsent(id, now, model.revision);
  }

  /**
   * For the engine's whole life (leader or not): checks every `contactIntervalMs` that etcd answers, and
   * follows machine records, so the witness knows which deaths it saw with a fresh view.
   */
  private async followLiveness(signal: AbortSignal): Promise<void> {
    const { registry, log } = this.opts;
    const pinging = (async () => {
      let downSince: number | undefined;
      while (!signal.aborted) {
        try {
          // ends at once on abort: an unanswered ping must not hold up a stop
          const ended = anyAborted([signal]);
          const answered = await Promise.race([registry.currentLeader().then(() => true), ended.done.then(() => false)]).finally(() => ended.dispose());
          if (!answered) break;
          const now = this.clock.now();
          if (downSince !== undefined) {
            log.info('etcd answers again; machines that went away meanwhile get time to re-register',
              { downMs: now - downSince, graceMs: this.witness.options.graceMs });
          }
          downSince = undefined;
          this.witness.contact(now);
        } catch (err) {
          if (downSince === undefined) {
            downSince = this.clock.now();
            log.warn('etcd does not answer; absent machines will not be taken for dead', { reason: (err as Error).message });
          }
        }
        await this.clock.sleep(this.opts.contactIntervalMs ?? 1000, signal);
      }
    })();
    for await (const batch of registry.watch([{ kind: 'machines' }], { signal })) {
      const now = this.clock.now();
      if (batch.reset) { this.witness.rebuilt(now); continue; }
      this.witness.contact(now);
      for (const e of batch.events) if (e.type === 'machine') this.sawMachine(e.machine, e.value, now, batch.revision);
    }
    await pinging;
  }

  private sawMachine(id: string, value: MachineRecord | null, now: number, rev: number): void {
    if (value) this.witness.sawAlive(value, now, rev);
    else this.witness.sawGone(id, now, rev);
  }

  /** Applies watch batches to the model until the term ends; a reset means a full re-read. */
  private async follow(model: ClusterModel, term: AbortSignal, poke: () => void): Promise<void> {
    for await (const batch of this.opts.registry.watch(SCOPES, { fromRevision: model.revision, signal: term })) {
      if (batch.reset) {
        this.opts.log.warn('watch history compacted; re-reading the cluster', { revision: batch.revision });
        this.witness.rebuilt(this.clock.now()); // deaths in the gap were not seen
        if (!(await this.fullRead(model, term))) return;
        this.sawRead(model);
        poke();
        continue;
      }
      if (batch.revision <= model.revision) continue; // already in the full read
      const now = this.clock.now();
      this.witness.contact(now);
      if (batch.bad) { this.reportBad(batch.bad); model.markBad(batch.bad); }
      let changed = false;
      for (const e of batch.events) {
        if (e.type === 'machine') this.sawMachine(e.machine, e.value, now, batch.revision);
        changed = model.apply(e) || changed;
      }
      if (changed) poke();
    }
  }

  /** Absent machines whose units must stay where they are (see LivenessWitness); sets holdEnds, logs changes. */
  private heldMachines(model: ClusterModel): MachineSpec[] {
    const now = this.clock.now();
    const held: MachineSpec[] = [];
    let ends = Infinity;
    const absent = model.absentScheduled();
    for (const id of [...absent].sort()) {
      if (!this.witness.held(id, now)) continue;
      const rec = this.witness.lastRecord(id);
      held.push({ id, address: rec?.address, metadata: rec?.metadata ?? {}, capacity: rec?.capacity ?? { cpuMillis: 0, memoryBytes: 0 } });
      ends = Math.min(ends, this.witness.heldUntil(id));
    }
    this.holdEnds = ends;
    const key = held.map((m) => m.id).join(',');
    if (key !== this.heldKey) {
      if (key) this.opts.log.info('absent machines keep their units until they re-register or their grace ends', { machines: key, graceMs: this.witness.options.graceMs });
      else if (this.heldKey) this.opts.log.info('no machine held any more', { were: this.heldKey });
      this.heldKey = key;
    }
    const keep = new Set(absent);
    for (const rec of model.liveMachines()) keep.add(rec.id);
    this.witness.prune(keep);
    return held;
  }

  /** Logs keys skipped for a bad value (shoalctl's listings show them too): the rest of the cluster goes on. */
  private reportBad(bad: readonly BadValue[]): void {
    for (const b of bad) this.opts.log.warn('bad value in etcd; skipping the key', { key: b.key, reason: b.reason, ...(b.unit ? { unit: b.unit } : {}) });
  }

  /**
   * One reconcile pass: 'not-leader' when etcd refused our writes because we are no longer leader;
   * 'stale' when it refused a transaction because a unit's schedule was not what the model said.
   */
  private async pass(model: ClusterModel, leadership: Leadership, drainer: Drainer, launch?: ReadonlyMap<string, Launch>): Promise<'ok' | 'not-leader' | 'stale'> {
    this.stats.passes++;
    const verdict = (ok: boolean): 'ok' | 'not-leader' => (ok ? 'ok' : 'not-leader');
    if (model.machineCount === 0) {
      // no live machine is either a dead cluster or a view we cannot trust: moving nothing is safe either way
      this.opts.log.warn('no live machines; not changing the schedule');
      return 'ok';
    }
    const endPlan = planDuration.startTimer();
    const t0 = this.clock.now();
    const snapshot = model.snapshot(this.opts.strategy, this.heldMachines(model), launch);
    const drains = drainer.prepare(model, this.clock.now());
    snapshot.evict = drains.evict;
    let result = plan(snapshot);
    // a drained unit no other machine can run stays where it is (planned again without it)
    const stuck = stuckOf(drains, result);
    if (stuck.size) {
      snapshot.evict = drains.evict.filter((u) => !stuck.has(u));
      result = plan(snapshot);
    }
    endPlan();
    unplaceable.set(result.unplaceable.length);
    model.pruneSpecs();
    for (const u of result.unplaceable) {
      this.opts.log.debug('unit cannot be placed', { unit: u.unit, reason: u.reason ?? u.rejections.map((r) => `${r.machine}:${r.plugin}`).join(',') });
    }
    const record = (applied: Decision[]) => drains.machines.length === 0 ? Promise.resolve(true)
      : drainer.record(model, leadership.guard, drains, stuck, applied, this.clock.now());
    if (result.decisions.length === 0) return verdict(await record([]));
    const t1 = this.clock.now();
    const decisions = byMachine(result.decisions);
    const res = await this.opts.registry.applySchedule(leadership.guard, decisions.map(toChange));
    let told = 0;
    for (const d of decisions.slice(0, res.applied)) {
      model.schedule.delete(d.unit);
      if (d.kind === 'place') model.schedule.set(d.unit, d.machine);
      if (d.kind === 'move') model.schedule.set(d.unit, d.to);
      // a unit taken off a machine is what an operator asks about afterwards: say why (bounded per pass)
      if (d.kind !== 'place' && told++ < MOVES_LOGGED) this.opts.log.info('unit taken off its machine', { kind: d.kind, unit: d.unit, from: d.from, ...(d.kind === 'move' ? { to: d.to } : {}), reason: d.reason });
      else this.opts.log.debug('schedule', { kind: d.kind, unit: d.unit, reason: d.reason });
      placements.inc({ kind: d.kind });
    }
    this.stats.decisions += res.applied;
    if (res.applied) this.opts.log.info('schedule written', { decisions: res.applied, txns: res.txns, planMs: t1 - t0, writeMs: this.clock.now() - t1 });
    if (res.notLeader) {
      this.stats.refused++;
      this.opts.log.warn('placement refused by etcd: no longer leader', { engine: this.opts.id });
      return 'not-leader';
    }
    const recorded = verdict(await record(decisions.slice(0, res.applied)));
    if (res.stale && recorded === 'ok') {
      this.stats.stale++;
      this.opts.log.warn('placement refused by etcd: a unit\'s schedule changed under the plan; planning again', { applied: res.applied });
      return 'stale';
    }
    return recorded;
  }
}

/**
 * The plan's decisions in write order: unschedules and moves as planned, then the places grouped by machine
 * (by unit name within one). A machine's new units then land in one or a few transactions, so its agent gets
 * them in one watch batch and starts them in one reconcile (one daemon-reload, one state report).
 */
export function byMachine(decisions: readonly Decision[]): Decision[] {
  const places = decisions.filter((d): d is Extract<Decision, { kind: 'place' }> => d.kind === 'place');
  const rest = decisions.filter((d) => d.kind !== 'place');
  places.sort((a, b) => (a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0));
  return [...rest, ...places];
}

function toChange(d: Decision): ScheduleChange {
  switch (d.kind) {
    case 'place': return { kind: 'place', unit: d.unit, machine: d.machine };
    case 'unschedule': return { kind: 'unschedule', unit: d.unit, from: d.from };
    case 'move': return { kind: 'move', unit: d.unit, from: d.from, to: d.to };
  }
}
