/**
 * The agent's units in systemd: files in the agent's runtime dir, linked into systemd (runtime links)
 * and, when they have an `[Install]` section, enabled in the runtime scope as fleet did (so WantedBy=,
 * RequiredBy=, Also= work on the machine; disabled with the unlink), started and stopped through the Manager. A unit is *managed* when its file is in the runtime dir:
 * that is how a restarted agent adopts what runs. State is followed by D-Bus signals, not polling.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../errors';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import { parseUnitName } from '../units/unit-name';
import { pool, UnitFailures, type ActualUnit } from './reconcile';
import { isRunningState, type Systemd, type SystemdUnitState } from './systemd';

/** The runtime dir fleet-style agents use by default (under /run: gone at reboot, like the links). */
export const DEFAULT_UNIT_DIR = '/run/shoal/units';

/** Units adopted at once at start-up (their state read from systemd in parallel). */
const ADOPT_CONCURRENCY = 16;
/** Reads of one unit's state in a row when signals keep coming during each (refresh). */
const MAX_READS = 3;

/** A start/stop job the agent queued and still follows. */
export interface PendingJob {
  kind: 'start' | 'stop' | 'restart';
  /** When it was queued (ms since the epoch). */
  since: number;
  /** True once it outlived the job deadline (the agent reports that; systemd goes on with it). */
  late: boolean;
}

/** A managed unit: its file's hash, whether the agent started it, and systemd's state of it. */
export interface ManagedUnit extends ActualUnit {
  /** The user's unit hash, from the file's `# shoal-hash=` first line ('' when absent). */
  unitHash: string;
  state: SystemdUnitState;
  /** The job the agent queued for it and still follows, if any. */
  job?: PendingJob;
  /** When the agent last queued its start (ms since the epoch): an `exit` older than that is not this run's. */
  startedAtMs?: number;
  /** The start time of the exit last kept in the marker file (batch units). */
  keptExit?: number;
  /**
   * A Type=oneshot service without RemainAfterExit=yes (runsToEnd): never active, its exit is the only sign that a
   * run ended well (shoalctl start waits for it), so its start pins it in systemd as a batch unit's does.
   */
  endsOnItsOwn?: boolean;
}

/** The first line the agent writes into every unit file: which submitted unit (hash) it came from. */
export function hashHeader(unitHash: string): string {
  return `# shoal-hash=${unitHash}\n`;
}

function headerHash(text: string): string {
  return /^# shoal-hash=([0-9a-f]+)\n/.exec(text)?.[1] ?? '';
}

/**
 * True for a service whose text says `Type=oneshot` without `RemainAfterExit=yes` (systemd.service): it goes from
 * activating back to inactive when it succeeds, and systemd garbage-collects an inactive unit nothing references,
 * with its ExecMain* properties (how it ended) — within the same turn of its event loop, before the agent reads them.
 * The text as written (a drop-in that changes Type= is not seen).
 */
export function runsToEnd(name: string, text: string): boolean {
  return name.endsWith('.service') && /^[ \t]*Type[ \t]*=[ \t]*oneshot[ \t]*$/m.test(text)
    && !/^[ \t]*RemainAfterExit[ \t]*=[ \t]*(yes|true|on|1)[ \t]*$/im.test(text);
}

/** True when the unit text has an `[Install]` section (what `systemctl enable` acts on). */
function hasInstall(text: string): boolean {
  return /^[ \t]*\[Install\][ \t]*\r?$/m.test(text);
}

/** Called when a managed unit's systemd state changes (after the change is applied to `states()`). */
export type StateListener = (unit: ManagedUnit) => void;

/**
 * Called when a queued job ends or turns late (`what` 'job'), or an unload finishes or fails ('unload'; `unit`
 * undefined: it is gone).
 */
export type SettledListener = (name: string, unit: ManagedUnit | undefined, what: 'job' | 'unload') => void;

/** How long the agent follows a job before calling it late (ms); systemd's own default start timeout is 90 s. */
export const DEFAULT_JOB_TIMEOUT_MS = 90_000;

