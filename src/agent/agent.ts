/**
 * The agent: registers this machine, follows what etcd wants of it by watch, reconciles systemd to
 * it (debounced on changes, plus a slow safety timer), and reports unit states when they change.
 * It never stops units because it restarted or lost etcd: it adopts what runs, and keeps its last
 * view of etcd until it can read a new one.
 */
import { reconcileDuration, reconcilePasses } from '../metrics';
import { anyAborted, childController, withDeadline } from '../abort';
import { Backoff } from '../backoff';
import type { AgentRegistry, MachineRecord, MachineSession } from '../etcd/registry';
import { isRetryable } from '../errors';
import type { Logger } from '../log';
import type { UnitSpec } from '../units/types';
import { agentScopes, AgentViewState, type UnitParser } from './agent-view';
import type { Clock } from './clock';
import { systemClock } from './clock';
import { wantedUnits } from './desired';
import { computeTasks, executeTasks, type DesiredUnit, type Task } from './reconcile';
import { shutdownKind, type ShutdownKind } from './shutdown';
import { STOP_CORDON_BY, STOP_DRAIN_MS } from '../drain/types';
import { StateReporter, type ReportedState } from './state-reporter';
import { LoadReporter } from './load-reporter';
import type { LoadSource } from './load-sampler';
import { HealthMonitor } from '../health/monitor';
import { isRunningState, type Systemd } from './systemd';
import { unitReason } from './unit-reason';
import { fileHash, hashHeader, UnitManager, type ManagedUnit } from './unit-manager';

/** Everything an agent needs. */
export interface AgentOptions {
  registry: AgentRegistry;
  systemd: Systemd;
  /** This machine as it registers (id, metadata, capacity, ...). */
  machine: MachineRecord;
  /** Lease TTL of the machine record and its states. */
  ttlSeconds: number;
  parseUnit: UnitParser;
  /** systemd text of a container unit (the container generator); required to run container units. */
  renderContainerUnit?: (spec: UnitSpec) => string;
  /** A container unit's Docker health (its image's HEALTHCHECK): healthy | unhealthy | starting; null when none. */
  containerHealth?: (unit: string) => Promise<string | null>;
  /** Removes this machine's containers whose unit is not running (called once, after adoption). */
  removeOrphans?: (isActive: (unit: string) => Promise<boolean>) => Promise<void>;
  unitDir?: string;
  fsRoot?: string;
  clock?: Clock;
  /** Samples this machine's real load (load-sampler.ts); no load reports without it. */
  loadSource?: LoadSource;
  /** Load sampling interval, ms (default 5 s): at most one load write per interval. */
  loadIntervalMs?: number;
  /** How long a machine leaving for good waits for its units to be placed elsewhere (default 10 s). */
  leaveWaitMs?: number;
  /** How long a stop for good waits for the gradual drain of this machine (default STOP_DRAIN_MS; 0: no drain). */
  stopDrainMs?: number;
  /** Wait after a watch event before reconciling, to batch bursts (default 10 ms). */
  debounceMs?: number;
  /** Reconcile at least this often even without events (default 60 s). */
  safetyIntervalMs?: number;
  /** A start/stop job running longer than this (ms) is reported late (default 90 s, systemd's own start timeout). */
  jobTimeoutMs?: number;
  log: Logger;
}

const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 2000;
/** A refusal (duplicate machine id) lasts until an operator acts: retry slower than an outage. */
const REFUSED_BACKOFF_MAX_MS = 30_000;
/** Repeats of the same registration error between two reminders in the log. */
const REGISTER_REMINDER_EVERY = 20;
/** Retry delays of one failing unit (ms): first, and at most. */
const UNIT_RETRY_MIN_MS = 1000;
const UNIT_RETRY_MAX_MS = 60_000;
/** A drain no leader has taken up within this long (ms) is given up: no engine is left to do it. */
const DRAIN_PICKUP_MS = 10_000;
/** Orphan container cleanup gives up after this long (ms): a hung dockerd must not hold the agent. */
const ORPHAN_CLEANUP_TIMEOUT_MS = 30_000;

