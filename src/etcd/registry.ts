/**
 * The registry: shoal's state in etcd, seen through small interfaces owned by their users
 * (engine, agent, API). Reads are split from writes. Implementations: registry-etcd.ts.
 *
 * Errors, for every method below unless it says otherwise:
 * - etcd unreachable / timed out → UnavailableError (`etcd.unavailable`, retryable: retry with backoff);
 * - a stored value that is not what shoal writes: lists and watches skip it and name it in `bad`
 *   (one bad key never stops a read); a read of that one key throws ShoalError `etcd.bad-value`.
 * Expected outcomes (not leader, already exists, not found) are return values, not exceptions.
 */
import type { ResourceRequest, TargetState } from '../units/types';
import type { Deployment, UnitVersion } from '../deploy/types';
import type { AutoscaleRecord } from '../autoscale/types';
import type { CordonRecord, DrainProgress } from '../drain/types';
import type { JobRecord } from '../jobs/types';

/** A submitted unit file as stored at `units/<name>`. */
export interface UnitRecord {
  name: string;
  /** The unit file exactly as submitted. */
  text: string;
  /** Content hash (hex sha1 of text), as computed by src/units. */
  hash: string;
}

/** A machine as its agent registered it at `machines/<id>` (on the agent's lease). */
export interface MachineRecord {
  id: string;
  /** Where the machine's agent/API can be reached (display and API forwarding). */
  address?: string;
  /** Static metadata from the agent's config. Dynamic metadata lives apart (metadata/<id>/<key>). */
  metadata: Record<string, string>;
  capacity: ResourceRequest;
  /** shoal version the agent runs. */
  version: string;
  /** ISO-8601 time the agent registered. */
  startedAt: string;
  /**
   * Token of this machine's agent incarnation, kept in its runtime dir (survives an agent restart,
   * not a reboot). A new registration with the same token takes the record over instead of being
   * refused as a duplicate, so a restarted agent never lets its record (and its units' placement) lapse.
   */
  session?: string;
  /**
   * Set by an agent stopping for good (`systemctl stop shoald`) while its machine stays up: the engine
   * moves every unit off it and places nothing new there; the agent then stops its local copies and
   * revokes its lease. (A later `shoalctl drain` can set the same state.)
   */
  leaving?: boolean;
}

/** The systemd state an agent reports for one unit at `states/<name>/<machine>` (on its lease). */
export interface UnitStateRecord {
  loadState: string;
  activeState: string;
  subState: string;
  /** Hash of the unit text the agent has loaded ('' when none). */
  hash: string;
  mainPid?: number;
  /** ISO-8601 time this state was entered. */
  since: string;
  /** From the agent's health checks (src/health): healthy | unhealthy | starting; absent when not judged. */
  health?: 'healthy' | 'unhealthy' | 'starting';
  /** Restarts the agent made because the unit stayed unhealthy for HealthRetries checks. */
  healthRestarts?: number;
  /** The last failing check's output or reason (short). */
  healthOutput?: string;
  /** Why the unit is not in its desired state here, from the agent (a refused load or start, a late job); absent when fine. */
  reason?: string;
  /** How the unit's last run ended, for a service that ran since the agent loaded it and is not running now. */
  exit?: UnitExit;
}

/** How a service's main process ended (systemd's Service properties), times in ms since the epoch. */
export interface UnitExit {
  /** systemd's Result: success, exit-code, signal, core-dump, timeout, ... */
  result: string;
  /** ExecMainCode: exited | killed | dumped. */
  code: string;
  /** ExecMainStatus: the exit status, or the signal number when killed. */
  status: number;
  /** ExecMainStartTimestamp / ExecMainExitTimestamp. */
  startMs: number;
  endMs: number;
}

/** One unit's use from systemd's cgroup accounting (CPUUsageNSec, MemoryCurrent). */
export interface UnitUsage {
  /** CPU used over the last sampling interval, millicores (1000 = one core busy). */
  cpuMillis: number;
  /** Memory in use now (cgroup memory.current), bytes; absent when systemd does not account it. */
  memoryBytes?: number;
}

