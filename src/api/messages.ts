/** The API's messages as TypeScript sees them (camelCase fields, enums as names), mirroring shoal.proto. */
import type { TargetState } from '../units/types';

/** Wire names of TargetState. */
export type WireTargetState = 'TARGET_STATE_UNSPECIFIED' | 'INACTIVE' | 'LOADED' | 'LAUNCHED';

/** TargetState → its enum name on the wire. */
export function toWireState(s: TargetState | undefined): WireTargetState {
  return s === undefined ? 'TARGET_STATE_UNSPECIFIED' : (s.toUpperCase() as WireTargetState);
}

/** Enum name (or number) from the wire → TargetState; undefined when unspecified or unknown. */
export function fromWireState(s: unknown): TargetState | undefined {
  const m: Record<string, TargetState> = { INACTIVE: 'inactive', LOADED: 'loaded', LAUNCHED: 'launched', 1: 'inactive', 2: 'loaded', 3: 'launched' };
  return m[String(s)];
}

/** One unit file with its states and placement. */
export interface UnitFileInfo {
  name: string;
  text: string;
  hash: string;
  desiredState: string;
  currentState: string;
  targetMachine: string;
  targetAddress: string;
  global: boolean;
  template: boolean;
  group?: boolean;
  instancesDesired?: number;
  instancesRunning?: number;
}

/** A key a listing skipped because its value is bad. */
export interface BadKeyMsg {
  key: string;
  reason: string;
}

/** One agent-reported state. */
export interface UnitStateMsg {
  unit: string;
  machine: string;
  machineAddress: string;
  loadState: string;
  activeState: string;
  subState: string;
  hash: string;
  mainPid: number;
  since: string;
  health?: string;
  healthRestarts?: number;
  healthOutput?: string;
  /** Why the unit is not in its desired state on that machine, from its agent; '' when fine. */
  reason: string;
  /** Real use from cgroup accounting (millicores, bytes); usageReported false when its machine reported none. */
  cpuUseMillis?: number;
  memoryUseBytes?: number;
  usageReported?: boolean;
  /**
   * How its last run ended (systemd's Result, ExecMainCode, ExecMainStatus; times in ms since the epoch), for a
   * service that ran since its agent loaded it and is not running now (src/agent/agent.ts `reported`); absent or
   * null otherwise (null: an unset message field on the wire).
   */
  exit?: UnitExitMsg | null;
}

/** How a service's main process ended (UnitExit in shoal.proto; the agent's UnitExit in src/etcd/registry.ts). */
export interface UnitExitMsg {
  result: string;
  code: string;
  status: number;
  startMs: number;
  endMs: number;
}

/** A live machine. */
export interface MachineMsg {
  id: string;
  address: string;
  metadata: Record<string, string>;
  dynamicMetadata: Record<string, string>;
  cpuMillis: number;
  memoryBytes: number;
  version: string;
  startedAt: string;
  /** Real load (load/<machine>); loadAt '' when none was reported. Millicores and bytes. */
  loadAt?: string;
  cpuUseMillis?: number;
  cpuTotalMillis?: number;
  memoryAvailableBytes?: number;
  memoryTotalBytes?: number;
  diskFreeBytes?: number;
  diskTotalBytes?: number;
  /** '' | cordoned | draining | drained */
  cordon?: string;
}

/** A cordon/drain/uncordon answer. */
export interface CordonResponseMsg {
  machine: string;
  changed: boolean;
  drainId: string;
  message: string;
}

/** A machine's cordon and drain progress. */
export interface DrainStatusMsg {
  machine: string;
  cordoned: boolean;
  cordonedSince: number;
  cordonedBy: string;
  drainId: string;
  status: '' | 'pending' | 'draining' | 'done';
  moved: { unit: string; to: string; at: number; healthy: boolean; forced: boolean }[];
  stuck: { unit: string; reason: string }[];
  waiting: string[];
  message: string;
  deadlineAt: number;
  deadlinePassed: boolean;
}

/** A change of a reported state. */
/** A cluster event as the API sends it (src/events). */
export interface ClusterEventMsg {
  id: string;
  revision: number;
  /** ms since the epoch */
  time: number;
  kind: string;
  unit: string;
  machine: string;
  message: string;
  actor: string;
  fields: Record<string, string>;
}

export interface UnitStateEventMsg {
  /** Empty (null) in the `synced` marker. */
  state: UnitStateMsg;
  deleted: boolean;
  /** The marker after the initial states, when asked for. */
  synced?: boolean;
}

/** One machine's verdict for one unit: every filter, and the scores when all pass. */
export interface MachineVerdictMsg {
  machine: string;
  passes: boolean;
  chosen: boolean;
  total: number;
  filters: { plugin: string; ok: boolean; reason: string }[];
  scores: { plugin: string; weight: number; score: number }[];
}

/** Why a unit is (or is not) where it is. */
export interface ExplainMsg {
  unit: string;
  machine: string;
  summary: string;
  rejections: { machine: string; plugin: string; reason: string }[];
  machines: string[];
  status: string;
  strategy: string;
  details: MachineVerdictMsg[];
}

/** `systemctl status` output of one machine. */
export interface MachineStatusMsg {
  machine: string;
  text: string;
  exitCode: number;
}

/** One unit's result in a batch (see BatchUnitResult in shoal.proto). */
export interface BatchUnitResultMsg {
  name: string;
  outcome: string;
  previous: string;
  hash: string;
  global: boolean;
  /** [X-Shoal] Kind=batch (runs to completion: nothing to wait for). */
  batch?: boolean;
}

/** One message of an ApplyBatch stream. */
export interface BatchProgressMsg {
  total: number;
  results: BatchUnitResultMsg[];
}

/** Batch actions on the wire. */
export type WireBatchAction = 'SUBMIT' | 'SET_STATE' | 'DESTROY';

/** One deployment as shown by `shoalctl deployments` / `rollout status`. Times in ms since the epoch. */
export interface DeploymentMsg {
  unit: string;
  id: string;
  fromHash: string;
  toHash: string;
  target: string;
  status: string;
  step: number;
  steps: number;
  healthy: number;
  total: number;
  inFlight: string[];
  maxInFlight: number;
  parallel: number;
  canary: number;
  startedAt: number;
  updatedAt: number;
  message: string;
}

/** One run of a batch unit as shown by `shoalctl jobs` (times in ms since the epoch; 0 = unknown). */
export interface JobRunMsg {
  machine: string;
  placedAt: number;
  startedAt: number;
  endedAt: number;
  result: string;
  exitStatus: number;
  exitCode: string;
  /** succeeded | failed | lost | '' (still running). */
  outcome: string;
}

/** A job as shown by `shoalctl jobs` / `status` (docs/jobs.md). */
export interface JobMsg {
  unit: string;
  kind: string;
  hash: string;
  status: string;
  runs: JobRunMsg[];
  failures: number;
  backoffLimit: number;
  retryAt: number;
  completions: number;
  parallelism: number;
  succeeded: number;
  failed: number;
  maxActive: number;
  schedule: string;
  lastEvent: number;
  nextEvent: number;
  fired: number;
  skipped: number;
  createdAt: number;
  updatedAt: number;
  message: string;
}

/** One stored version of a unit. */
export interface UnitVersionMsg {
  hash: string;
  time: number;
  current: boolean;
}
