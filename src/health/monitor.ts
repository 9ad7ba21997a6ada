/**
 * Agent-side health (docs/groups.md): for every launched unit on this machine, decides healthy /
 * unhealthy / starting from its systemd state, its MinHealthyTime, and its checks (HealthCheck=,
 * HealthCheckHTTP=, HealthCheckTCP=, a container image's Docker HEALTHCHECK). Each unit has its own
 * timer and each check its own deadline, so one slow or hung unit never delays another. A unit that
 * fails HealthRetries checks in a row is restarted, and the restart is counted in its reported state.
 * Restarts back off per unit (RESTART_BACKOFF): each start counts against systemd's start rate limit, and
 * restarting at every failed check made systemd refuse the unit for good within seconds (start-limit-hit).
 */
import { Backoff, type BackoffOptions } from '../backoff';
import { healthChecks } from '../metrics';
import type { Clock } from '../agent/clock';
import type { Logger } from '../log';
import type { UnitSpec } from '../units/types';
import { HEALTH_DEFAULTS, type HealthOptions } from '../units/group-options';
import { commandCheck, httpCheck, tcpCheck, type CheckResult } from './checks';

/**
 * The least time between two health restarts of one unit, as Kubernetes' CrashLoopBackOff and Nomad's restart
 * `delay` do: the first restart comes at once (after HealthRetries failed checks); the n-th after it waits at
 * least 1 s·2^(n−1) after the one before (half jitter: up to twice that), at most 5 min. Against systemd's
 * default start rate limit (DefaultStartLimitBurst=5 starts in DefaultStartLimitIntervalSec=10s, systemd-system.conf)
 * the user's start and restarts 1-4 fall at ≥ 0, 1, 3, 7 s: a sixth start never comes within one window.
 */
export const RESTART_BACKOFF: BackoffOptions = { initialMs: 2000, maxMs: 300_000, jitter: 'half' };
/** A unit healthy this long in a row starts its restart backoff over (ms; Kubernetes resets CrashLoopBackOff after 10 min). */
export const RESTART_BACKOFF_RESET_MS = 600_000;
/**
 * A unit this agent finds running since before it began (it restarted) is not restarted sooner than this after its last start (ms): the starts
 * before still count in systemd's start rate limit window, and the backoff that spaced them went with the old agent.
 * systemd's default window (DefaultStartLimitIntervalSec=10s) has surely ended by then (its ratelimit starts a new one
 * only once `now > begin + interval`, and it began at or before that last start), so the fresh backoff fits in the next.
 */
export const ADOPTED_RESTART_WAIT_MS = 11_000;

/** Where a unit's health restarts stand: what its reported reason says (src/agent/unit-reason.ts). */
export interface RestartStatus {
  /** Restarts the agent made for failed checks (as `healthRestarts`). */
  restarts: number;
  /** HealthRetries: failed checks in a row that make a restart due. */
  retries: number;
  /** The last failing check's output, if the last check failed or the unit was restarted for it. */
  output?: string;
  /** Set while a due restart waits for its backoff: the wait, ms, as it was when the wait began. */
  backoffMs?: number;
}

/** What the monitor reports for one unit (merged into its states/<unit>/<machine> record). */
export interface UnitHealth {
  health: 'healthy' | 'unhealthy' | 'starting';
  healthRestarts: number;
  healthOutput?: string;
}

/** The systemd facts the monitor follows (from the agent's UnitManager). */
export interface ObservedUnit {
  name: string;
  activeState: string;
  mainPid?: number;
  /** Hash of the submitted body loaded (a new body counts as a restart). */
  unitHash: string;
  /** When systemd says it became active (ms since the epoch), if known. */
  activeEnterMs?: number;
}

/** What the monitor needs from the agent. */
export interface HealthDeps {
  clock: Clock;
  log: Logger;
  /** Restarts a unit that stayed unhealthy (stop + start); may throw (logged, retried at the next failure). */
  restart(unit: string): Promise<void>;
  /** A container unit's Docker health: 'healthy' | 'unhealthy' | 'starting', null when its image has no HEALTHCHECK. */
  containerHealth?(unit: string): Promise<string | null>;
  /** Called when a unit's health changed (read it with `of`). */
  onChange(unit: string): void;
  /** The check runners (tests may replace them; each must honour its timeout). */
  checks?: { command: typeof commandCheck; http: typeof httpCheck; tcp: typeof tcpCheck };
}

interface Watched {
  spec: UnitSpec;
  opts: HealthOptions;
  activeState: string;
  pid?: number;
  hash: string;
  /** ms since the epoch when it last became active (or restarted, or got a new body). */
  activeSince: number;
  fails: number;
  lastOk: boolean | null;
  checking: boolean;
  timer?: unknown;
  health: UnitHealth;
  /** This unit's restart backoff (RESTART_BACKOFF), and the earliest time (ms since the epoch) of its next restart. */
  backoff: Backoff;
  restartAt: number;
  /** The wait of a restart due now but held back by the backoff (ms); undefined when none is held. */
  heldMs?: number;
  /** Since when it has been healthy without a break (ms since the epoch). */
  healthySince?: number;
}