/**
 * A machine's real load as its agent measured it, at `load/<machine>` (on the agent's lease), written only
 * on a significant change and at most once per sampling interval (src/agent/load-change.ts, docs/autoscaling.md).
 */
export interface MachineLoad {
  /** ISO-8601 time of the sample. */
  at: string;
  /** CPU busy on the whole machine (every process), millicores, over the last interval. */
  cpuMillis: number;
  /** CPUs the machine has × 1000 (what cpuMillis is out of). */
  cpuTotalMillis: number;
  /** MemAvailable of /proc/meminfo, bytes. */
  memAvailableBytes: number;
  memTotalBytes: number;
  /** Free and total bytes of the filesystem holding the agent's unit directory (statfs). */
  diskFreeBytes: number;
  diskTotalBytes: number;
  /** unit → its use (service units the agent runs here). */
  units: Record<string, UnitUsage>;
}

/** One reported state with its unit and machine. */
export interface UnitStateEntry {
  unit: string;
  machine: string;
  state: UnitStateRecord;
}

/**
 * A key under the prefix whose value is not what shoal writes (garbage, truncated JSON, a unit record
 * whose name is invalid or differs from its key). Reads and watches skip it and say so here.
 */
export interface BadValue {
  /** The full etcd key. */
  key: string;
  /** What is wrong with its value. */
  reason: string;
  /** The unit the key belongs to (units/<name>, desired/<name>), when it names one: that unit is left as it is. */
  unit?: string;
}

/** A value together with the etcd revision it was read at (pass it to `watch` as `fromRevision`). */
export interface Revisioned<T> {
  revision: number;
  value: T;
  /** Keys skipped because their value is bad (absent when none). */
  bad?: BadValue[];
}

/** Everything the engine plans from, read atomically at one revision. */
export interface ClusterState {
  revision: number;
  units: Map<string, UnitRecord>;
  desired: Map<string, TargetState>;
  /** unit → machine id (may name a machine that is gone). */
  schedule: Map<string, string>;
  /** Live machines only (their lease is alive). */
  machines: Map<string, MachineRecord>;
  /** machine id → dynamic metadata (may exist for a machine that is not live). */
  metadata: Map<string, Map<string, string>>;
  /** template → count set by `shoalctl scale` (groups/). Absent in readers that predate groups. */
  groups?: Map<string, number>;
  /** unit → its latest deployment (deployments/). */
  deployments?: Map<string, Deployment>;
  /** unit → deployment id released by `shoalctl promote` (promote/). */
  promotions?: Map<string, string>;
  /** unit → machine → reported state (states/), for health gates. */
  states?: Map<string, Map<string, UnitStateRecord>>;
  /** machine → its last load report (load/). */
  loads?: Map<string, MachineLoad>;
  /** template → the autoscaler's stored decisions (autoscale/). */
  autoscale?: Map<string, AutoscaleRecord>;
  /** machine → its cordon (cordon/), with a drain request when draining. */
  cordons?: Map<string, CordonRecord>;
  /** machine → the leader's progress of its drain (drains/). */
  drains?: Map<string, DrainProgress>;
  /** unit → its batch job record (jobs/). */
  jobs?: Map<string, JobRecord>;
  /** Keys skipped because their value is bad (absent: none). */
  bad?: BadValue[];
}

/** Reads for the engine. */
export interface ClusterReader {
  /** Units, desired states, schedule, live machines and dynamic metadata, in one consistent read. */
  readCluster(): Promise<ClusterState>;
}

/** Proof of leadership: the election key and the create revision this engine's campaign got. Opaque to users. */
export interface LeaderGuard {
  key: string;
  createRevision: number;
  leaseId: string;
  /** The campaign value of the engine holding this guard; written to `engine/writer` with every placement txn. */
  holder: string;
}

/** A change to the schedule, as the engine decided it (mirror of engine Decision, without reasons). */
export type ScheduleChange =
  | { kind: 'place'; unit: string; machine: string }
  | { kind: 'unschedule'; unit: string; from: string }
  | { kind: 'move'; unit: string; from: string; to: string };

