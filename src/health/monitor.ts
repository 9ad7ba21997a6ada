/**
 * Agent-side health (docs/groups.md): for every launched unit on this machine, decides healthy /
 * unhealthy / starting from its systemd state, its MinHealthyTime, and its checks (HealthCheck=,
 * HealthCheckHTTP=, HealthCheckTCP=, a container image's Docker HEALTHCHECK). Each unit has its own
 * timer and each check its own deadline, so one slow or hung unit never delays another. A unit that
 * fails HealthRetries checks in a row is restarted, and the restart is counted in its reported state.
 */
import { healthChecks } from '../metrics';
import type { Clock } from '../agent/clock';
import type { Logger } from '../log';
import type { UnitSpec } from '../units/types';
import { HEALTH_DEFAULTS, type HealthOptions } from '../units/group-options';
import { commandCheck, httpCheck, tcpCheck, type CheckResult } from './checks';

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
}

/** One per agent; `close()` stops every timer. */
export class HealthMonitor {
  private readonly units = new Map<string, Watched>();
  private readonly restarts = new Map<string, number>();
  private readonly checks: NonNullable<HealthDeps['checks']>;
  private closed = false;

  constructor(private readonly d: HealthDeps) {
    this.checks = d.checks ?? { command: commandCheck, http: httpCheck, tcp: tcpCheck };
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
      this.judge(u.name);
      this.schedule(u.name, 0);
      return;
    }
    const restarted = (u.activeState === 'active' && !wasActive) || (u.mainPid && w.pid && u.mainPid !== w.pid) || (w.hash && u.unitHash !== w.hash);
    w.activeState = u.activeState;
    w.pid = u.mainPid || w.pid;
    if (restarted) { w.activeSince = this.d.clock.now(); w.fails = 0; w.lastOk = null; }
    w.hash = u.unitHash;
    this.judge(u.name);
    if (restarted) this.schedule(u.name, 0); // check at once (and time MinHealthyTime from now)
  }

  /** The current health of a unit; undefined when it is not watched (not launched here). */
  of(unit: string): UnitHealth | undefined {
    return this.units.get(unit)?.health;
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
      if (w.fails >= w.opts.retries) await this.restart(name, w, r.output);
    }
    this.judge(name);
    // next: the check interval, or sooner when MinHealthyTime is about to be reached
    const untilMin = w.activeSince + w.opts.minHealthyMs - this.d.clock.now();
    const next = this.hasCheck(w) ? w.opts.intervalMs : Math.max(w.opts.intervalMs, 1000);
    this.schedule(name, untilMin > 0 ? Math.min(next, untilMin + 5) : next);
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
      // one restarted for failing stays unhealthy until a check passes
      const was = w.health.health;
      health = was === 'unhealthy' ? 'unhealthy' : was === 'healthy' && w.lastOk === false ? 'healthy' : 'starting';
    } else health = now - w.activeSince >= w.opts.minHealthyMs ? 'healthy' : 'starting';
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