/** Why a unit cannot get to its desired state here, and when the agent tries it again. */
interface UnitFailure {
  attempts: number;
  /** This unit's own retry schedule (shoal's one jittered backoff). */
  backoff: Backoff;
  /** ms since the epoch (the agent's clock). */
  retryAt: number;
  reason: string;
  /** The user's unit hash (reported with the error when the unit has no file here). */
  hash: string;
}

/** One agent. `run(signal)` until aborted; units keep running after it returns. */
export class Agent {
  private readonly o: Required<Pick<AgentOptions, 'debounceMs' | 'safetyIntervalMs'>> & AgentOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly view: AgentViewState;
  private readonly units: UnitManager;
  private readonly reporter: StateReporter;
  private readonly health: HealthMonitor;
  private readonly load: LoadReporter | undefined;
  private viewReady = false;
  private running = false;
  private again = false;
  private timer: unknown;
  private resyncWatch: (() => void) | undefined;
  private session: MachineSession | null = null;
  private due = Infinity;
  private readonly failures = new Map<string, UnitFailure>();
  /** Installed file text and hash by parsed unit (a new text is a new parse: AgentViewState re-parses on a new hash). */
  private readonly files = new WeakMap<UnitSpec, { text: string; hash: string }>();
  /** Set once shoald is stopped for good and the machine left: no more reconcile passes. */
  private halted = false;
  private shutdown: ShutdownKind = 'restart';
  /** Reconcile passes run so far (tests read it). */
  passes = 0;

  constructor(opts: AgentOptions) {
    // `??`, not a spread under defaults: shoald passes these options as undefined, and a spread kept the undefined,
    // so every pass scheduled the next one in NaN ms (1 ms): ~500 passes a second on every machine, idle or not
    this.o = { ...opts, debounceMs: opts.debounceMs ?? 10, safetyIntervalMs: opts.safetyIntervalMs ?? 60_000 };
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log.child({ component: 'agent', machine: opts.machine.id });
    this.view = new AgentViewState(opts.machine.id, opts.machine.metadata, opts.parseUnit, this.log);
    this.units = new UnitManager({
      systemd: opts.systemd, dir: opts.unitDir, fsRoot: opts.fsRoot, log: this.log, jobTimeoutMs: opts.jobTimeoutMs,
      // a job ended or turned late, or an unload finished: report it; a finished unload needs a pass (unlink, reload),
      // a job's end does not (what a pass does with a unit does not depend on it: 1,000 starts were 1,000 kicks)
      onSettled: (name, unit, what) => { this.reportUnit(name); if (what === 'unload' && (!unit || !unit.busy)) this.kick(this.o.debounceMs); },
    });
    this.reporter = new StateReporter(this.clock, this.log);
    if (opts.loadSource) {
      this.load = new LoadReporter({
        source: opts.loadSource, clock: this.clock, log: this.log, intervalMs: opts.loadIntervalMs,
        // running services: what cgroup accounting can say something about
        units: () => this.units.list().filter((u) => u.name.endsWith('.service') && isRunningState(u.state.activeState)).map((u) => u.name),
      });
    }
    this.health = new HealthMonitor({
      clock: this.clock, log: this.log, containerHealth: opts.containerHealth,
      restart: async (unit) => { await this.units.restart(unit); },
      onChange: (unit) => { if (this.units.get(unit)) this.reportUnit(unit); },
    });
  }

  /** A unit's reported state: systemd's, with its health when it is launched here. */
  private stateOf(u: ManagedUnit) {
    return { ...reported(u), ...this.health.of(u.name) };
  }