/** What happened to a batch of schedule changes. */
export interface ApplyResult {
  /**
   * How many changes were committed (a prefix of the input, in order). With `notLeader`, `stale` or a
   * throw, places after that prefix may have been committed too (applySchedule writes a few transactions
   * of places at once); a plan that has not seen them is refused as `stale`, never written.
   */
  applied: number;
  /** True when a transaction was refused because the guard no longer holds: stop, you are not the leader. */
  notLeader: boolean;
  /**
   * applySchedule only: true when a transaction was refused, the guard still holding, because a unit's
   * schedule key was not what a change expected (a place: absent; an unschedule or a move: `from`). The
   * caller's view is behind etcd: plan again once its watch has caught up.
   */
  stale?: boolean;
  /** Number of etcd transactions used. */
  txns: number;
}

/** Schedule writes for the engine. Every write is a transaction guarded on the leader key. */
export interface ScheduleWriter {
  /**
   * Writes `changes` in order, in transactions of at most 128 operations, each guarded on `guard`
   * (the leader key must still exist with the guard's create revision) and on each unit's schedule key
   * as the change expects it: absent for a place, on `from` for an unschedule or a move. So a plan made on
   * a view behind etcd (a write committed whose event has not arrived, a timed-out write that committed
   * after all) is refused, never written: a place over an existing placement would leave the old
   * machine's assigned/ key behind, and the unit would run on both machines.
   * A transaction with an unschedule or a move is written after all before it have committed;
   * transactions of places only go a few at once.
   * Stops at the first refused transaction and returns `notLeader: true` (the guard failed) or
   * `stale: true` (a schedule key did not match); never writes anything once leadership is lost.
   */
  applySchedule(guard: LeaderGuard, changes: ScheduleChange[]): Promise<ApplyResult>;
}

/** A write the leader makes for groups and deployments (one guarded transaction per batch). */
export type UnitChange =
  | { kind: 'put-unit'; record: UnitRecord; desired?: TargetState }
  | { kind: 'delete-unit'; unit: string }
  | { kind: 'put-desired'; unit: string; desired: TargetState }
  | { kind: 'put-deployment'; deployment: Deployment }
  /** The autoscaler's count (groups/<template>, the key `shoalctl scale` writes) and its decision record together. */
  | { kind: 'put-scale'; unit: string; count: number; record: AutoscaleRecord }
  /** A batch job's record (jobs/<unit>); delete-unit deletes it too. */
  | { kind: 'put-job'; job: JobRecord }
  | { kind: 'delete-job'; unit: string };

/** Group and deployment writes for the engine. */
export interface GroupWriter {
  /**
   * Writes `changes` in transactions of at most 128 operations, each guarded on `guard` like
   * applySchedule; `delete-unit` also deletes the unit's desired state. Stops at the first refused txn.
   */
  applyUnitChanges(guard: LeaderGuard, changes: UnitChange[]): Promise<ApplyResult>;
  /** The stored versions of a unit, oldest first ([] when none). */
  getHistory(name: string): Promise<UnitVersion[]>;
}

/** The leader's drain progress writes. */
export interface DrainWriter {
  /**
   * Writes drains/<machine> guarded on `guard` and on cordon/<machine> still asking for drain `progress.id`
   * (an uncordon or a new drain meanwhile wins): 'stale' then, nothing written; 'not-leader' when the guard fails.
   */
  putDrainProgress(guard: LeaderGuard, progress: DrainProgress): Promise<'ok' | 'stale' | 'not-leader'>;
}

/** Group, version and deployment reads and writes for the API. */
export interface GroupStore {
  /** Sets groups/<template> = count; false (nothing written) when the template does not exist. */
  setScale(template: string, count: number): Promise<boolean>;
  /** The count set by scale; null when none. */
  getScale(template: string): Promise<number | null>;
  /** Every count set by scale. */
  listScales(): Promise<Map<string, number>>;
  /** The stored versions of a unit, oldest first ([] when none). */
  getHistory(name: string): Promise<UnitVersion[]>;
  /** Every unit's latest deployment. */
  listDeployments(): Promise<Deployment[]>;
  /** Writes promote/<name> = id. */
  setPromote(name: string, id: string): Promise<void>;
}

