/**
 * The agent's units in systemd: files in the agent's runtime dir, linked into systemd (runtime links)
 * and, when they have an `[Install]` section, enabled in the runtime scope as fleet did (so WantedBy=,
 * RequiredBy=, Also= work on the machine; disabled with the unlink), started and stopped through the Manager. A unit is *managed* when its file is in the runtime dir:
 * that is how a restarted agent adopts what runs. State is followed by D-Bus signals, not polling.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError, ValidationError } from '../errors';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import type { ActualUnit } from './reconcile';
import { isRunningState, type Systemd, type SystemdUnitState } from './systemd';

/** The runtime dir fleet-style agents use by default (under /run: gone at reboot, like the links). */
export const DEFAULT_UNIT_DIR = '/run/shoal/units';

/** A managed unit: its file's hash, whether the agent started it, and systemd's state of it. */
export interface ManagedUnit extends ActualUnit {
  /** The user's unit hash, from the file's `# shoal-hash=` first line ('' when absent). */
  unitHash: string;
  state: SystemdUnitState;
}

/** The first line the agent writes into every unit file: which submitted unit (hash) it came from. */
export function hashHeader(unitHash: string): string {
  return `# shoal-hash=${unitHash}\n`;
}

function headerHash(text: string): string {
  return /^# shoal-hash=([0-9a-f]+)\n/.exec(text)?.[1] ?? '';
}

/** Called when a managed unit's systemd state changes (after the change is applied to `states()`). */
export type StateListener = (unit: ManagedUnit) => void;

/** Options of the UnitManager. */
export interface UnitManagerOptions {
  systemd: Systemd;
  /** Runtime dir as systemd sees it (absolute); default /run/shoal/units. */
  dir?: string;
  /** Prefix for this process's own file I/O (e.g. `/proc/PID/root` to drive a container's systemd from outside); default ''. */
  fsRoot?: string;
  log?: Logger;
}

/** True when the unit text has an `[Install]` section (what `systemctl enable` acts on). */
function hasInstall(text: string): boolean {
  return /^[ \t]*\[Install\][ \t]*\r?$/m.test(text);
}