/** Options of the UnitManager. */
export interface UnitManagerOptions {
  systemd: Systemd;
  /** Runtime dir as systemd sees it (absolute); default /run/shoal/units. */
  dir?: string;
  /** Prefix for this process's own file I/O (e.g. `/proc/PID/root` to drive a container's systemd from outside); default ''. */
  fsRoot?: string;
  /** A job running longer than this (ms) is reported late; default DEFAULT_JOB_TIMEOUT_MS. */
  jobTimeoutMs?: number;
  /** Told when a job ends or turns late and when an unload finishes. */
  onSettled?: SettledListener;
  log?: Logger;
}

/** What one `reload()` did: links and unlinks applied; ms of the link calls, the daemon-reload (0: none needed), the state reads. */
export interface ReloadStats {
  links: number;
  unlinks: number;
  linkMs?: number;
  daemonReloadMs: number;
  refreshMs: number;
}

/** sha1 hex of a file text: how loaded and desired files are compared. */
export function fileHash(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/**
 * Load, unload, start and stop units; batches links into one daemon-reload per `reload()`. Jobs are
 * queued, not waited for: systemd runs them in parallel, and a slow one holds back only its own unit.
 */
export class UnitManager {
  private readonly systemd: Systemd;
  private readonly dir: string;
  private readonly fsDir: string;
  private readonly log: Logger;
  private readonly jobTimeoutMs: number;
  private readonly onSettled: SettledListener;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly units = new Map<string, ManagedUnit>();
  private readonly toLink = new Set<string>();
  private readonly toUnlink = new Set<string>();
  /** Unloaded units whose old text had [Install]: their queued unlink must run before a new text is linked. */
  private readonly enabledBefore = new Set<string>();
  /** Units whose file has an [Install] section: enabled (runtime) after linking. */
  private readonly installs = new Set<string>();
  private readonly listeners = new Set<StateListener>();
  private readonly unsubscribe: () => void;
  private reloadStats: ReloadStats | undefined;
  /** Units to re-read in the next batched read (refreshSoon), and that read's promise. */
  private readonly refreshQueue = new Set<string>();
  private refreshBatch: Promise<void> | undefined;
  /**
   * Signals with values applied per unit (a counter): a read whose reply came before a signal that was applied
   * first (dbus-next emits a signal at once, a reply's awaiter runs a turn later; unitState is two calls) holds
   * older values than the unit's state, and must not overwrite it.
   */
  private readonly signalsSeen = new Map<string, number>();

  constructor(opts: UnitManagerOptions) {
    this.systemd = opts.systemd;
    this.dir = opts.dir ?? DEFAULT_UNIT_DIR;
    this.fsDir = (opts.fsRoot ?? '') + this.dir;
    this.log = opts.log ?? silentLogger;
    this.jobTimeoutMs = opts.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    this.onSettled = opts.onSettled ?? (() => {});
    this.unsubscribe = this.systemd.onUnitChange((name, change) => this.onChange(name, change));
  }

  /**
   * Adopts the units whose files are in the runtime dir. A running unit counts as started only when this
   * agent started it (its `.NAME.started` marker): one systemd started (a socket's service, a WantedBy= of an
   * enabled unit) is left to systemd, as before the restart. Call once, first.
   */
  async adopt(): Promise<ManagedUnit[]> {
    await mkdir(this.fsDir, { recursive: true });
    // temp files of an interrupted write and run markers start with a dot
    const files = (await readdir(this.fsDir)).filter((f) => !f.startsWith('.')).sort();
    // ADOPT_CONCURRENCY at a time: each unit's D-Bus round trips wait on systemd, not on the other units
    await pool(files, ADOPT_CONCURRENCY, async (file) => {
      const text = await readFile(join(this.fsDir, file), 'utf8');
      const state = await this.systemd.unitState(file);
      // a batch unit this agent started: never again in this load; its exit from the marker if systemd collected it
      const marker = await readFile(join(this.fsDir, `.${file}.ran`), 'utf8').catch(() => null);
      if (marker !== null) {
        const kept = parseExit(marker);
        if (!state.exit && kept && !isRunningState(state.activeState)) state.exit = kept;
        if (state.exit || isRunningState(state.activeState)) await this.systemd.refUnit?.(file).catch(() => undefined);
      }
      const ours = await access(this.startedMarker(file)).then(() => true, () => false);
      // a service found ended that ran (ExecMainStartTimestamp set) counts as ran: a batch run is not started again
      this.units.set(file, { name: file, fileHash: fileHash(text), unitHash: headerHash(text), started: ours && isRunningState(state.activeState), ran: marker !== null || isRunningState(state.activeState) || state.exit !== undefined, activeState: state.activeState, state, endsOnItsOwn: runsToEnd(file, text) });
      if (hasInstall(text)) this.installs.add(file);
      // an agent that died between writing and reloading left the link undone
      if (state.loadState !== 'loaded') this.toLink.add(file);
    });
    return this.list();
  }

  /** What the last `reload()` did and how long its steps took; cleared when read (the agent logs it with its pass). */
  takeReloadStats(): ReloadStats | undefined {
    const s = this.reloadStats;
    this.reloadStats = undefined;
    return s;
  }

  /** True when links or unlinks wait for the next `reload()`. */
  linksPending(): boolean {
    return this.toLink.size > 0 || this.toUnlink.size > 0;
  }

  /** Managed units, sorted by name. */
  list(): ManagedUnit[] {
    return [...this.units.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(copyUnit);
  }

  /** One managed unit; undefined when not managed. */
  get(name: string): ManagedUnit | undefined {
    const u = this.units.get(name);
    return u && copyUnit(u);
  }

  /** Calls `listener` on every state change of a managed unit; returns the unsubscribe function. */
  onState(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** Writes the unit file (atomically) and queues its link; takes effect at the next `reload()`. */
  async load(name: string, text: string): Promise<void> {
    parseUnitName(name); // the API's own validator: what it accepts is a file name the agent can write
    await mkdir(this.fsDir, { recursive: true });
    const tmp = join(this.fsDir, `.${name}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, join(this.fsDir, name));
    // an unlink queued by an old version with [Install] stays: reload() disables (dropping its enable links,
    // e.g. another WantedBy=) before it links and enables this text; without one, re-linking is enough
    if (!this.enabledBefore.delete(name)) this.toUnlink.delete(name);
    this.toLink.add(name);
    if (hasInstall(text)) this.installs.add(name);
    else if (this.installs.delete(name)) this.toUnlink.add(name); // a new text without [Install]: drop the old enable links first
    const state: SystemdUnitState = { name, loadState: 'stub', activeState: 'inactive', subState: 'dead', mainPid: 0, fragmentPath: '' };
    this.units.set(name, { name, fileHash: fileHash(text), unitHash: headerHash(text), started: false, ran: false, activeState: 'inactive', state, endsOnItsOwn: runsToEnd(name, text) });
  }

  /**
   * Queues the unit's stop; once the stop job ends (or turns late) removes its file and queues its
   * unlink (effective at the next `reload()`), then tells `onSettled`. Until then the unit is `busy`.
   * Throws when systemd refuses the stop (the unit stays managed).
   */
  async unload(name: string): Promise<void> {
    const job = await this.systemd.queueJob('stop', name).catch((err) => {
      if (err instanceof ShoalError && err.code === 'systemd.no-such-unit') return undefined;
      throw err;
    });
    const u = this.units.get(name);
    if (u) { u.busy = true; u.started = false; }
    const finish = async (result: string) => {
      if (result !== 'done') this.log.warn('stop before unload did not finish cleanly', { unit: name, result });
      // a newer text was loaded meanwhile: the file, its link and its jobs are that version's, not ours
      if (this.units.get(name) !== u) {
        this.log.warn('unit loaded again before its unload ended; the unload leaves the new file alone', { unit: name });
        this.onSettled(name, this.get(name), 'unload');
        return;
      }
      await rm(join(this.fsDir, name), { force: true });
      if (this.units.get(name) === u) { this.units.delete(name); this.signalsSeen.delete(name); }
      this.toLink.delete(name);
      this.toUnlink.add(name);
      if (this.installs.delete(name)) this.enabledBefore.add(name);
      await rm(join(this.fsDir, `.${name}.ran`), { force: true }); // a batch unit's marker (after the bookkeeping: no await in between)
      if (!this.units.has(name)) await rm(this.startedMarker(name), { force: true });
      // not awaited: the next pass (a replaced unit's load) need not wait for one more D-Bus call
      void this.systemd.resetFailedUnit(name).catch((err) => this.log.warn('reset-failed after unload failed', { unit: name, err: String(err) }));
      this.onSettled(name, undefined, 'unload');
    };
    if (!job) return finish('done');
    void this.within(job.done, name).then(finish).catch((err) => {
      if (u) u.busy = false;
      this.log.error('unload failed', { unit: name, err: String(err) });
      this.onSettled(name, this.get(name), 'unload');
    });
  }

  /**
   * Applies queued links/unlinks with one daemon-reload, then refreshes the states of newly linked units.
   * When systemd refuses the batch of links, links unit by unit: the units it refuses are rolled back
   * (file removed, no longer managed, so the next pass loads them afresh) and thrown as UnitFailures
   * after the daemon-reload of the others.
   */
  async reload(): Promise<void> {
    const t0 = performance.now();
    const stats: ReloadStats = { links: this.toLink.size, unlinks: this.toUnlink.size, daemonReloadMs: 0, refreshMs: 0 };
    this.reloadStats = stats;
    const link = [...this.toLink];
    const unlink = [...this.toUnlink];
    const failures = new Map<string, unknown>();
    const fresh = await this.loadableWithoutReload(link, unlink);
    await this.systemd.disableUnitFiles(unlink, true).catch(async (err) => {
      this.log.warn('unlinking a batch failed; unlinking one by one', { err: String(err) });
      for (const n of unlink) await this.systemd.disableUnitFiles([n], true).catch((e) => this.log.warn('unlink failed', { unit: n, err: String(e) }));
    });
    await this.systemd.linkUnitFiles(link.map((n) => `${this.dir}/${n}`), true).catch(async (err) => {
      this.log.warn('linking a batch failed; linking one by one', { err: String(err) });
      for (const n of link) await this.systemd.linkUnitFiles([`${this.dir}/${n}`], true).catch((e) => failures.set(n, e));
    });
    await this.enable(link.filter((n) => this.installs.has(n) && !failures.has(n)));
    stats.linkMs = Math.round(performance.now() - t0);
    const daemonReload = async () => {
      const r0 = performance.now();
      await this.systemd.reload();
      stats.daemonReloadMs += Math.round(performance.now() - r0);
    };
    if (!fresh) await daemonReload();
    // only what this reload applied: an unload that ended during its awaits queued an unlink for the next one
    for (const n of link) this.toLink.delete(n);
    for (const n of unlink) { this.toUnlink.delete(n); this.enabledBefore.delete(n); }
    for (const name of failures.keys()) {
      this.installs.delete(name);
      await rm(join(this.fsDir, name), { force: true });
      this.units.delete(name);
      this.signalsSeen.delete(name);
    }
    const refreshAll = async () => {
      const r0 = performance.now();
      await this.refreshMany(link.filter((n) => !failures.has(n)));
      stats.refreshMs += Math.round(performance.now() - r0);
    };
    await refreshAll(); // reads each state, and loads a fresh unit from its file
    if (fresh && link.some((n) => !failures.has(n) && this.units.get(n)?.state.loadState !== 'loaded')) {
      // this systemd did not find the new file without a daemon-reload (older than 246): do one
      this.log.debug('units not found without a daemon-reload; reloading', { units: link.length });
      await daemonReload();
      await refreshAll();
    }
    if (failures.size > 0) throw new UnitFailures(failures);
  }

  /**
   * True when this batch needs no daemon-reload: systemd (since 246) loads a unit it does not hold in memory
   * straight from its file, finding a new link through its unit-path cache. So a reload is needed only to
   * replace a unit systemd still holds (its old definition), and for [Install] links (targets' Wants=). A
   * replaced unit (stopped, file removed) is usually garbage-collected by then: saves the ~200 ms reload per
   * rollout step. Any doubt (a D-Bus error) means reload.
   */
  private async loadableWithoutReload(link: string[], unlink: string[]): Promise<boolean> {
    if (link.length === 0) return false; // unlinks alone: the reload drops what systemd still holds of them
    if (unlink.some((n) => this.enabledBefore.has(n)) || link.some((n) => this.installs.has(n))) return false;
    const held = await this.systemd.unitsLoaded(link).catch(() => null);
    return held !== null && held.size === 0;
  }

  /**
   * Enables units in the runtime scope. A unit systemd refuses to enable (e.g. `Also=` naming a unit
   * that is not on this machine) is logged and runs as a linked unit: one unit's bad [Install]
   * section never holds the others back.
   */
  private async enable(names: string[]): Promise<void> {
    if (names.length === 0) return;
    await this.systemd.enableUnitFiles(names, true).catch(async () => {
      for (const n of names) {
        await this.systemd.enableUnitFiles([n], true)
          .catch((err) => this.log.warn('cannot enable unit ([Install] ignored on this machine)', { unit: n, err: String(err) }));
      }
    });
  }

  /**
   * Queues a start job and returns once systemd accepted it; the unit counts as started from then on. A unit that
   * ran before or failed is reset first (ResetFailedUnit), as `systemctl reset-failed` would.
   * The job's end is followed in the background: a job that ends `failed` is not an error (systemd's
   * Restart= decides what next); a job still running after the job deadline is marked late. Throws when
   * systemd refuses the job (e.g. a unit file it cannot load).
   */
  async start(name: string, opts: { once?: boolean } = {}): Promise<void> {
    if (opts.once) await this.markRan(name);
    const u = this.units.get(name);
    // a oneshot that ends on its own: pinned (Unit.Ref, held while the agent's bus connection lives) so that
    // systemd keeps how it ended until the agent read it (a batch unit's markRan pinned it already)
    if (!opts.once && u?.endsOnItsOwn) {
      await this.systemd.refUnit?.(name).catch((err) => this.log.warn('cannot pin the unit in systemd (how its run ended may be lost)', { unit: name, err: String(err) }));
    }
    if (u && (u.ran || u.state.activeState === 'failed')) {
      // started again (the user's stop + start or restart, after a fix): ResetFailedUnit clears its failed state and
      // its start rate limit, or systemd refuses the start (start-limit-hit) until StartLimitIntervalSec= has passed
      // and the user would need `systemctl reset-failed` on the machine. A fresh load has nothing to clear.
      await this.systemd.resetFailedUnit(name)
        .catch((err) => this.log.warn('reset-failed before a start failed; starting anyway', { unit: name, err: String(err) }));
    }
    await this.queue('start', name);
  }

  /**
   * A batch unit's start: pinned in systemd (its exit is read after it ends) and marked in the runtime dir, so
   * a restarted agent never starts the run again (the marker goes with the unload).
   */
  private async markRan(name: string): Promise<void> {
    await writeFile(join(this.fsDir, `.${name}.ran`), '{}');
    await this.systemd.refUnit?.(name).catch((err) => this.log.warn('cannot pin the unit in systemd (its exit may be lost if it is collected)', { unit: name, err: String(err) }));
  }

  /** Keeps how a batch run ended beside its marker: systemd may have collected the unit when a restarted agent looks. */
  async keepExit(name: string, exit: NonNullable<SystemdUnitState['exit']>): Promise<void> {
    const u = this.units.get(name);
    if (!u || u.keptExit === exit.startMs) return;
    u.keptExit = exit.startMs;
    await writeFile(join(this.fsDir, `.${name}.ran`), JSON.stringify(exit)).catch((err) => this.log.warn('cannot keep a run\'s exit', { unit: name, err: String(err) }));
  }

  /** Queues a restart job (health checks); returns once systemd accepted it (the unit counts as started). */
  async restart(name: string): Promise<void> {
    await this.queue('restart', name);
  }

  /** Queues a stop job; returns once systemd accepted it (the unit no longer counts as started). */
  async stop(name: string): Promise<void> {
    await this.queue('stop', name);
  }

  private async queue(kind: 'start' | 'stop' | 'restart', name: string): Promise<void> {
    const job = await this.systemd.queueJob(kind, name);
    const u = this.units.get(name);
    if (!u) return;
    // who started it, for a restarted agent (adopt): what systemd started on its own is not ours to stop
    if (kind === 'stop') await rm(this.startedMarker(name), { force: true }).catch(() => undefined);
    else if (!u.started) await writeFile(this.startedMarker(name), '').catch((err) => this.log.warn('cannot mark the unit as started by shoal', { unit: name, err: String(err) }));
    u.started = kind !== 'stop';
    if (kind !== 'stop') { u.ran = true; u.startedAtMs = Date.now(); }
    const pending: PendingJob = { kind, since: Date.now(), late: false };
    u.job = pending;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (u.job !== pending) return;
      pending.late = true;
      this.log.warn(`${kind} job still running after the job deadline`, { unit: name, deadlineMs: this.jobTimeoutMs });
      this.onSettled(name, this.get(name), 'job');
    }, this.jobTimeoutMs);
    this.timers.add(timer);
    void job.done.then(async (result) => {
      clearTimeout(timer);
      this.timers.delete(timer);
      if (u.job === pending) u.job = undefined;
      if (result !== 'done') this.log.warn(`${kind} job did not succeed`, { unit: name, result });
      await this.refreshSoon(name); // batched with the other jobs that ended meanwhile: one D-Bus call for them all
      if (!this.closed) this.onSettled(name, this.get(name), 'job');
    });
  }

  /** The marker saying this agent started `name` (gone with its stop or unload). */
  private startedMarker(name: string): string {
    return join(this.fsDir, `.${name}.started`);
  }

  /** `done`, or 'late' once the job deadline passed (the job itself goes on in systemd). */
  private within(done: Promise<string>, name: string): Promise<string> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.log.warn('stop job still running after the job deadline; unloading anyway', { unit: name, deadlineMs: this.jobTimeoutMs });
        resolve('late');
      }, this.jobTimeoutMs);
      this.timers.add(timer);
      void done.then((r) => { clearTimeout(timer); this.timers.delete(timer); resolve(r); });
    });
  }

  /** Re-reads one managed unit's state from systemd (and tells listeners when it changed). */
  async refresh(name: string): Promise<void> {
    for (let attempt = 1; this.units.has(name); attempt++) {
      const seen = this.signalsSeen.get(name);
      const state = await this.systemd.unitState(name);
      // a signal came while reading: the read may predate it, read again (a few times at most: then the newest read)
      if (this.signalsSeen.get(name) !== seen && attempt < MAX_READS) continue;
      // a full read: an exit (result, start limit) it no longer has goes
      this.apply(name, { ...state, exit: state.exit, result: state.result, startLimit: state.startLimit, restart: state.restart });
      return;
    }
  }

  /**
   * Re-reads the states of `names` with one ListUnitsByNames call per 256 units (which also loads a unit systemd
   * does not hold yet), instead of two property reads each: 1,000 units linked or started at once cost 2,000
   * round trips and as many large replies to parse. A unit whose list entry does not tell everything is read in
   * full: a service running without a known MainPID, one that ran and ended (how it ended), any unit when the
   * list call fails. Never throws; a failed read is logged and leaves that unit's state as it was.
   */
  async refreshMany(names: readonly string[]): Promise<void> {
    const wanted = names.filter((n) => this.units.has(n));
    if (wanted.length === 0) return;
    const seen = new Map(wanted.map((n) => [n, this.signalsSeen.get(n)]));
    const listed = await this.systemd.unitStates(wanted).catch((err) => {
      this.log.warn('reading unit states in one call failed; reading them one by one', { units: wanted.length, err: String(err) });
      return new Map<string, Pick<SystemdUnitState, 'loadState' | 'activeState' | 'subState'>>();
    });
    await Promise.all(wanted.map(async (name) => {
      const u = this.units.get(name);
      // a signal came while listing: the entry may predate it; the full read below checks again
      const s = this.signalsSeen.get(name) === seen.get(name) ? listed.get(name) : undefined;
      if (!u) return;
      if (s && isRunningState(s.activeState) && (u.state.mainPid > 0 || !name.endsWith('.service'))) {
        // its MainPID came with the PropertiesChanged signal systemd sends before a job's JobRemoved
        return this.apply(name, { loadState: s.loadState, activeState: s.activeState, subState: s.subState });
      }
      if (s && s.activeState === 'inactive' && !u.ran) {
        // nothing ran since this load: no main process, no exit to read
        return this.apply(name, { loadState: s.loadState, activeState: s.activeState, subState: s.subState, mainPid: 0 });
      }
      await this.refresh(name).catch((err) => this.log.warn('state refresh failed', { unit: name, err: String(err) }));
    }));
  }

  /** `refreshMany` of `name` with every other unit asked for in the same turn of the event loop. Never throws. */
  refreshSoon(name: string): Promise<void> {
    this.refreshQueue.add(name);
    this.refreshBatch ??= new Promise<void>((resolve) => setImmediate(() => {
      const names = [...this.refreshQueue];
      this.refreshQueue.clear();
      this.refreshBatch = undefined;
      void this.refreshMany(names).finally(resolve);
    }));
    return this.refreshBatch;
  }

  /** Stops following signals. Units keep running: closing the agent never stops them. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.unsubscribe();
    this.listeners.clear();
  }

  private onChange(name: string, change: Partial<SystemdUnitState>): void {
    if (!this.units.has(name)) return;
    if (Object.keys(change).length === 0) {
      // invalidation without values: read the state
      void this.refreshSoon(name);
      return;
    }
    this.signalsSeen.set(name, (this.signalsSeen.get(name) ?? 0) + 1);
    this.apply(name, change);
  }

  private apply(name: string, change: Partial<SystemdUnitState>): void {
    const u = this.units.get(name);
    if (!u) return;
    const before = JSON.stringify(u.state);
    const wasEnded = isEnded(u.state.activeState);
    const wasFailed = u.state.activeState === 'failed';
    Object.assign(u.state, change, { name });
    // a service that just ended or failed (inactive → failed: a start systemd refused, start-limit-hit): read how
    // (Result, exit status); signals carry only the unit's states
    const ended = (!wasEnded && isEnded(u.state.activeState)) || (!wasFailed && u.state.activeState === 'failed');
    if (ended && !('exit' in change) && name.endsWith('.service')) {
      this.refresh(name).catch((err) => this.log.warn('state refresh failed', { unit: name, err: String(err) }));
    }
    if (isRunningState(u.state.activeState)) { delete u.state.exit; delete u.state.result; delete u.state.startLimit; delete u.state.restart; }
    u.activeState = u.state.activeState;
    if (JSON.stringify(u.state) === before) return;
    const copy = copyUnit(u);
    for (const l of this.listeners) {
      try { l(copy); } catch (err) { this.log.error('state listener threw', { unit: name, err: String(err) }); }
    }
  }
}

function parseExit(text: string): SystemdUnitState['exit'] {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (typeof o.result !== 'string' || typeof o.code !== 'string' || typeof o.status !== 'number') return undefined;
    return { result: o.result, code: o.code, status: o.status, startMs: Number(o.startMs) || 0, endMs: Number(o.endMs) || 0 };
  } catch { return undefined; }
}

function isEnded(activeState: string): boolean {
  return activeState === 'inactive' || activeState === 'failed';
}

function copyUnit(u: ManagedUnit): ManagedUnit {
  return { ...u, state: { ...u.state }, job: u.job && { ...u.job } };
}