/** Cordons and drains (src/drain/types.ts) for the API and a leaving agent. */
export interface CordonStore {
  /** The cordon of `machine`; null when it is not cordoned. */
  getCordon(machine: string): Promise<CordonRecord | null>;
  /** Every cordon, by machine. */
  listCordons(): Promise<Map<string, CordonRecord>>;
  /** Writes cordon/<machine> (a drain request included); drains/<machine> of an older drain id is deleted in the same txn. */
  putCordon(machine: string, record: CordonRecord): Promise<void>;
  /** Deletes cordon/<machine> and drains/<machine>; false when it was not cordoned. */
  deleteCordon(machine: string): Promise<boolean>;
  /** The leader's progress of the drain of `machine`; null when none. */
  getDrainProgress(machine: string): Promise<DrainProgress | null>;
}

/** Batch job records for the API (written by the leader only). */
export interface JobReader {
  /** Every job record (jobs/), of batch units and of Completions=/Schedule= templates. */
  listJobs(): Promise<JobRecord[]>;
}

/** Reads for the agent (and the API). */
export interface UnitReader {
  /** The unit stored at units/<name>; null when there is none. */
  getUnit(name: string): Promise<UnitRecord | null>;
  /** Every unit (templates included). */
  listUnits(): Promise<Revisioned<UnitRecord[]>>;
  /** The desired state of one unit; null when unset (treat as inactive). */
  getDesired(name: string): Promise<TargetState | null>;
  /** Every desired state. */
  listDesired(): Promise<Revisioned<Map<string, TargetState>>>;
  /** Names of the non-global units the engine placed on `machine` (from assigned/<machine>/). */
  listAssigned(machine: string): Promise<Revisioned<string[]>>;
  /** The whole schedule: unit → machine. */
  listSchedule(): Promise<Revisioned<Map<string, string>>>;
}

/** Reads of machines and their metadata. */
export interface MachineReader {
  /** Live machines (lease alive). */
  listMachines(): Promise<Revisioned<MachineRecord[]>>;
  /** One machine's dynamic metadata (empty map when none). */
  getMetadata(machine: string): Promise<Map<string, string>>;
  /** Every live machine's last load report (machine → load). */
  listLoads?(): Promise<Map<string, MachineLoad>>;
}

/** Reads of reported unit states. */
export interface StateReader {
  /** Reported states; of one unit when `unit` is given, else of all units. */
  listStates(unit?: string): Promise<Revisioned<UnitStateEntry[]>>;
}

/** What submitUnit did. */
export type SubmitOutcome = 'created' | 'replaced' | 'unchanged' | 'exists';

/** Writes for the API (shoalctl). */
export interface UnitWriter {
  /**
   * Stores a unit. Without `replace`, an existing unit with a different hash is left alone and
   * 'exists' is returned; with `replace` it is overwritten ('replaced'). Same hash → 'unchanged'.
   * `desired`, when given, is written in the same transaction, and so is the unit's history
   * (history/<name>: the new version appended, the last 10 kept) when it was created or replaced.
   */
  submitUnit(unit: UnitRecord, opts?: { replace?: boolean; desired?: TargetState }): Promise<SubmitOutcome>;
  /** Sets the desired state; false (nothing written) when the unit does not exist. */
  setDesired(name: string, state: TargetState): Promise<boolean>;
  /** Deletes the unit, its desired state, history, group count and deployment (the engine then unschedules it); false when it did not exist. */
  destroyUnit(name: string): Promise<boolean>;
}

/** One write of a unit batch (see UnitBatchWriter). */
export type UnitBatchOp =
  /** Store a unit; `desired`, when given, is written with it (also when the unit is unchanged). */
  | { kind: 'submit'; unit: UnitRecord; replace?: boolean; desired?: TargetState }
  /**
   * Set a unit's desired state. When the unit is absent and `orCreate` is given (an instance built from
   * its template) it is stored first; otherwise the outcome is 'not-found'. A unit whose current desired
   * state (inactive when unset) is in `skipFrom` is left alone ('skipped').
   */
  | { kind: 'desired'; name: string; state: TargetState; orCreate?: UnitRecord; skipFrom?: TargetState[] }
  /** Delete a unit and its desired state. */
  | { kind: 'destroy'; name: string };

