/**
 * The agent's view of systemd's Manager: the small interface the unit manager uses. The D-Bus
 * implementation is `systemd-dbus.ts` (the only file importing dbus-next). No I/O here.
 */

/** A unit's state as systemd reports it. Strings are systemd's own (`active`, `running`, ...). */
export interface SystemdUnitState {
  name: string;
  loadState: string;
  activeState: string;
  subState: string;
  /** 0 when the unit has no main process (or is not a service). */
  mainPid: number;
  /** The file systemd loaded the unit from; '' when none. */
  fragmentPath: string;
  /** When the unit last became active, ms since the epoch (systemd's ActiveEnterTimestamp); absent when unknown. */
  activeEnterMs?: number;
  /**
   * How the main process of a service that is not running (inactive/failed) last ended: systemd's Result,
   * ExecMainCode (exited/killed/dumped), ExecMainStatus and its start/exit times in ms; absent when it never ran.
   */
  exit?: { result: string; code: string; status: number; startMs: number; endMs: number };
  /**
   * A service that is not running: systemd's Result (`success`, `exit-code`, `start-limit-hit`, ...), read with
   * `exit` but present even when it never ran; absent when not read.
   */
  result?: string;
  /** With `result`: the unit's StartLimitBurst= and StartLimitIntervalSec= (ms). */
  startLimit?: { burst: number; intervalMs: number };
  /**
   * With `result`: its Restart= policy (`no`, `always`, `on-failure`, ...), NRestarts (automatic restarts since
   * its last start job) and RestartPreventExitStatus='s exit statuses: how to tell that systemd stopped
   * restarting it because of its start rate limit (systemd 252 then keeps Result `exit-code`, not `start-limit-hit`).
   */
  restart?: { policy: string; count: number; preventExitStatus: number[] };
}

/** How a job ended: systemd's JobRemoved result (`done`, `failed`, `canceled`, `timeout`, `dependency`, `skipped`). */
export type JobResult = string;

/** A job systemd accepted: its object path, and its result once it ends (never rejects). */
export interface QueuedJob {
  path: string;
  done: Promise<JobResult>;
}

/** A change systemd made to unit file links (LinkUnitFiles / DisableUnitFiles). */
export interface UnitFileChange {
  type: string;
  file: string;
  destination: string;
}

/** Listener for unit state changes: `state` holds only the fields systemd said changed. */
export type UnitChangeListener = (name: string, state: Partial<SystemdUnitState>) => void;

/**
 * systemd's Manager, typed. Every method throws ShoalError (`systemd.*` codes) on a D-Bus error;
 * `UnavailableError` (`systemd.unavailable`) when the bus is gone.
 */
export interface Systemd {
  /** Links unit files (absolute paths) into systemd's search path; `runtime` = under /run (gone at reboot). */
  linkUnitFiles(paths: string[], runtime: boolean): Promise<UnitFileChange[]>;
  /**
   * Enables units as `systemctl enable --runtime` does when `runtime`: the symlinks their `[Install]`
   * section asks for (WantedBy=, RequiredBy=, Also=, Alias=) under /run. Needs a `reload()` after.
   */
  enableUnitFiles(names: string[], runtime: boolean): Promise<UnitFileChange[]>;
  /** Removes the links of the named units (runtime links when `runtime`): both `link` and `enable` ones. */
  disableUnitFiles(names: string[], runtime: boolean): Promise<UnitFileChange[]>;
  /** `daemon-reload`: ~100 ms, so callers batch file changes into one. */
  reload(): Promise<void>;
  /**
   * Queues a start, stop or restart job and resolves once systemd accepted it (fast: it does not wait for
   * the job). Throws (ShoalError `systemd.*`) when systemd refuses the job, e.g. a unit it cannot load.
   */
  queueJob(kind: 'start' | 'stop' | 'restart', name: string, mode?: string): Promise<QueuedJob>;
  /** Starts a unit and resolves with the job's result once the job is done. */
  startUnit(name: string, mode?: string): Promise<JobResult>;
  /** Stops a unit and resolves with the job's result once the job is done. */
  stopUnit(name: string, mode?: string): Promise<JobResult>;
  /** Restarts a unit and resolves with the job's result once the job is done. */
  restartUnit(name: string, mode?: string): Promise<JobResult>;
  /**
   * Pins a unit in systemd's memory while this connection lives (Unit.Ref, as `systemd-run --wait` does), so an
   * ended service is not garbage-collected before its Result and exit status are read. Optional for fakes.
   */
  refUnit?(name: string): Promise<void>;
  /** Clears a unit's failed state; a unit that is not failed (or not loaded) is not an error. */
  resetFailedUnit(name: string): Promise<void>;
  /** States of the units matching the glob patterns (all units when empty). */
  listUnits(patterns?: string[]): Promise<SystemdUnitState[]>;
  /**
   * True when systemd holds the unit in memory (GetUnit, which never loads); false when the next reference
   * loads it afresh from its file (a unit never loaded, or garbage-collected after it stopped).
   */
  unitLoaded(name: string): Promise<boolean>;
  /**
   * Load, active and sub states of many units in one call per 256 names (ListUnitsByNames), loading the ones
   * systemd does not hold yet, as `unitState` does; a name systemd rejects as invalid is absent from the map.
   * Neither MainPID nor how a service ended: `unitState` reads those.
   */
  unitStates(names: string[]): Promise<Map<string, Pick<SystemdUnitState, 'name' | 'loadState' | 'activeState' | 'subState'>>>;
  /** Which of `names` systemd holds in memory (`unitLoaded` of many: one call per 256 names, loading none). */
  unitsLoaded(names: string[]): Promise<Set<string>>;
  /** One unit's state (loading it when systemd has not yet); LoadState `not-found` when it has no file. */
  unitState(name: string): Promise<SystemdUnitState>;
  /** Calls `listener` on every unit state change (PropertiesChanged); returns the unsubscribe function. */
  onUnitChange(listener: UnitChangeListener): () => void;
  /**
   * The type of the job queued or running on the unit that contains process `pid` (`stop`, `restart`,
   * `start`, ...), or undefined when it has none. How shoald tells `systemctl stop` from a restart.
   */
  jobOfUnitByPid(pid: number): Promise<string | undefined>;
  /**
   * A service's use from cgroup accounting: CPUUsageNSec (ns of CPU since it started) and MemoryCurrent
   * (bytes); a field is absent when systemd does not account it, and then `controlGroup` (the unit's
   * cgroup path) lets the caller count its processes' memory. Deadline `timeoutMs` (default 2 s) per
   * call: UnavailableError `systemd.timeout` after it.
   */
  unitUsage(name: string, timeoutMs?: number): Promise<{ cpuNSec?: number; memoryBytes?: number; controlGroup?: string }>;
  /** systemd's SystemState: `running`, `degraded`, `starting`, `stopping` (the machine is shutting down) ... */
  systemState(): Promise<string>;
  /** Disconnects. Idempotent. */
  close(): void;
}

/** True for active states in which the unit counts as started (running or on its way). */
export function isRunningState(activeState: string): boolean {
  return activeState === 'active' || activeState === 'activating' || activeState === 'reloading';
}