/** One per agent; `close()` stops every timer. */
export class HealthMonitor {
  private readonly units = new Map<string, Watched>();
  private readonly restarts = new Map<string, number>();
  private readonly checks: NonNullable<HealthDeps['checks']>;
  private closed = false;
  /** When this monitor (this agent) began (ms since the epoch): a unit active since before was started by another. */
  private readonly since: number;

  constructor(private readonly d: HealthDeps) {
    this.checks = d.checks ?? { command: commandCheck, http: httpCheck, tcp: tcpCheck };
    this.since = d.clock.now();
  }

  /** The units that should be launched here now: starts watching new ones, forgets the rest. */
  sync(specs: UnitSpec[]): void {
    const want = new Map(specs.map((s) => [s.name, s]));
    for (const [name, w] of this.units) {
      if (!want.has(name)) { this.d.clock.clearTimeout(w.timer); this.units.delete(name); this.d.onChange(name); }
    }
    for (const [name, spec] of want) {
      const w = this.units.get(name);
      if (w) { w.spec = spec; w.opts = spec.group?.health ?? HEALTH_DEFAULTS; continue; }
      const now = this.d.clock.now();
      this.units.set(name, {
        spec, opts: spec.group?.health ?? HEALTH_DEFAULTS, activeState: '', hash: '', activeSince: now, fails: 0, lastOk: null,
        checking: false, health: { health: 'starting', healthRestarts: this.restarts.get(name) ?? 0 },
        // a unit launched again (the user's stop + start) starts with a fresh backoff
        backoff: new Backoff(RESTART_BACKOFF), restartAt: 0,
      });
      this.schedule(name, 0);
    }
  }

  /** A unit's systemd state changed: becoming active, a new main PID or a new body restarts its MinHealthyTime. */
  observe(u: ObservedUnit): void {
    const w = this.units.get(u.name);
    if (!w) return;
    const wasActive = w.activeState === 'active';
    if (w.activeState === '' && u.activeState === 'active' && u.activeEnterMs) {
      // first sight of a unit that already runs (this agent restarted): it has been active since then
      w.activeState = u.activeState;
      w.pid = u.mainPid;
      w.hash = u.unitHash;
      w.activeSince = Math.min(u.activeEnterMs, this.d.clock.now());
      // started before this agent, moments ago maybe by the old agent's health restarts: the next restart waits out
      // systemd's window (one this agent started itself has its backoff here)
      if (u.activeEnterMs < this.since) w.restartAt = Math.max(w.restartAt, w.activeSince + ADOPTED_RESTART_WAIT_MS);
      this.judge(u.name);
      this.schedule(u.name, 0);
      return;
    }
    const restarted = (u.activeState === 'active' && !wasActive) || (u.mainPid && w.pid && u.mainPid !== w.pid) || (w.hash && u.unitHash !== w.hash);
    w.activeState = u.activeState;
    w.pid = u.mainPid || w.pid;
    if (restarted) { w.activeSince = this.d.clock.now(); w.fails = 0; w.lastOk = null; w.heldMs = undefined; }
    w.hash = u.unitHash;
    this.judge(u.name);
    if (restarted) this.schedule(u.name, 0); // check at once (and time MinHealthyTime from now)
  }

  /** The current health of a unit; undefined when it is not watched (not launched here). */
  of(unit: string): UnitHealth | undefined {
    return this.units.get(unit)?.health;
  }

  /** Where a watched unit's health restarts stand (for its reported reason); undefined when it is not watched. */
  restartStatus(unit: string): RestartStatus | undefined {
    const w = this.units.get(unit);
    if (!w) return undefined;
    const out: RestartStatus = { restarts: this.restarts.get(unit) ?? 0, retries: w.opts.retries };
    if (w.health.healthOutput !== undefined) out.output = w.health.healthOutput;
    if (w.heldMs !== undefined) out.backoffMs = w.heldMs;
    return out;
  }

  /** Stops every timer. Idempotent. */
  close(): void {
    this.closed = true;
    for (const w of this.units.values()) this.d.clock.clearTimeout(w.timer);
    this.units.clear();
  }

  private schedule(name: string, ms: number): void {
    const w = this.units.get(name);
    if (!w || this.closed) return;
    this.d.clock.clearTimeout(w.timer);
    w.timer = this.d.clock.setTimeout(() => { void this.tick(name); }, ms);
  }

  private hasCheck(w: Watched): boolean {
    return !!(w.opts.command || w.opts.http || w.opts.tcp || (w.spec.container && this.d.containerHealth));
  }

