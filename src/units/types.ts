/** The unit model shared by every part of shoal. Pure data, no I/O. */
import type { GroupOptions } from './group-options';
import type { ScaleOptions } from './scale-options';
import type { JobOptions } from './job-options';

/** systemd unit types shoal accepts (the suffix of a unit name). */
export const UNIT_TYPES = [
  'service', 'socket', 'device', 'mount', 'automount', 'swap', 'target', 'path', 'timer', 'slice', 'scope',
] as const;
export type UnitType = (typeof UNIT_TYPES)[number];

/** A validated unit name, split into its parts. */
export interface UnitName {
  /** The full name, e.g. `web@3.service`. */
  name: string;
  /** Everything before `@` (or before the type suffix when there is no `@`), e.g. `web`. */
  prefix: string;
  /** The instance string: `3` for `web@3.service`, `''` for a template `web@.service`, undefined otherwise. */
  instance?: string;
  type: UnitType;
  /** True for `web@.service`: it can be submitted but not started. */
  isTemplate: boolean;
  /** For an instance `web@3.service`, its template's name `web@.service`. */
  template?: string;
}

/** One `Key=value` line. `line` is 1-based, the line where the assignment starts. */
export interface UnitEntry {
  key: string;
  value: string;
  line: number;
}

/** One `[Section]` with its entries in file order (repeated keys kept). */
export interface UnitSection {
  name: string;
  line: number;
  entries: UnitEntry[];
}

/** A parsed unit file: sections in file order. Comments are not kept. */
export interface UnitFile {
  sections: UnitSection[];
}

/** fleet's `[X-Fleet]` scheduling options, with specifiers already expanded for instances. */
export interface FleetOptions {
  /** Full machine id or a prefix of at least 8 chars; undefined when not set. */
  machineId?: string;
  /** Unit names that must all be on the same machine as this one. */
  machineOf: string[];
  /** key → allowed values: AND across keys, OR within a key. */
  machineMetadata: Record<string, string[]>;
  /** Glob patterns of unit names that may not share a machine with this one (symmetric). */
  conflicts: string[];
  global: boolean;
  /** Unit names this unit displaces from its machine. */
  replaces: string[];
}

/** What a unit reserves on its machine. 0 means "nothing requested". */
export interface ResourceRequest {
  /** CPU in millicores (1000 = one core). */
  cpuMillis: number;
  memoryBytes: number;
  /** Disk space in bytes (`[X-Shoal] Disk=`); absent or 0 = nothing requested (capacity: unknown). */
  diskBytes?: number;
}

/** How to choose among machines that pass every filter. */
export type PlacementStrategy = 'least-loaded' | 'spread' | 'binpack' | 'epvm' | 'real-load';
export const PLACEMENT_STRATEGIES: readonly PlacementStrategy[] = ['least-loaded', 'spread', 'binpack', 'epvm', 'real-load'];

/** A Docker container a unit runs (from its `[X-Container]` section); see docs/units.md. */
export interface ContainerSpec {
  image: string;
  command: string[];
  env: Record<string, string>;
  /** `host:container[/proto]` mappings, as docker's -p. */
  ports: string[];
  /** `host:container[:ro]` binds or `volume:container[:ro]` named volumes, as docker's -v. */
  volumes: string[];
  /** Replaces the image's ENTRYPOINT (docker run --entrypoint, with arguments). */
  entrypoint?: string[];
  /** `user[:group]` the container's process runs as. */
  user?: string;
  /** Working directory inside the container. */
  workingDir?: string;
  /** Container labels (beside shoal's own). */
  labels?: Record<string, string>;
  /** Docker networks (one per name on each machine) the container joins, with DNS aliases in each. */
  networks?: string[];
  aliases?: string[];
  /** A Docker HEALTHCHECK: `test` as Docker's ['CMD', ...] (or ['NONE']), times in ms. */
  health?: { test: string[]; intervalMs?: number; timeoutMs?: number; retries?: number; startPeriodMs?: number };
  /** Limits enforced by Docker: CPU in millicores, memory in bytes. */
  cpuLimitMillis?: number;
  memoryLimitBytes?: number;
  /** Units on this machine whose containers must be Docker-healthy before this one is created. */
  waitHealthy?: string[];
}

/** A unit as the cluster knows it: validated name, original text, parsed model and scheduling view. */
export interface UnitSpec {
  name: string;
  /** The unit file exactly as submitted. */
  text: string;
  /** Content hash (hex sha1); show the first 7 chars to users. */
  hash: string;
  file: UnitFile;
  options: FleetOptions;
  resources: ResourceRequest;
  /** Per-unit strategy override (`[X-Shoal] Strategy=`); undefined = the cluster's default. */
  strategy?: PlacementStrategy;
  /** Present when the unit runs a container. */
  container?: ContainerSpec;
  /** Instances=, health checks and update options (src/units/group-options.ts); set by parseUnit. */
  group?: GroupOptions;
  /** ScaleMin=, ScaleMax=, ScaleCPU=, ... of a group's template (src/units/scale-options.ts); absent when not autoscaled. */
  autoscale?: ScaleOptions;
  /** Kind=batch: runs to completion (src/units/job-options.ts); absent for services that keep running. */
  job?: JobOptions;
  /** Machines this unit may not be placed on now: set by the engine on a copy for a batch run's retry (not parsed). */
  avoidMachines?: readonly string[];
}

/** The cluster-level state a user asks for. */
export type TargetState = 'inactive' | 'loaded' | 'launched';
export const TARGET_STATES: readonly TargetState[] = ['inactive', 'loaded', 'launched'];