/** What a batch did to one unit. */
export type UnitBatchOutcome =
  | 'created' | 'replaced' | 'unchanged' | 'exists' | 'set' | 'skipped' | 'destroyed' | 'not-found';

/** One unit's result in a batch. */
export interface UnitBatchResult {
  name: string;
  outcome: UnitBatchOutcome;
  /** The unit's desired state before the batch (null when unset or absent). */
  previous: TargetState | null;
  /** Hash of the unit stored after the batch ('' when there is none). */
  hash: string;
}

/** What is stored for one unit name. */
export interface StoredUnit {
  unit: UnitRecord | null;
  desired: TargetState | null;
}

/** Many unit writes in few etcd requests (the API's batch calls). */
export interface UnitBatchWriter {
  /** What is stored for each of `names`, read in transactions of at most 128 ranges. */
  readUnits(names: string[]): Promise<Map<string, StoredUnit>>;
  /**
   * Applies `ops` (distinct unit names) in etcd transactions of at most 128 operations (64 units each,
   * a few chunks in flight): each chunk is read, decided and written with a compare on every key it read,
   * so a concurrent change is re-read and re-decided, never overwritten. Chunks are atomic, the batch is
   * not: when etcd fails midway, the chunks already reported to `onChunk` are written, no new chunk starts,
   * and the error is thrown (a chunk in flight may or may not be written).
   * `onChunk` gets each chunk's results as soon as they are committed. Returns every result, in order.
   */
  applyUnitBatch(ops: UnitBatchOp[], onChunk?: (results: UnitBatchResult[]) => void): Promise<UnitBatchResult[]>;
}

/** Dynamic metadata writes for the API. */
export interface MetadataWriter {
  /** Sets metadata/<machine>/<key> = value. */
  setMetadata(machine: string, key: string, value: string): Promise<void>;
  /** Deletes metadata/<machine>/<key>; false when it was not set. */
  deleteMetadata(machine: string, key: string): Promise<boolean>;
}

/** A live registration of one machine, on its own lease. */
export interface MachineSession {
  readonly machineId: string;
  /** Aborted when the lease is lost (expired, revoked, or unreachable past its TTL); `reason` is the cause. */
  readonly lost: AbortSignal;
  /** Rewrites the machine record (e.g. new static metadata); UnavailableError when etcd is unreachable. */
  update(record: MachineRecord): Promise<void>;
  /** Writes (or, with null, deletes) this machine's state of one unit, on the lease. */
  reportState(unit: string, state: UnitStateRecord | null): Promise<void>;
  /**
   * Writes (or, with null, deletes) the states of many units in one etcd transaction, on the lease.
   * At most MAX_TXN_OPS (128) entries; all or nothing.
   */
  reportStates(states: ReadonlyArray<readonly [unit: string, state: UnitStateRecord | null]>): Promise<void>;
  /** Writes this machine's load report (load/<machine>) on the lease: one put. */
  reportLoad(load: MachineLoad): Promise<void>;
  /** Revokes the lease (record and states vanish at once). Idempotent; never throws. */
  close(): Promise<void>;
  /**
   * Stops keeping the lease alive without revoking it: the record lives on until the TTL runs out, so a
   * restarted agent can take it over (see MachineRecord.session) before the engine moves any unit. Idempotent.
   */
  detach(): void;
  /**
   * For a shoald restart: moves the machine's keys (record, states, load) onto a new lease of
   * `graceSeconds` (default RESTART_GRACE_S, at least the TTL; only for a record with a `session` token,
   * which the next agent can take over) and detaches, so the next process has that
   * long to take the record over before the engine counts the machine lost: a cold start under load can
   * take longer than the TTL. If the move fails, one last keep-alive leaves the whole TTL instead.
   * Bounded by the call deadline; never throws.
   */
  handOver(graceSeconds?: number): Promise<void>;
}