  /** One check of one unit (skipped while the previous one runs), then the verdict and the next tick. */
  private async tick(name: string): Promise<void> {
    const w = this.units.get(name);
    if (!w || this.closed) return;
    if (w.activeState === 'active' && this.hasCheck(w) && !w.checking) {
      w.checking = true;
      let r: CheckResult;
      try { r = await this.runCheck(w); } catch (err) { r = { ok: false, output: String(err) }; }
      w.checking = false;
      if (this.units.get(name) !== w) return; // forgotten meanwhile
      if (r.ok) w.fails = 0; else w.fails++;
      healthChecks.inc({ result: r.ok ? 'healthy' : 'unhealthy' });
      w.lastOk = r.ok;
      w.health = { ...w.health, healthOutput: r.ok ? undefined : r.output };
      const held = w.heldMs;
      if (w.fails < w.opts.retries) w.heldMs = undefined;
      else if (this.d.clock.now() >= w.restartAt) { w.heldMs = undefined; await this.restart(name, w, r.output); }
      else if (held === undefined) {
        // due, but its backoff is not over: it keeps running (unhealthy) until then, checked meanwhile
        w.heldMs = w.restartAt - this.d.clock.now();
        this.d.log.warn('unit unhealthy; restart held back by its backoff', { unit: name, failedChecks: w.fails, backoffMs: w.heldMs, reason: r.output });
      }
      if (w.heldMs !== held) this.d.onChange(name);
    }
    this.judge(name);
    // next: the check interval, or sooner when MinHealthyTime is about to be reached or a held restart is due
    const now = this.d.clock.now();
    const untilMin = w.activeSince + w.opts.minHealthyMs - now;
    let next = this.hasCheck(w) ? w.opts.intervalMs : Math.max(w.opts.intervalMs, 1000);
    if (untilMin > 0) next = Math.min(next, untilMin + 5);
    if (w.heldMs !== undefined) next = Math.max(0, Math.min(next, w.restartAt - now));
    this.schedule(name, next);
  }

  private runCheck(w: Watched): Promise<CheckResult> {
    const t = w.opts.timeoutMs;
    if (w.opts.command) return this.checks.command(w.opts.command, t);
    if (w.opts.http) return this.checks.http(w.opts.http, t);
    if (w.opts.tcp) return this.checks.tcp(w.opts.tcp, t);
    return withDeadline(this.d.containerHealth!(w.spec.name), t).then((s) => ({
      ok: s === null || s === 'healthy', output: s === null ? 'no HEALTHCHECK' : `docker: ${s}`,
    }));
  }

  private async restart(name: string, w: Watched, why: string): Promise<void> {
    const n = (this.restarts.get(name) ?? 0) + 1;
    this.restarts.set(name, n);
    w.health = { health: 'unhealthy', healthRestarts: n, healthOutput: why };
    this.d.log.warn('unit unhealthy; restarting it', { unit: name, failedChecks: w.fails, restarts: n, reason: why });
    this.d.onChange(name);
    w.fails = 0;
    w.lastOk = null;
    w.activeSince = this.d.clock.now();
    w.restartAt = w.activeSince + w.backoff.next();
    await this.d.restart(name).catch((err) => this.d.log.error('health restart failed', { unit: name, err: String(err) }));
  }

  /** healthy = active, not restarted for MinHealthyTime, and the last check passed (when there is one). */
  private judge(name: string): void {
    const w = this.units.get(name);
    if (!w) return;
    const now = this.d.clock.now();
    let health: UnitHealth['health'];
    if (w.activeState === 'failed') health = 'unhealthy';
    else if (w.activeState !== 'active') health = 'starting';
    else if (this.hasCheck(w) && w.lastOk !== true) {
      // failing, but fewer than HealthRetries times in a row: a healthy unit keeps its verdict (as Docker does);
      // one restarted for failing stays unhealthy until a check passes; HealthRetries failures in a row are unhealthy
      // whatever came before (a restart held back by its backoff: the restart's stop and start said `starting`)
      const was = w.health.health;
      health = was === 'unhealthy' || w.fails >= w.opts.retries ? 'unhealthy' : was === 'healthy' && w.lastOk === false ? 'healthy' : 'starting';
    } else health = now - w.activeSince >= w.opts.minHealthyMs ? 'healthy' : 'starting';
    if (health !== 'healthy') w.healthySince = undefined;
    else if (w.healthySince === undefined) w.healthySince = now;
    else if (now - w.healthySince >= RESTART_BACKOFF_RESET_MS) { w.backoff.reset(); w.restartAt = 0; w.healthySince = now; }
    const next: UnitHealth = { ...w.health, health, healthRestarts: this.restarts.get(name) ?? 0 };
    if (health === 'healthy') delete next.healthOutput;
    if (JSON.stringify(next) !== JSON.stringify(w.health)) { w.health = next; this.d.onChange(name); }
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}
