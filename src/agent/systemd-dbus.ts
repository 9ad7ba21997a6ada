/**
 * systemd's Manager over D-Bus (dbus-next, low-level messages: no introspection round trips).
 * The only file that imports dbus-next (with dbus-io.ts, which speeds up its writes and decoding). D-Bus errors become ShoalErrors here.
 */
import { dbusJobDuration } from '../metrics';
import * as dbus from 'dbus-next';
import { ShoalError, UnavailableError } from '../errors';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import type { JobResult, QueuedJob, Systemd, SystemdUnitState, UnitChangeListener, UnitFileChange } from './systemd';
import { CallSlots, SlotTimeout } from './call-slots';
import { batchDbusWrites, speedUpDbusDecoding } from './dbus-io';

const DEST = 'org.freedesktop.systemd1';
const ROOT = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
const SERVICE_IFACE = 'org.freedesktop.systemd1.Service';
const PROPS = 'org.freedesktop.DBus.Properties';
/** The bus match rules of the signals onMessage handles: JobRemoved, and a unit's or a service's PropertiesChanged. */
const SIGNAL_MATCHES = [
  `type='signal',sender='${DEST}',interface='${MANAGER}',member='JobRemoved'`,
  ...[UNIT_IFACE, SERVICE_IFACE].map((i) => `type='signal',sender='${DEST}',interface='${PROPS}',member='PropertiesChanged',arg0='${i}'`),
];
const UNIT_PREFIX = `${ROOT}/unit/`;
/** Job results kept for jobs nobody waits for yet (JobRemoved can beat the StartUnit reply). */
const MAX_KEPT_RESULTS = 4096;
/** Deadline of one D-Bus method call (ms): D-Bus's own default reply timeout. A job's wait is not a call. */
const CALL_TIMEOUT_MS = 25_000;
/** Method calls awaiting a reply at once, at most: half of dbus-daemon's max_replies_per_connection on the system bus (128). */
const MAX_IN_FLIGHT = 64;
/** Unit names per ListUnitsByNames call: keeps each reply small (a D-Bus message is at most 128 MiB; systemd's replies far less). */
const LIST_CHUNK = 256;
/** ExecMainCode: the si_code of the main process's end (CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3). */
const EXEC_CODES: Record<number, string> = { 1: 'exited', 2: 'killed', 3: 'dumped' };

/** Options of `connectSystemd`. */
export interface SystemdDbusOptions {
  /** D-Bus address; default $DBUS_SYSTEM_BUS_ADDRESS or the system bus socket. */
  busAddress?: string;
  log?: Logger;
}