/** Machine registration for the agent. */
export interface MachineRegistrar {
  /**
   * Registers `record` on a new lease of `ttlSeconds` (kept alive while the session lives).
   * Throws ValidationError `machine.duplicate-id` when a live machine already has this id, unless that
   * record carries the same `session` token (the same machine's restarted agent): then the record moves
   * onto the new lease in one transaction (never deleted in between) and the old lease is revoked.
   */
  register(record: MachineRecord, ttlSeconds: number): Promise<MachineSession>;
}

/** What a watch can follow. */
export type WatchScope =
  | { kind: 'units' | 'desired' | 'schedule' | 'machines' | 'metadata' | 'states' | 'groups' | 'deployments' | 'promote' | 'load' | 'cordon' | 'drains' | 'jobs' }
  | { kind: 'assigned'; machine: string }
  | { kind: 'metadata-of'; machine: string };

/** One change seen by a watch. `null` values mean the key was deleted (or its lease expired). */
export type RegistryEvent =
  | { type: 'unit'; unit: string; value: UnitRecord | null }
  | { type: 'desired'; unit: string; value: TargetState | null }
  | { type: 'schedule'; unit: string; value: string | null }
  | { type: 'assigned'; machine: string; unit: string; value: boolean }
  | { type: 'machine'; machine: string; value: MachineRecord | null }
  | { type: 'metadata'; machine: string; key: string; value: string | null }
  | { type: 'state'; unit: string; machine: string; value: UnitStateRecord | null }
  | { type: 'group'; unit: string; value: number | null }
  | { type: 'deployment'; unit: string; value: Deployment | null }
  | { type: 'promote'; unit: string; value: string | null }
  | { type: 'load'; machine: string; value: MachineLoad | null }
  | { type: 'cordon'; machine: string; value: CordonRecord | null }
  | { type: 'drain'; machine: string; value: DrainProgress | null }
  | { type: 'job'; unit: string; value: JobRecord | null };

/**
 * One step of a watch. `events` happened at `revision`, in order.
 * `reset: true` (with no events) means the revision to resume from was compacted: changes were missed,
 * so re-read everything you follow, and ignore later batches with a revision ≤ what you read.
 */
export interface WatchBatch {
  revision: number;
  events: RegistryEvent[];
  reset?: boolean;
  /** Changed keys skipped because their new value is bad (absent when none). */
  bad?: BadValue[];
}

/** Watches for the engine and the agent. */
export interface RegistryWatcher {
  /**
   * Follows `scopes` from `fromRevision + 1` (from now when omitted) until `signal` aborts.
   * Survives etcd restarts and disconnects by resuming from the last revision seen, so no change
   * is lost; yields a `reset` batch only when that revision was compacted. Never throws for
   * connection trouble; ends (returns) when `signal` aborts.
   */
  watch(scopes: WatchScope[], opts?: { fromRevision?: number; signal?: AbortSignal }): AsyncIterable<WatchBatch>;
}

/** Everything the engine needs from the registry. */
export interface EngineRegistry extends ClusterReader, ScheduleWriter, RegistryWatcher, Partial<GroupWriter>, Partial<DrainWriter> {}

/** Everything the agent needs from the registry. */
export interface AgentRegistry extends UnitReader, MachineReader, MachineRegistrar, RegistryWatcher, Partial<CordonStore> {}

/** This engine's term as leader. */
export interface Leadership {
  /** Pass to ScheduleWriter.applySchedule. */
  readonly guard: LeaderGuard;
  /** Aborted the moment leadership is (or may be) lost: lease lost, keep-alives late past the TTL, or resigned. */
  readonly lost: AbortSignal;
  /** Gives leadership up (revokes the lease, deleting the leader key). Idempotent; never throws. */
  resign(): Promise<void>;
}

/** Leader election among engines, on the `engine/leader` key. */
export interface LeaderElector {
  /**
   * Waits until this candidate holds the leader key (on a lease of `ttlSeconds`, `value` as its content).
   * Returns null when `signal` aborts first. Retries etcd trouble internally (never throws for it).
   */
  campaign(value: string, ttlSeconds: number, signal: AbortSignal): Promise<Leadership | null>;
  /** The current leader key's value; null when there is no leader. */
  currentLeader(): Promise<string | null>;
}