  /** Runs until `signal` aborts. Throws only when systemd cannot be used at start. */
  async run(signal: AbortSignal): Promise<void> {
    this.units.onState((u) => { this.health.observe(observed(u)); this.reportUnit(u.name); });
    // the loops end after the shutdown is worked out (and, for a stop for good, after the machine left)
    const loops = new AbortController();
    // registering first: a restarted shoald holds its machine again before adopting its units (100 units through
    // D-Bus took 2 s at load 9, and the lease the last process handed over runs out TTL seconds after it stopped).
    // No pass runs before the adoption: passes wait for the view, which the view loop reads after it.
    const session = this.sessionLoop(loops.signal);
    let adopted: ManagedUnit[];
    try {
      adopted = await this.units.adopt();
    } catch (err) {
      loops.abort();
      await session;
      throw err;
    }
    this.load?.start();
    for (const u of adopted) this.reportUnit(u.name);
    this.log.info('adopted units from the runtime dir', { count: adopted.length, running: adopted.filter((u) => u.started).length });
    if (this.o.removeOrphans) {
      // in the background, with a deadline: registration never waits on Docker (a hung dockerd would let the lease lapse)
      const isActive = async (unit: string) => isRunningState(this.units.get(unit)?.state.activeState ?? '');
      void within(this.o.removeOrphans(isActive), ORPHAN_CLEANUP_TIMEOUT_MS, 'orphan container cleanup')
        .catch((err) => this.log.warn('orphan cleanup failed', { err: String(err) }));
    }
    const onAbort = () => {
      void this.onShutdown().catch((err) => this.log.error('shutdown step failed', { err: String(err) }))
        .finally(() => { loops.abort(); this.resyncWatch?.(); });
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all([session, this.viewLoop(loops.signal)]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.halted = true;
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      // a pass in progress gets a bounded while to finish (its systemd calls have deadlines of their own)
      for (const until = this.clock.now() + 5000; this.running && this.clock.now() < until;) await sleep(this.clock, 10);
      this.health.close();
      this.load?.close();
      this.reporter.close();
      this.units.close();
    }
  }

  /**
   * Applies a reloaded machine config (address, static metadata, capacity): rewrites the machine record
   * (the engine re-checks placements against it) and reconciles global units against the new metadata.
   * The id cannot change. UnavailableError when etcd is unreachable (the next registration uses it anyway).
   */
  async updateMachine(update: Pick<MachineRecord, 'address' | 'metadata' | 'capacity'>): Promise<void> {
    this.o.machine = { ...this.o.machine, ...update };
    this.view.setStaticMetadata(update.metadata);
    this.kick(0);
    await this.session?.update({ ...this.o.machine, startedAt: new Date(this.clock.now()).toISOString() });
  }

  /** Managed units now (tests). */
  managed(): ManagedUnit[] {
    return this.units.list();
  }

  /** The load reporter's counters and last sample (tests, benches); undefined without a load source. */
  get loadReporter(): LoadReporter | undefined {
    return this.load;
  }

  /** Resolves when every state change so far is written to etcd. */
  reported(): Promise<void> {
    return this.reporter.idle();
  }

  /**
   * What a SIGTERM means (asked of systemd, bounded): a restart keeps everything; a stop for good makes
   * the machine leave (see leave); a poweroff gives the lease up at once (in sessionLoop).
   */
  private async onShutdown(): Promise<void> {
    this.shutdown = await shutdownKind(this.o.systemd, this.log);
    if (this.shutdown === 'stop') await this.leave();
  }

  /**
   * shoald stopped for good on a machine that stays up (issue 9, fault 2): no copy of a unit may stay
   * behind. With etcd reachable the record is marked `leaving`: the engine places the units elsewhere
   * and this agent's own reconcile stops each one as it goes (bounded wait, `leaveWaitMs`). Then, etcd
   * reachable or not, every unit still managed here is stopped and unloaded (bounded), and the lease is
   * revoked by sessionLoop (or, unreachable, lapses with nothing left running). Reusable by a drain.
   */
  private async leave(): Promise<void> {
    const session = this.session;
    const waitMs = this.o.leaveWaitMs ?? 10_000;
    if (session) {
      try {
        await this.drainBeforeLeaving(session);
        await withDeadline(session.update({ ...this.o.machine, leaving: true, startedAt: new Date(this.clock.now()).toISOString() }),
          2000, 'etcd.unavailable', 'marking the machine leaving');
        this.log.info('stopping for good: machine marked leaving; waiting for its units to be placed elsewhere', { waitMs });
        const until = this.clock.now() + waitMs;
        while (this.view.snapshot().assigned.size > 0 && this.clock.now() < until && !session.lost.aborted) await sleep(this.clock, 100);
        const left = this.view.snapshot().assigned.size;
        if (left) this.log.warn('units still assigned here after the wait; stopping them anyway', { units: left });
      } catch (err) {
        this.log.warn('cannot drain or mark the machine leaving (etcd unreachable?); stopping its units so none survives the lease', { err: String(err) });
      }
    } else {
      this.log.warn('stopping for good without a registration (etcd unreachable?); stopping the units here');
    }
    this.halted = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    for (const until = this.clock.now() + 5000; this.running && this.clock.now() < until;) await sleep(this.clock, 10);
    await this.unloadAll(5000);
  }

  /**
   * The gradual part of a stop for good (docs/operations.md): cordons this machine with a drain request
   * (by STOP_CORDON_BY, or keeping an operator's cordon) and waits until the leader reports it done, so
   * groups keep `count − UpdateParallel` healthy instances while the units move. Bounded: the drain's own
   * deadline (when the leader moves the rest at once) falls 5 s before this wait of `stopDrainMs` ends, and a
   * drain no leader takes up within DRAIN_PICKUP_MS is given up. A drain already running (an operator's
   * `shoalctl drain` before the stop) is followed, not restarted. Throws when etcd cannot be written (2 s):
   * the caller then stops the units at once.
   */
  private async drainBeforeLeaving(session: MachineSession): Promise<void> {
    const reg = this.o.registry;
    const budget = this.o.stopDrainMs ?? STOP_DRAIN_MS;
    if (budget <= 0 || !reg.getCordon || !reg.putCordon || !reg.getDrainProgress) return;
    const id = this.o.machine.id;
    const t0 = this.clock.now();
    const cur = await withDeadline(reg.getCordon(id), 2000, 'etcd.unavailable', 'reading the cordon');
    const old = cur?.drain ? await withDeadline(reg.getDrainProgress(id), 2000, 'etcd.unavailable', 'reading the drain') : null;
    let drainId: string;
    if (cur?.drain && !(old?.id === cur.drain.id && old.status === 'done')) {
      drainId = cur.drain.id;
      this.log.info('stopping for good: following the drain already running', { drain: drainId });
    } else {
      drainId = `${id.slice(0, 12)}-${t0}`;
      const deadlineAt = t0 + Math.max(1000, budget - 5000);
      await withDeadline(reg.putCordon(id, { since: cur?.since ?? t0, by: cur?.by ?? STOP_CORDON_BY, drain: { id: drainId, startedAt: t0, deadlineAt } }),
        2000, 'etcd.unavailable', 'asking for a drain');
      this.log.info('stopping for good: draining the machine first', { drain: drainId, deadlineMs: deadlineAt - t0 });
    }
    const until = t0 + budget;
    let picked = false;
    while (this.clock.now() < until && !session.lost.aborted) {
      const p = await withDeadline(reg.getDrainProgress(id), 2000, 'etcd.unavailable', 'reading the drain').catch(() => null);
      if (p?.id === drainId) {
        picked = true;
        if (p.status === 'done') { this.log.info('drained', { drain: drainId, message: p.message, ms: this.clock.now() - t0 }); return; }
      }
      if (!picked && this.clock.now() - t0 >= DRAIN_PICKUP_MS) {
        this.log.warn('no leader took the drain up; leaving without it', { drain: drainId, waitedMs: this.clock.now() - t0 });
        return;
      }
      await sleep(this.clock, 250);
    }
    this.log.warn('drain not done in time; the rest moves at once', { drain: drainId, waitedMs: this.clock.now() - t0 });
  }

  /** Lifts the cordon a stop for good left (STOP_CORDON_BY): the machine is back. An operator's cordon stays. */
  private async liftStopCordon(): Promise<void> {
    const reg = this.o.registry;
    if (!reg.getCordon || !reg.deleteCordon) return;
    try {
      const cur = await withDeadline(reg.getCordon(this.o.machine.id), 2000, 'etcd.unavailable', 'reading the cordon');
      if (cur?.by !== STOP_CORDON_BY) return;
      await withDeadline(reg.deleteCordon(this.o.machine.id), 2000, 'etcd.unavailable', 'lifting the cordon');
      this.log.info('lifted the cordon of the last stop for good: the machine takes units again');
    } catch (err) {
      this.log.warn('cannot lift the cordon of the last stop for good; shoalctl uncordon lifts it', { err: String(err) });
    }
  }

  /**
   * Stops and unloads every managed unit within `ms`: the stop jobs are queued at once (systemd carries
   * them out even if shoald exits first), then the files go and one daemon-reload unlinks them.
   */
  private async unloadAll(ms: number): Promise<void> {
    const until = this.clock.now() + ms;
    const names = this.units.list().map((u) => u.name);
    const queued = await withDeadline(Promise.allSettled(names.map((n) => this.units.unload(n))), ms, 'systemd.timeout', 'queueing stop jobs')
      .catch((err) => { this.log.warn('not every stop job was queued in time', { err: String(err) }); return []; });
    const refused = queued.filter((r) => r.status === 'rejected').length;
    if (refused) this.log.warn('systemd refused some stops', { units: refused });
    while (this.units.list().length > 0 && this.clock.now() < until) await sleep(this.clock, 50);
    for (const n of names) this.reporter.update(n, null);
    await withDeadline(this.units.reload(), Math.max(500, until - this.clock.now()), 'systemd.timeout', 'daemon-reload after unloading')
      .catch((err) => this.log.warn('daemon-reload after unloading failed', { err: String(err) }));
    this.log.info('units stopped and unloaded', { units: names.length, left: this.units.list().length });
  }

  /** Keeps the machine registered: registers, waits for the lease to be lost, registers again. */
  private async sessionLoop(signal: AbortSignal): Promise<void> {
    // jittered (cockatiel), 200 ms to 2 s: after an etcd outage the agent must be back within the engine's grace
    const backoff = new Backoff({ initialMs: BACKOFF_MIN_MS, maxMs: BACKOFF_MAX_MS });
    const refusedBackoff = new Backoff({ initialMs: BACKOFF_MIN_MS, maxMs: REFUSED_BACKOFF_MAX_MS });
    let first = true;
    let lastError = '';
    let repeats = 0;
    while (!signal.aborted) {
      let session: MachineSession;
      try {
        session = await this.o.registry.register({ ...this.o.machine, startedAt: new Date(this.clock.now()).toISOString() }, this.o.ttlSeconds);
      } catch (err) {
        // once per distinct error (a refused duplicate id would otherwise fill the journal), then a reminder
        const retryable = isRetryable(err);
        if (String(err) !== lastError) {
          lastError = String(err);
          repeats = 0;
          if (retryable) this.log.warn('cannot register machine; retrying with backoff', { err: lastError });
          else this.log.error('machine refused; retrying with backoff until it is accepted', { err: lastError });
        } else if (++repeats % REGISTER_REMINDER_EVERY === 0) {
          this.log.warn('still cannot register machine', { attempts: repeats + 1, err: lastError });
        }
        await sleep(this.clock, (retryable ? backoff : refusedBackoff).next(), signal);
        continue;
      }
      backoff.reset();
      refusedBackoff.reset();
      lastError = '';
      // uptimeMs: the process's age, i.e. how long a (re)started shoald took to hold its machine again
      this.log.info('machine registered', { ttl: this.o.ttlSeconds, uptimeMs: Math.round(process.uptime() * 1000) });
      this.reporter.setSession(session);
      this.load?.setSession(session);
      this.session = session;
      this.kick(0);
      // reconnected: re-read everything (units may have moved away while we were cut off)
      if (!first) this.resyncWatch?.();
      else void this.liftStopCordon();
      first = false;
      const ended = anyAborted([session.lost, signal]);
      await ended.done;
      ended.dispose();
      this.session = null;
      this.reporter.setSession(null);
      this.load?.setSession(null);
      if (signal.aborted) {
        // A shoald restart must not let the record lapse (the engine would move every unit away):
        // leave the lease to the next agent, which takes it over. A machine going down, or one that left
        // for good (its units are stopped), gives it up now (bounded: the revoke has the call deadline).
        if (this.shutdown === 'restart') await withDeadline(session.handOver(), 1000, 'etcd.unavailable', 'lease keep-alive').catch(() => session.detach());
        else await withDeadline(session.close(), 1500, 'etcd.unavailable', 'lease revoke').catch(() => session.detach());
        return;
      }
      this.log.warn('machine lease lost; units keep running, registering again', { reason: String(session.lost.reason ?? '') });
    }
  }

  /** Reads the view, then follows it by watch; re-reads on a compaction reset or a reconnect. */
  private async viewLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: BACKOFF_MIN_MS, maxMs: BACKOFF_MAX_MS });
    while (!signal.aborted) {
      let from: number;
      try {
        from = await this.view.readAll(this.o.registry);
      } catch (err) {
        // never "desired = nothing": the previous view (or none yet, and then no reconcile) stays
        this.log.warn('cannot read desired units; keeping the last view', { err: String(err) });
        await sleep(this.clock, backoff.next(), signal);
        continue;
      }
      backoff.reset();
      this.viewReady = true;
      this.kick(0);
      const stop = childController(signal); // not AbortSignal.any: that keeps a dependant on `signal` per resync
      this.resyncWatch = () => stop.controller.abort();
      try {
        for await (const batch of this.o.registry.watch(agentScopes(this.o.machine.id), { fromRevision: from, signal: stop.signal })) {
          if (batch.reset) break;
          if (batch.bad) this.view.markBad(batch.bad);
          if (this.view.apply(batch.events) || batch.bad) this.kick(this.o.debounceMs);
        }
      } finally {
        stop.dispose();
        this.resyncWatch = undefined;
      }
    }
  }

  /**
   * Schedules a reconcile pass in `delayMs` (sooner wins); a pass in progress is followed by another.
   * No pass runs without a live registration: an agent refused as a duplicate id, or cut off from etcd,
   * changes nothing on its machine (what runs keeps running).
   */
  private kick(delayMs: number): void {
    if (!this.viewReady || !this.session || this.halted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const due = this.clock.now() + delayMs;
    if (this.timer !== undefined) {
      if (this.due <= due) return;
      this.clock.clearTimeout(this.timer);
    }
    this.due = due;
    this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.due = Infinity; void this.pass(); }, delayMs);
  }

  private async pass(): Promise<void> {
    this.running = true;
    this.again = false;
    let retryIn = this.o.safetyIntervalMs;
    const endPass = reconcileDuration.startTimer();
    try {
      retryIn = Math.min(retryIn, await this.reconcileOnce());
    } catch (err) {
      this.log.error('reconcile pass failed', { err: String(err) });
      retryIn = 1000;
    } finally {
      this.running = false;
      this.passes++;
      endPass();
      reconcilePasses.inc();
    }
    this.kick(this.again ? 0 : retryIn);
  }

  /**
   * One diff + execute. A unit that fails keeps its failure as its reported state and is retried with
   * its own backoff; its tasks are held back until then, and nobody else's are. Returns ms until the
   * next pass is due for a retry (Infinity when none).
   */
  private async reconcileOnce(): Promise<number> {
    const { wanted, skipped } = wantedUnits(this.view.snapshot());
    for (const s of skipped) this.log.debug('global unit not run here', { unit: s.unit, reason: s.reason });
    const texts = new Map<string, string>();
    const desired: DesiredUnit[] = [];
    const now = this.clock.now();
    const frozen = this.view.frozen(); // bad or unparsable in etcd: left exactly as they are
    for (const w of wanted) {
      if (frozen.has(w.spec.name)) continue;
      const file = this.installFile(w.spec);
      if (file === undefined) {
        this.fail(w.spec.name, w.spec.hash, 'container unit, but this agent has no container support', now, Infinity);
        continue;
      }
      texts.set(w.spec.name, file.text);
      desired.push({ name: w.spec.name, fileHash: file.hash, target: w.target, ...(w.spec.job ? { once: true } : {}) });
    }
    this.health.sync(wanted.filter((w) => w.target === 'launched' && texts.has(w.spec.name)).map((w) => w.spec));
    const managed = this.units.list();
    for (const u of managed) this.health.observe(observed(u));
    // failures of units no longer wanted here are over
    for (const name of [...this.failures.keys()]) {
      if (!texts.has(name) && !wanted.some((w) => w.spec.name === name)) { this.failures.delete(name); this.reportUnit(name); }
    }
    const actual = managed.map((u) => (frozen.has(u.name) ? { ...u, busy: true } : u));
    const all = computeTasks(desired, actual, { linksPending: this.units.linksPending() });
    const held = new Set([...this.failures].filter(([, f]) => f.retryAt > now).map(([name]) => name));
    const tasks = all.filter((t) => t.unit === '' || !held.has(t.unit));
    if (tasks.length > 0 && !(tasks.length === 1 && tasks[0].kind === 'reload' && !this.units.linksPending())) {
      const t0 = this.clock.now();
      const once = new Set(desired.filter((d) => d.once).map((d) => d.name));
      const res = await executeTasks(tasks, (t) => this.runTask(t, texts, once));
      // where the pass's time went (ms per task kind; the reload's own steps), for operators and benches
      this.log.info('reconciled', { pass: this.passes, tasks: tasks.length, held: held.size, failed: res.failed.length, ms: this.clock.now() - t0, ...res.ms, ...this.units.takeReloadStats() });
      const failedNow = new Set<string>();
      for (const { task, error } of res.failed) {
        failedNow.add(task.unit);
        const hash = this.view.record(task.unit)?.hash ?? '';
        this.fail(task.unit, hash, `${task.kind} failed: ${error instanceof Error ? error.message : String(error)}`, this.clock.now());
      }
      for (const t of tasks) {
        if (t.unit === '' || failedNow.has(t.unit) || !this.failures.has(t.unit)) continue;
        this.failures.delete(t.unit);
        this.log.info('unit recovered', { unit: t.unit });
        this.reportUnit(t.unit);
      }
    }
    let next = Infinity;
    for (const f of this.failures.values()) next = Math.min(next, f.retryAt - this.clock.now());
    return Math.max(0, next);
  }

  /** Records a unit's failure (its reported state says why) and when to try it again. */
  private fail(unit: string, hash: string, reason: string, now: number, retryIn?: number): void {
    const prev = this.failures.get(unit);
    const attempts = (prev?.attempts ?? 0) + 1;
    if (prev && prev.reason === reason && retryIn === Infinity) return;
    const backoff = prev?.backoff ?? new Backoff({ initialMs: UNIT_RETRY_MIN_MS, maxMs: UNIT_RETRY_MAX_MS });
    const delay = retryIn ?? backoff.next();
    this.failures.set(unit, { attempts, backoff, retryAt: now + delay, reason, hash });
    this.log.error('unit failed; retrying it alone', { unit, reason, attempt: attempts, retryInMs: Math.round(delay) });
    this.reportUnit(unit);
  }

  /**
   * Reports one unit's state: systemd's, with a reason when the agent cannot get it to its desired state (a refused
   * load or start, a late job) or it is not running as it should (systemd gave up on it: how and why; a health
   * restart held back by its backoff); null when gone.
   */
  private reportUnit(name: string): void {
    const u = this.units.get(name);
    const f = this.failures.get(name);
    if (!u) {
      this.reporter.update(name, f ? { loadState: 'error', activeState: 'inactive', subState: 'dead', hash: f.hash, reason: f.reason } : null);
      return;
    }
    const state: ReportedState = this.stateOf(u);
    if (state.exit) void this.units.keepExit(name, state.exit);
    const reason = f?.reason ?? (u.job?.late ? `${u.job.kind} job still running after ${Math.round((this.clock.now() - u.job.since) / 1000)} s` : undefined)
      // only a unit that should be running: one the user stopped may end `failed` by the stop itself (a oneshot's SIGTERM)
      ?? (u.started ? unitReason({
        activeState: u.state.activeState, result: u.state.result, exit: u.state.exit, startLimit: u.state.startLimit,
        restart: u.state.restart, health: this.health.restartStatus(name),
      }) : undefined);
    if (reason) state.reason = reason;
    this.reporter.update(name, state);
  }

  private async runTask(task: Task, texts: Map<string, string>, once: ReadonlySet<string>): Promise<void> {
    this.log.debug('task', { task: task.kind, unit: task.unit, reason: task.reason });
    switch (task.kind) {
      case 'unload': await this.units.unload(task.unit); return; // reported gone once its stop job ended
      case 'load': await this.units.load(task.unit, texts.get(task.unit)!); return;
      case 'reload': await this.units.reload(); return;
      case 'stop': await this.units.stop(task.unit); return;
      case 'start': await this.units.start(task.unit, { once: once.has(task.unit) }); return;
    }
  }

  /** The file the agent installs for `spec` and its hash, made once per parsed unit (a pass looks at every unit here). */
  private installFile(spec: UnitSpec): { text: string; hash: string } | undefined {
    let f = this.files.get(spec);
    if (!f) {
      const text = this.installText(spec);
      if (text === undefined) return undefined;
      f = { text, hash: fileHash(text) };
      this.files.set(spec, f);
    }
    return f;
  }

  private installText(spec: UnitSpec): string | undefined {
    if (!spec.container) return hashHeader(spec.hash) + spec.text;
    if (!this.o.renderContainerUnit) {
      this.log.error('container unit, but this agent has no container support', { unit: spec.name });
      return undefined;
    }
    return hashHeader(spec.hash) + this.o.renderContainerUnit(spec);
  }
}

function observed(u: ManagedUnit) {
  return { name: u.name, activeState: u.state.activeState, mainPid: u.state.mainPid, unitHash: u.unitHash, activeEnterMs: u.state.activeEnterMs };
}

function reported(u: ManagedUnit): ReportedState {
  const out: ReportedState = { loadState: u.state.loadState, activeState: u.state.activeState, subState: u.state.subState, hash: u.unitHash, mainPid: u.state.mainPid };
  // how its run ended, when it ran since this load (a run older than the agent's start job is not this load's)
  const x = u.state.exit;
  if (x && u.ran && !isRunningState(u.state.activeState) && (u.startedAtMs === undefined || x.startMs >= u.startedAtMs - 1000)) out.exit = { ...x };
  return out;
}

function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const h = clock.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clock.clearTimeout(h); resolve(); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `p`, or a rejection after `ms` (the operation may go on in the background; nothing waits for it). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (err) => { clearTimeout(t); reject(err); });
  });
}