/** Connects to systemd over the system bus and subscribes to its signals (before any call, so no job result is missed). */
export async function connectSystemd(opts: SystemdDbusOptions = {}): Promise<Systemd> {
  speedUpDbusDecoding();
  const address = opts.busAddress ?? process.env.DBUS_SYSTEM_BUS_ADDRESS ?? 'unix:path=/run/dbus/system_bus_socket';
  const bus = dbus.sessionBus({ busAddress: address });
  batchDbusWrites(bus);
  const client = new SystemdDbus(bus, opts.log ?? silentLogger);
  try {
    await client.init();
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

/** Escapes a unit name into its D-Bus object path (systemd's bus_label_escape). */
export function unitObjectPath(name: string): string {
  let out = '';
  for (const ch of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(ch);
    out += /[A-Za-z0-9]/.test(c) ? c : `_${ch.toString(16).padStart(2, '0')}`;
  }
  return UNIT_PREFIX + out;
}

/** The unit name of a unit object path, or undefined for other paths. */
export function unitNameOfPath(path: string): string | undefined {
  if (!path.startsWith(UNIT_PREFIX)) return undefined;
  const label = path.slice(UNIT_PREFIX.length);
  const bytes: number[] = [];
  for (let i = 0; i < label.length; i++) {
    if (label[i] === '_' && i + 2 < label.length && /^[0-9a-f]{2}$/.test(label.slice(i + 1, i + 3))) {
      bytes.push(parseInt(label.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(label.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

type Waiter = (result: JobResult) => void;

class SystemdDbus implements Systemd {
  private readonly results = new Map<string, JobResult>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly listeners = new Set<UnitChangeListener>();
  private closed = false;
  private failure: Error | undefined;
  /** Method calls sent and not yet answered, and the calls waiting for one of them to end (FIFO). */
  private readonly slots = new CallSlots(MAX_IN_FLIGHT);

  constructor(private readonly bus: dbus.MessageBus, private readonly log: Logger) {
    bus.on('message', (msg) => this.onMessage(msg));
    bus.on('error', (err) => this.fail(err));
  }

  async init(): Promise<void> {
    // only the signals onMessage reads: systemd signals every change of every unit on the machine (each
    // unit type's own interface, UnitNew, JobNew...), which the agent would otherwise decode and drop
    for (const rule of SIGNAL_MATCHES) {
      await this.raw('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [rule]);
    }
    // Without Subscribe systemd emits no unit or job signals at all.
    await this.manager('Subscribe');
  }

  async linkUnitFiles(paths: string[], runtime: boolean): Promise<UnitFileChange[]> {
    if (paths.length === 0) return [];
    const body = await this.manager('LinkUnitFiles', 'asbb', [paths, runtime, true]);
    return (body[0] as [string, string, string][]).map(([type, file, destination]) => ({ type, file, destination }));
  }

  async enableUnitFiles(names: string[], runtime: boolean): Promise<UnitFileChange[]> {
    if (names.length === 0) return [];
    // (files, runtime, force) → (carries_install_info, changes)
    const body = await this.manager('EnableUnitFiles', 'asbb', [names, runtime, true]);
    return (body[1] as [string, string, string][]).map(([type, file, destination]) => ({ type, file, destination }));
  }

  async disableUnitFiles(names: string[], runtime: boolean): Promise<UnitFileChange[]> {
    if (names.length === 0) return [];
    const body = await this.manager('DisableUnitFiles', 'asb', [names, runtime]);
    return (body[0] as [string, string, string][]).map(([type, file, destination]) => ({ type, file, destination }));
  }

  async reload(): Promise<void> {
    await this.manager('Reload');
  }

  queueJob(kind: 'start' | 'stop' | 'restart', name: string, mode = 'replace'): Promise<QueuedJob> {
    const method = kind === 'start' ? 'StartUnit' : kind === 'stop' ? 'StopUnit' : 'RestartUnit';
    return this.job(method, name, mode);
  }

  async startUnit(name: string, mode = 'replace'): Promise<JobResult> {
    return (await this.job('StartUnit', name, mode)).done;
  }

  async stopUnit(name: string, mode = 'replace'): Promise<JobResult> {
    return (await this.job('StopUnit', name, mode)).done;
  }

  async restartUnit(name: string, mode = 'replace'): Promise<JobResult> {
    return (await this.job('RestartUnit', name, mode)).done;
  }

  async unitLoaded(name: string): Promise<boolean> {
    try {
      await this.manager('GetUnit', 's', [name]);
      return true;
    } catch (err) {
      if (err instanceof ShoalError && err.code === 'systemd.no-such-unit') return false;
      throw err;
    }
  }

  async unitsLoaded(names: string[]): Promise<Set<string>> {
    const held = new Set<string>();
    // a unit name is its own glob pattern unless it has a character fnmatch treats specially (the backslash of a \x2d escape)
    const plain = names.filter((n) => /^[A-Za-z0-9:_.@-]+$/.test(n));
    const other = names.filter((n) => !/^[A-Za-z0-9:_.@-]+$/.test(n));
    const chunks: string[][] = [];
    for (let i = 0; i < plain.length; i += LIST_CHUNK) chunks.push(plain.slice(i, i + LIST_CHUNK));
    await Promise.all([
      ...chunks.map(async (chunk) => {
        // lists only what systemd holds in memory, loading nothing (unlike GetUnit's sibling LoadUnit)
        const body = await this.manager('ListUnitsByPatterns', 'asas', [[], chunk]);
        for (const u of body[0] as unknown[][]) held.add(u[0] as string);
      }),
      ...other.map(async (n) => { if (await this.unitLoaded(n)) held.add(n); }),
    ]);
    return held;
  }

  async refUnit(name: string): Promise<void> {
    await this.raw(DEST, unitObjectPath(name), UNIT_IFACE, 'Ref', '', []);
  }

  async resetFailedUnit(name: string): Promise<void> {
    try {
      await this.manager('ResetFailedUnit', 's', [name]);
    } catch (err) {
      if (err instanceof ShoalError && err.code === 'systemd.no-such-unit') return;
      throw err;
    }
  }

  async listUnits(patterns: string[] = []): Promise<SystemdUnitState[]> {
    const body = await this.manager('ListUnitsByPatterns', 'asas', [[], patterns]);
    return (body[0] as unknown[][]).map((u) => ({
      name: u[0] as string, loadState: u[2] as string, activeState: u[3] as string, subState: u[4] as string,
      // not in ListUnits' reply: ask unitState for these
      mainPid: 0, fragmentPath: '',
    }));
  }

  async unitStates(names: string[]): Promise<Map<string, Pick<SystemdUnitState, 'name' | 'loadState' | 'activeState' | 'subState'>>> {
    const out = new Map<string, Pick<SystemdUnitState, 'name' | 'loadState' | 'activeState' | 'subState'>>();
    const chunks: string[][] = [];
    for (let i = 0; i < names.length; i += LIST_CHUNK) chunks.push(names.slice(i, i + LIST_CHUNK));
    await Promise.all(chunks.map(async (chunk) => {
      const body = await this.manager('ListUnitsByNames', 'as', [chunk]);
      for (const u of body[0] as unknown[][]) {
        out.set(u[0] as string, { name: u[0] as string, loadState: u[2] as string, activeState: u[3] as string, subState: u[4] as string });
      }
    }));
    return out;
  }

  async unitState(name: string): Promise<SystemdUnitState> {
    // Addressing the unit's object path makes systemd load the unit if it has not yet.
    const path = unitObjectPath(name);
    const [unit] = await this.raw(DEST, path, PROPS, 'GetAll', 's', [UNIT_IFACE]);
    const props = unit as Record<string, dbus.Variant>;
    let mainPid = 0;
    let exit: SystemdUnitState['exit'];
    let result: string | undefined;
    let restart: SystemdUnitState['restart'];
    const ended = props.ActiveState?.value === 'inactive' || props.ActiveState?.value === 'failed';
    if (name.endsWith('.service') && props.LoadState?.value === 'loaded' && ended) {
      // a service that ended: how its main process ended (batch units: exit 0 = success, docs/jobs.md)
      const [all] = await this.raw(DEST, path, PROPS, 'GetAll', 's', [SERVICE_IFACE]);
      const s = all as Record<string, dbus.Variant>;
      mainPid = Number(s.MainPID?.value ?? 0);
      if (s.Result) {
        result = String(s.Result.value);
        const prevent = s.RestartPreventExitStatus?.value as [number[], number[]] | undefined;
        restart = { policy: String(s.Restart?.value ?? ''), count: Number(s.NRestarts?.value ?? 0), preventExitStatus: (prevent?.[0] ?? []).map(Number) };
      }
      const startUs = Number(s.ExecMainStartTimestamp?.value ?? 0);
      if (startUs > 0) {
        exit = {
          result: String(s.Result?.value ?? ''), code: EXEC_CODES[Number(s.ExecMainCode?.value ?? 0)] ?? String(s.ExecMainCode?.value ?? ''),
          status: Number(s.ExecMainStatus?.value ?? 0), startMs: Math.floor(startUs / 1000), endMs: Math.floor(Number(s.ExecMainExitTimestamp?.value ?? 0) / 1000),
        };
      }
    } else if (name.endsWith('.service') && props.LoadState?.value === 'loaded') {
      const [pid] = await this.raw(DEST, path, PROPS, 'Get', 'ss', [SERVICE_IFACE, 'MainPID']);
      mainPid = Number((pid as dbus.Variant).value);
    }
    return {
      name,
      loadState: String(props.LoadState?.value ?? ''),
      activeState: String(props.ActiveState?.value ?? ''),
      subState: String(props.SubState?.value ?? ''),
      mainPid,
      fragmentPath: String(props.FragmentPath?.value ?? ''),
      // µs since the epoch (0 = never): lets a restarted agent's health checks keep a unit's MinHealthyTime
      ...(Number(props.ActiveEnterTimestamp?.value ?? 0) > 0 ? { activeEnterMs: Math.floor(Number(props.ActiveEnterTimestamp.value) / 1000) } : {}),
      ...(exit ? { exit } : {}),
      // with the Unit properties this GetAll already carries: what a "start rate limit hit" reason names
      ...(result !== undefined ? {
        result, restart,
        startLimit: { burst: Number(props.StartLimitBurst?.value ?? 0), intervalMs: Math.floor(Number(props.StartLimitIntervalUSec?.value ?? 0) / 1000) },
      } : {}),
    };
  }

  async unitUsage(name: string, timeoutMs = 2000): Promise<{ cpuNSec?: number; memoryBytes?: number; controlGroup?: string }> {
    const path = unitObjectPath(name);
    // two Gets in parallel, not GetAll: a service's GetAll carries ~250 properties
    const [[cpu], [mem]] = await Promise.all([
      this.raw(DEST, path, PROPS, 'Get', 'ss', [SERVICE_IFACE, 'CPUUsageNSec'], timeoutMs),
      this.raw(DEST, path, PROPS, 'Get', 'ss', [SERVICE_IFACE, 'MemoryCurrent'], timeoutMs),
    ]);
    const out: { cpuNSec?: number; memoryBytes?: number; controlGroup?: string } = {};
    const c = accounted((cpu as dbus.Variant).value);
    const m = accounted((mem as dbus.Variant).value);
    if (c !== undefined) out.cpuNSec = c;
    if (m !== undefined) out.memoryBytes = m;
    else {
      // no memory controller on the unified hierarchy (a hybrid host): the caller sums its processes instead
      const [cg] = await this.raw(DEST, path, PROPS, 'Get', 'ss', [SERVICE_IFACE, 'ControlGroup'], timeoutMs);
      const g = String((cg as dbus.Variant).value ?? '');
      if (g) out.controlGroup = g;
    }
    return out;
  }

  async systemState(): Promise<string> {
    const [v] = await this.raw(DEST, ROOT, PROPS, 'Get', 'ss', [MANAGER, 'SystemState']);
    return String((v as dbus.Variant).value);
  }

  async jobOfUnitByPid(pid: number): Promise<string | undefined> {
    const [unitPath] = (await this.manager('GetUnitByPID', 'u', [pid])) as [string];
    const [job] = await this.raw(DEST, unitPath, PROPS, 'Get', 'ss', [UNIT_IFACE, 'Job']);
    const [id, jobPath] = (job as dbus.Variant).value as [number, string];
    if (!id) return undefined;
    const [type] = await this.raw(DEST, jobPath, PROPS, 'Get', 'ss', ['org.freedesktop.systemd1.Job', 'JobType']);
    return String((type as dbus.Variant).value);
  }

  onUnitChange(listener: UnitChangeListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failure ??= new UnavailableError('systemd.unavailable', 'systemd D-Bus connection closed');
    // calls waiting for a slot fail now, not when their deadline or a call on the dead connection ends
    this.slots.close(this.failure);
    for (const w of this.waiters.values()) w('canceled');
    this.waiters.clear();
    this.bus.disconnect();
  }

  /** Calls a job method; `done` follows its JobRemoved, whichever of reply and signal comes first. */
  private async job(method: string, name: string, mode: string): Promise<QueuedJob> {
    const endJob = dbusJobDuration.startTimer({ type: method.replace(/Unit$/, '').toLowerCase() });
    const [path] = (await this.manager(method, 'ss', [name, mode])) as [string];
    const timed = (p: Promise<JobResult>) => p.then((result) => { endJob({ result }); return result; });
    const done = this.results.get(path);
    if (done !== undefined) {
      this.results.delete(path);
      return { path, done: timed(Promise.resolve(done)) };
    }
    if (this.failure) throw this.failure;
    return { path, done: timed(new Promise<JobResult>((resolve) => this.waiters.set(path, resolve))) };
  }

  private onMessage(msg: dbus.Message): void {
    if (msg.type !== dbus.MessageType.SIGNAL) return;
    if (msg.interface === MANAGER && msg.member === 'JobRemoved') {
      const [, job, , result] = msg.body as [number, string, string, string];
      const waiter = this.waiters.get(job);
      if (waiter) {
        this.waiters.delete(job);
        waiter(result);
      } else {
        this.results.set(job, result);
        if (this.results.size > MAX_KEPT_RESULTS) this.results.delete(this.results.keys().next().value as string);
      }
    } else if (msg.interface === PROPS && msg.member === 'PropertiesChanged') {
      this.onPropertiesChanged(msg);
    }
  }

  private onPropertiesChanged(msg: dbus.Message): void {
    const name = unitNameOfPath(msg.path);
    if (name === undefined || this.listeners.size === 0) return;
    const [iface, changed, invalidated] = msg.body as [string, Record<string, dbus.Variant>, string[]];
    const state: Partial<SystemdUnitState> = {};
    if (iface === UNIT_IFACE) {
      if (changed.LoadState) state.loadState = String(changed.LoadState.value);
      if (changed.ActiveState) state.activeState = String(changed.ActiveState.value);
      if (changed.SubState) state.subState = String(changed.SubState.value);
      if (changed.FragmentPath) state.fragmentPath = String(changed.FragmentPath.value);
      if (changed.ActiveEnterTimestamp && Number(changed.ActiveEnterTimestamp.value) > 0) state.activeEnterMs = Math.floor(Number(changed.ActiveEnterTimestamp.value) / 1000);
    } else if (iface === SERVICE_IFACE && changed.MainPID) {
      state.mainPid = Number(changed.MainPID.value);
    }
    // invalidated-only signals carry no values: report an empty change so the listener re-reads
    if (Object.keys(state).length === 0 && invalidated.length === 0) return;
    for (const l of this.listeners) {
      try { l(name, state); } catch (err) { this.log.error('unit change listener threw', { unit: name, err: String(err) }); }
    }
  }

  private fail(err: unknown): void {
    this.log.warn('systemd D-Bus connection failed', { err: String(err) });
    this.failure = new UnavailableError('systemd.unavailable', `systemd D-Bus connection failed: ${String(err)}`, err);
    this.close();
  }

  private manager(member: string, signature = '', body: unknown[] = []): Promise<unknown[]> {
    return this.raw(DEST, ROOT, MANAGER, member, signature, body);
  }

  /**
   * One method call, at most MAX_IN_FLIGHT at a time on this connection (dbus-daemon refuses a call beyond its
   * max_replies_per_connection, 128 on the system bus: 1,000 starts at once had 64 of them refused). The
   * deadline counts from here: the wait for a slot is part of it.
   */
  private async raw(destination: string, path: string, iface: string, member: string, signature: string, body: unknown[], timeoutMs = CALL_TIMEOUT_MS): Promise<unknown[]> {
    if (this.failure) throw this.failure;
    const until = Date.now() + timeoutMs;
    try {
      await this.slots.acquire(timeoutMs);
    } catch (err) {
      throw err instanceof SlotTimeout ? new UnavailableError('systemd.timeout', `systemd ${member}: ${err.message}`) : convertError(err, member, body);
    }
    try {
      const left = Math.max(1, until - Date.now());
      const reply = await callWithin(this.bus.call(new dbus.Message({ destination, path, interface: iface, member, signature, body })), member, left);
      return reply?.body ?? [];
    } catch (err) {
      throw convertError(err, member, body);
    } finally {
      this.slots.release();
    }
  }
}

/** A uint64 accounting value; undefined for systemd's "not accounted" (UINT64_MAX) or a non-number. */
function accounted(v: unknown): number | undefined {
  if (typeof v !== 'bigint' && (typeof v !== 'number' || !Number.isInteger(v))) return undefined;
  if (BigInt(v) >= 0xffffffffffffffffn) return undefined;
  return Number(v);
}

/** `p`, or UnavailableError `systemd.timeout` when systemd has not answered within `ms` (default CALL_TIMEOUT_MS). */
function callWithin<T>(p: Promise<T>, member: string, ms = CALL_TIMEOUT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new UnavailableError('systemd.timeout', `systemd ${member}: no reply within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (err) => { clearTimeout(t); reject(err); });
  });
}

/** D-Bus error → ShoalError: `systemd.<kebab of the error name>` (e.g. `systemd.no-such-unit`). */
function convertError(err: unknown, member: string, body: unknown[]): ShoalError {
  if (err instanceof ShoalError) return err;
  if (err instanceof dbus.DBusError) {
    const short = err.type.split('.').pop() ?? 'error';
    const code = `systemd.${short.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}`;
    return new ShoalError(code, `systemd ${member}(${JSON.stringify(body)}): ${err.text || err.type}`,
      { cause: err, details: { dbusError: err.type, member } });
  }
  return new UnavailableError('systemd.unavailable', `systemd ${member}: ${String(err)}`, err);
}
