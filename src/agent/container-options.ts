/**
 * From a ContainerSpec to Docker's container-create options: name, labels, init, ports, binds.
 * Pure: no I/O. The driver passes the result to dockerode unchanged.
 */
import { ValidationError } from '../errors';
import type { ContainerSpec } from '../units/types';

/** Label naming the unit a container belongs to. */
export const LABEL_UNIT = 'shoal.unit';
/** Label naming the machine id of the agent that started the container. */
export const LABEL_MACHINE = 'shoal.machine';

/** One port mapping: `host:container[/proto]`. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  proto: 'tcp' | 'udp';
}

/** The subset of Docker's ContainerCreateOptions shoal sets. */
export interface CreateOptions {
  name: string;
  Image: string;
  Cmd?: string[];
  Entrypoint?: string[];
  User?: string;
  WorkingDir?: string;
  Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
  NetworkingConfig?: { EndpointsConfig: Record<string, { Aliases: string[] }> };
  Env: string[];
  Labels: Record<string, string>;
  AttachStdout: true;
  AttachStderr: true;
  Tty: false;
  ExposedPorts: Record<string, Record<string, never>>;
  HostConfig: {
    Init: true;
    Binds: string[];
    PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
    NetworkMode?: string;
    /** bytes */
    Memory?: number;
    /** CPU in units of 1e-9 CPUs */
    NanoCpus?: number;
  };
}

/** A network the container joins after it is created (Docker creates a container on one network only). */
export interface NetworkJoin {
  network: string;
  aliases: string[];
}

/**
 * The Docker network a unit's `Network=NAME` means on this machine: NAME on a machine's own engine; on a
 * shared engine (the testbed) NAME-<machine id 12>, so units on different machines never share a network there
 * either — as on real machines, where each engine has its own.
 */
export function machineNetworkName(name: string, machineId: string, mode: PublishMode = {}): string {
  return mode.via ? `${name}-${machineId.slice(0, 12)}` : name;
}

/** The networks of `spec` on this machine, each with the unit's aliases; the first is the one created with. */
export function networkJoins(spec: ContainerSpec, machineId: string, mode: PublishMode = {}): NetworkJoin[] {
  return (spec.networks ?? []).map((n) => ({ network: machineNetworkName(n, machineId, mode), aliases: spec.aliases ?? [] }));
}

/** Where published ports go: on this machine's engine directly, or on a shared engine at `via`. */
export interface PublishMode {
  /** Address of a shared engine's host (testbed); ports get random host ports there. */
  via?: string;
}

/** Docker container name for a unit on a machine: unique on a shared engine, valid charset. */
export function containerName(unit: string, machineId: string): string {
  return `shoal-${machineId.slice(0, 12)}-${unit.replace(/[^a-zA-Z0-9_.-]/g, '_')}`;
}

/** Parses `host:container[/proto]`; throws ValidationError `container.bad-port`. */
export function parsePort(s: string): PortMapping {
  const m = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(s.trim());
  const bad = () => new ValidationError('container.bad-port', `Port=${s}: expected HOST:CONTAINER[/tcp|udp], ports 1-65535`,
    { section: 'X-Container', key: 'Port' });
  if (!m) throw bad();
  const hostPort = Number(m[1]);
  const containerPort = Number(m[2]);
  if (hostPort < 1 || hostPort > 65535 || containerPort < 1 || containerPort > 65535) throw bad();
  return { hostPort, containerPort, proto: (m[3] as 'tcp' | 'udp' | undefined) ?? 'tcp' };
}

/** Checks `host:container[:ro|rw]` (absolute host path or a named volume); throws ValidationError `container.bad-volume`. */
export function parseVolume(s: string): string {
  const parts = s.split(':');
  const ok = (parts.length === 2 || (parts.length === 3 && ['ro', 'rw'].includes(parts[2])))
    && (parts[0].startsWith('/') || /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(parts[0])) && parts[1].startsWith('/');
  if (!ok) {
    throw new ValidationError('container.bad-volume', `Volume=${s}: expected /HOST/PATH:/CONTAINER/PATH[:ro] or VOLUME:/CONTAINER/PATH[:ro]`,
      { section: 'X-Container', key: 'Volume' });
  }
  return s;
}

/** Docker create options for `spec`, labelled with unit and machine, with an init process as PID 1. */
export function createOptions(spec: ContainerSpec, unit: string, machineId: string, mode: PublishMode = {}): CreateOptions {
  const ports = spec.ports.map(parsePort);
  if (mode.via) {
    const udp = ports.find((p) => p.proto === 'udp');
    if (udp) {
      throw new ValidationError('container.bad-port',
        `Port=${udp.hostPort}:${udp.containerPort}/udp: UDP cannot be forwarded from a shared engine`,
        { section: 'X-Container', key: 'Port' });
    }
  }
  const exposed: CreateOptions['ExposedPorts'] = {};
  const bindings: CreateOptions['HostConfig']['PortBindings'] = {};
  for (const p of ports) {
    const key = `${p.containerPort}/${p.proto}`;
    exposed[key] = {};
    // shared engine: a random port on its host, the runner forwards this machine's port to it
    const b = mode.via ? { HostIp: mode.via, HostPort: '' } : { HostIp: '', HostPort: String(p.hostPort) };
    (bindings[key] ??= []).push(b);
  }
  const nets = networkJoins(spec, machineId, mode);
  const ns = (ms: number | undefined) => (ms === undefined ? undefined : ms * 1e6);
  const h = spec.health;
  return {
    name: containerName(unit, machineId),
    Image: spec.image,
    ...(spec.command.length ? { Cmd: spec.command } : {}),
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    ...(spec.user ? { User: spec.user } : {}),
    ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
    ...(h ? { Healthcheck: { Test: h.test, Interval: ns(h.intervalMs), Timeout: ns(h.timeoutMs), Retries: h.retries, StartPeriod: ns(h.startPeriodMs) } } : {}),
    ...(nets.length ? { NetworkingConfig: { EndpointsConfig: { [nets[0].network]: { Aliases: nets[0].aliases } } } } : {}),
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: { ...(spec.labels ?? {}), [LABEL_UNIT]: unit, [LABEL_MACHINE]: machineId },
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    ExposedPorts: exposed,
    // Init: a PID 1 that forwards SIGTERM and reaps; without it `docker stop` waits out its timeout
    HostConfig: {
      Init: true, Binds: spec.volumes.map(parseVolume), PortBindings: bindings,
      ...(nets.length ? { NetworkMode: nets[0].network } : {}),
      ...(spec.memoryLimitBytes ? { Memory: spec.memoryLimitBytes } : {}),
      ...(spec.cpuLimitMillis ? { NanoCpus: spec.cpuLimitMillis * 1e6 } : {}),
    },
  };
}