/** sha1 hex of a file text: how loaded and desired files are compared. */
export function fileHash(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** Load, unload, start and stop units; batches links into one daemon-reload per `reload()`. */
export class UnitManager {
  private readonly systemd: Systemd;
  private readonly dir: string;
  private readonly fsDir: string;
  private readonly log: Logger;
  private readonly units = new Map<string, ManagedUnit>();
  private readonly toLink = new Set<string>();
  private readonly toUnlink = new Set<string>();
  /** Units whose file has an [Install] section: enabled (runtime) after linking. */
  private readonly installs = new Set<string>();
  private readonly listeners = new Set<StateListener>();
  private readonly unsubscribe: () => void;

  constructor(opts: UnitManagerOptions) {
    this.systemd = opts.systemd;
    this.dir = opts.dir ?? DEFAULT_UNIT_DIR;
    this.fsDir = (opts.fsRoot ?? '') + this.dir;
    this.log = opts.log ?? silentLogger;
    this.unsubscribe = this.systemd.onUnitChange((name, change) => this.onChange(name, change));
  }

  /** Adopts the units whose files are in the runtime dir (running ones count as started). Call once, first. */
  async adopt(): Promise<ManagedUnit[]> {
    await mkdir(this.fsDir, { recursive: true });
    for (const file of (await readdir(this.fsDir)).sort()) {
      if (file.startsWith('.')) continue; // temp files of an interrupted write
      const text = await readFile(join(this.fsDir, file), 'utf8');
      const state = await this.systemd.unitState(file);
      this.units.set(file, { name: file, fileHash: fileHash(text), unitHash: headerHash(text), started: isRunningState(state.activeState), activeState: state.activeState, state });
      if (hasInstall(text)) this.installs.add(file);
      // an agent that died between writing and reloading left the link undone
      if (state.loadState !== 'loaded') this.toLink.add(file);
    }
    return this.list();
  }

  /** Managed units, sorted by name. */
  list(): ManagedUnit[] {
    return [...this.units.values()].sort((a, b) => a.name.localeCompare(b.name)).map((u) => ({ ...u, state: { ...u.state } }));
  }

  /** One managed unit; undefined when not managed. */
  get(name: string): ManagedUnit | undefined {
    const u = this.units.get(name);
    return u && { ...u, state: { ...u.state } };
  }

  /** Calls `listener` on every state change of a managed unit; returns the unsubscribe function. */
  onState(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** Writes the unit file (atomically) and queues its link; takes effect at the next `reload()`. */
  async load(name: string, text: string): Promise<void> {
    // names are validated upstream; this guards the file system against anything that slipped through
    if (name.includes('/') || name.startsWith('.') || name.length === 0) {
      throw new ValidationError('unit.bad-name', `refusing to write unit file ${JSON.stringify(name)}`, { key: 'name' });
    }
    await mkdir(this.fsDir, { recursive: true });
    const tmp = join(this.fsDir, `.${name}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, join(this.fsDir, name));
    this.toUnlink.delete(name);
    this.toLink.add(name);
    if (hasInstall(text)) this.installs.add(name);
    else if (this.installs.delete(name)) this.toUnlink.add(name); // a new text without [Install]: drop the old enable links first
    const state: SystemdUnitState = { name, loadState: 'stub', activeState: 'inactive', subState: 'dead', mainPid: 0, fragmentPath: '' };
    this.units.set(name, { name, fileHash: fileHash(text), unitHash: headerHash(text), started: false, activeState: 'inactive', state });
  }

  /** Stops the unit, removes its file and queues its unlink (effective at the next `reload()`). */
  async unload(name: string): Promise<void> {
    const result = await this.systemd.stopUnit(name).catch((err) => {
      if (err instanceof ShoalError && err.code === 'systemd.no-such-unit') return 'done';
      throw err;
    });
    if (result !== 'done') this.log.warn('stop before unload did not finish cleanly', { unit: name, result });
    await rm(join(this.fsDir, name), { force: true });
    this.units.delete(name);
    this.toLink.delete(name);
    this.toUnlink.add(name);
    this.installs.delete(name);
    await this.systemd.resetFailedUnit(name);
  }

  /** Applies queued links/unlinks with one daemon-reload, then refreshes the states of newly linked units. */
  async reload(): Promise<void> {
    const link = [...this.toLink];
    const unlink = [...this.toUnlink];
    await this.systemd.disableUnitFiles(unlink, true);
    await this.systemd.linkUnitFiles(link.map((n) => `${this.dir}/${n}`), true);
    await this.enable(link.filter((n) => this.installs.has(n)));
    await this.systemd.reload();
    this.toLink.clear();
    this.toUnlink.clear();
    for (const name of link) await this.refresh(name);
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
   * Starts a unit and waits for the job. A job that ends `failed` is not thrown: the unit counts as
   * started, its state says `failed`, and systemd's Restart= decides what next. Returns the job result.
   */
  async start(name: string): Promise<string> {
    const result = await this.systemd.startUnit(name);
    const u = this.units.get(name);
    if (u) u.started = true;
    if (result !== 'done') this.log.warn('start job did not succeed', { unit: name, result });
    await this.refresh(name);
    return result;
  }

  /** Stops a unit and waits for the job; returns the job result. */
  async stop(name: string): Promise<string> {
    const result = await this.systemd.stopUnit(name);
    const u = this.units.get(name);
    if (u) u.started = false;
    await this.refresh(name);
    return result;
  }

  /** Re-reads one managed unit's state from systemd (and tells listeners when it changed). */
  async refresh(name: string): Promise<void> {
    if (!this.units.has(name)) return;
    const state = await this.systemd.unitState(name);
    this.apply(name, state);
  }

  /** Stops following signals. Units keep running: closing the agent never stops them. */
  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  private onChange(name: string, change: Partial<SystemdUnitState>): void {
    if (!this.units.has(name)) return;
    if (Object.keys(change).length === 0) {
      // invalidation without values: read the state
      this.refresh(name).catch((err) => this.log.warn('state refresh failed', { unit: name, err: String(err) }));
      return;
    }
    this.apply(name, change);
  }

  private apply(name: string, change: Partial<SystemdUnitState>): void {
    const u = this.units.get(name);
    if (!u) return;
    const before = JSON.stringify(u.state);
    Object.assign(u.state, change, { name });
    u.activeState = u.state.activeState;
    if (JSON.stringify(u.state) === before) return;
    const copy = { ...u, state: { ...u.state } };
    for (const l of this.listeners) {
      try { l(copy); } catch (err) { this.log.error('state listener threw', { unit: name, err: String(err) }); }
    }
  }
}
