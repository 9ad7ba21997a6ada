/**
 * Docker: run, stop and remove shoal's containers, find them by label, and remove orphans. The only module
 * that loads dockerode, and only for what the container runner does (pull, create, attach, start, stop,
 * networks); listing and removing, all that shoald's agent does, go through DockerSocketApi (docker-api.ts)
 * so shoald never loads dockerode. Engine errors become ShoalErrors here.
 */
import type Docker from 'dockerode';
import { DockerSocketApi, dockerSocketPath, type DockerContainerSummary, type DockerOps } from './docker-api';
import { ShoalError, UnavailableError } from '../errors';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import { LABEL_MACHINE, LABEL_UNIT, type CreateOptions, type NetworkJoin } from './container-options';
import { containerOps } from '../metrics';

/** A shoal container as the engine reports it. */
export interface ShoalContainer {
  id: string;
  name: string;
  unit: string;
  machineId: string;
  /** Docker's state: created, running, exited ... */
  state: string;
}

/** A started container: its id, the host ports Docker published, and its exit. */
export interface RunningContainer {
  id: string;
  /** `containerPort/proto` → host port Docker bound. */
  published: Record<string, number>;
  /** Resolves with the exit code when the container stops. */
  exited: Promise<number>;
}

/** Options of the driver; by default dockerode follows DOCKER_HOST, else /var/run/docker.sock. */
export interface ContainerDriverOptions {
  socketPath?: string;
  log?: Logger;
  /** Deadline of one API call, ms (default DOCKER_CALL_MS). */
  callTimeoutMs?: number;
}

/** Deadline of one Docker API call, ms (not of the streams that follow a container's life: attach, wait). */
export const DOCKER_CALL_MS = 30_000;
/** Deadline of an image pull, ms. */
export const DOCKER_PULL_MS = 300_000;

/** Request options carrying a deadline of `ms` (docker-modem aborts the HTTP request when it fires). */
function within(ms: number): { abortSignal: AbortSignal } {
  return { abortSignal: AbortSignal.timeout(ms) };
}

/** For the calls dockerode gives no abortSignal (image and network inspect): the caller stops waiting at the deadline. */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error(`no answer in ${ms} ms`), { name: 'TimeoutError' })), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}

/** Wraps Docker's errors: an unreachable or unanswering engine is retryable, the rest keep their status. */
function wrap(err: unknown, what: string): ShoalError {
  if (err instanceof ShoalError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; name?: string };
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.code === 'ABORT_ERR') {
    return new UnavailableError('container.engine-unavailable', `${what}: docker engine did not answer in time`, err);
  }
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'EACCES') {
    return new UnavailableError('container.engine-unavailable', `${what}: docker engine unreachable (${e.code})`, err);
  }
  return new ShoalError('container.engine-error', `${what}: ${e.message ?? String(err)}`,
    { details: { statusCode: e.statusCode }, cause: err });
}

/** Stops waiting for `p` when `signal` aborts (dockerode's inspect calls take no signal). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(Object.assign(new Error('no answer in time'), { name: 'TimeoutError' }));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); }, (e) => { signal.removeEventListener('abort', onAbort); reject(e); });
  });
}

/** DockerOps through dockerode, for a DOCKER_HOST that is not a unix socket (tcp, ssh, TLS). */
function dockerodeOps(docker: () => Docker): DockerOps {
  return {
    listContainers: async (filters, all, signal) => (await docker().listContainers({ all, filters, abortSignal: signal })) as unknown as DockerContainerSummary[],
    removeContainer: async (id, signal) => { await docker().getContainer(id).remove({ force: true, v: true, abortSignal: signal }); },
    listNetworks: (filters, signal) => docker().listNetworks({ filters, abortSignal: signal }),
    inspectNetwork: (id, signal) => untilAborted(docker().getNetwork(id).inspect(), signal) as Promise<{ Containers?: Record<string, unknown> }>,
    removeNetwork: async (id, signal) => { await docker().getNetwork(id).remove({ abortSignal: signal }); },
  };
}

/** Container operations for one machine's units. */
export class ContainerDriver {
  private dockerode?: Docker;
  private readonly socketPath?: string;
  private readonly ops: DockerOps;
  private readonly log: Logger;
  private readonly callMs: number;

  constructor(opts: ContainerDriverOptions = {}) {
    this.callMs = opts.callTimeoutMs ?? DOCKER_CALL_MS;
    this.socketPath = opts.socketPath;
    const socket = opts.socketPath ?? dockerSocketPath();
    this.ops = socket ? new DockerSocketApi(socket) : dockerodeOps(() => this.docker);
    this.log = opts.log ?? silentLogger;
  }

  /** dockerode, loaded on first use (by the runner's calls): it follows DOCKER_HOST unless a socket was given. */
  private get docker(): Docker {
    if (!this.dockerode) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const Dockerode = require('dockerode') as typeof import('dockerode');
      this.dockerode = this.socketPath ? new Dockerode({ socketPath: this.socketPath }) : new Dockerode();
    }
    return this.dockerode;
  }

  /** The deadline of one call (callTimeoutMs). */
  private deadline(): AbortSignal {
    return AbortSignal.timeout(this.callMs);
  }

  /** Makes sure `image` is present: pulls it when missing; throws `container.image-missing` if that fails. */
  async ensureImage(image: string): Promise<void> {
    try {
      await bounded(this.docker.getImage(image).inspect(), this.callMs);
      return;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw wrap(err, `inspect image ${image}`);
    }
    try {
      const stream = await this.docker.pull(image, within(DOCKER_PULL_MS));
      await new Promise((res, rej) => this.docker.modem.followProgress(stream, (e) => (e ? rej(e) : res(null))));
    } catch (err) {
      throw new ShoalError('container.image-missing', `image ${image} is not present and could not be pulled`, { cause: err });
    }
  }

  /**
   * Creates and starts a container, streaming its output to `out`/`err` from its first byte.
   * The caller owns it afterwards: stop() and remove() it.
   */
  async run(opts: CreateOptions, out: NodeJS.WritableStream, errOut: NodeJS.WritableStream, joins: NetworkJoin[] = []): Promise<RunningContainer> {
    let c: Docker.Container;
    try {
      c = await this.docker.createContainer({ ...opts, ...within(this.callMs) });
    } catch (err) {
      throw wrap(err, `create ${opts.name}`);
    }
    try {
      // created on the first network; the others are joined before it starts
      for (const j of joins.slice(1)) await this.docker.getNetwork(j.network).connect({ Container: c.id, EndpointConfig: { Aliases: j.aliases }, ...within(this.callMs) });
      const stream = await c.attach({ stream: true, stdout: true, stderr: true });
      this.docker.modem.demuxStream(stream, out, errOut);
      await c.start(within(this.callMs));
      const exited = c.wait().then((r: { StatusCode: number }) => r.StatusCode);
      const info = await c.inspect(within(this.callMs));
      const published: Record<string, number> = {};
      for (const [key, binds] of Object.entries(info.NetworkSettings.Ports ?? {})) {
        if (binds?.[0]?.HostPort) published[key] = Number(binds[0].HostPort);
      }
      return { id: c.id, published, exited };
    } catch (err) {
      await this.remove(c.id).catch(() => undefined);
      throw wrap(err, `start ${opts.name}`);
    }
  }

  /** Stops a container (SIGTERM to its init, SIGKILL after `timeoutSec`); a stopped or gone one is fine. */
  async stop(id: string, timeoutSec = 10): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: timeoutSec, ...within(timeoutSec * 1000 + this.callMs) });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 304 && code !== 404) throw wrap(err, `stop ${id}`);
    }
  }

  /** Removes a container, killing it if it runs; a gone one is fine. */
  async remove(id: string): Promise<void> {
    try {
      await this.ops.removeContainer(id, this.deadline()); // v=1: its anonymous volumes too, never named ones
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 404 && code !== 409) throw wrap(err, `remove ${id}`); // 409: removal already in progress
    }
  }

  /**
   * Makes sure a bridge network `name` exists and returns its id. Docker makes several networks of one name
   * under concurrent creates (then the name is ambiguous), so callers on one machine serialize this (the
   * runner's machine lock); should duplicates exist anyway, the earliest created is used and unused others removed.
   */
  async ensureNetwork(name: string, machineId: string): Promise<string> {
    let nets = await this.networksNamed(name);
    if (nets.length === 0) {
      try {
        await this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: { [LABEL_MACHINE]: machineId }, ...within(this.callMs) });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 409) throw wrap(err, `create network ${name}`);
      }
      nets = await this.networksNamed(name);
    }
    if (nets.length === 0) throw new ShoalError('container.engine-error', `network ${name} is gone right after it was created`);
    for (const extra of nets.slice(1)) await this.removeNetworkIfUnused(extra.id).catch(() => false);
    return nets[0].id;
  }

  /** Networks named exactly `name`, earliest created first (ties: by id). */
  private async networksNamed(name: string): Promise<Array<{ id: string; created: number }>> {
    let all: Array<{ Id: string; Name: string; Created?: string }>;
    try {
      all = await this.ops.listNetworks({ name: [name] }, this.deadline());
    } catch (err) {
      throw wrap(err, `list networks ${name}`);
    }
    return all.filter((n) => n.Name === name).map((n) => ({ id: n.Id, created: Date.parse(n.Created ?? '') || 0 }))
      .sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  }

  /** Removes a network (by id) no container uses any more; true when removed. Never throws for a gone or busy one. */
  async removeNetworkIfUnused(id: string): Promise<boolean> {
    try {
      const info = await this.ops.inspectNetwork(id, this.deadline());
      if (Object.keys(info.Containers ?? {}).length > 0) return false;
      await this.ops.removeNetwork(id, this.deadline());
      return true;
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 404 || code === 403 || code === 409 || code === 400) return false; // gone, or a container joined meanwhile
      throw wrap(err, `remove network ${id}`);
    }
  }

  /** Removes every network named `name` that no container uses (the last unit to leave it); how many. */
  async removeNetworksIfUnused(name: string): Promise<number> {
    let n = 0;
    for (const net of await this.networksNamed(name)) if (await this.removeNetworkIfUnused(net.id)) n++;
    return n;
  }

  /** Removes every network this machine created that no container uses (after a runner was killed); their names. */
  async removeUnusedNetworks(machineId: string): Promise<string[]> {
    let nets: Array<{ Name: string }>;
    try {
      nets = await this.ops.listNetworks({ label: [`${LABEL_MACHINE}=${machineId}`] }, this.deadline());
    } catch (err) {
      throw wrap(err, 'list networks');
    }
    const removed: string[] = [];
    for (const n of nets as Array<{ Id: string; Name: string }>) if (await this.removeNetworkIfUnused(n.Id)) removed.push(n.Name);
    return removed;
  }

  /** Every shoal container of `machineId` (any state); of one unit when `unit` is given. */
  async list(machineId: string, unit?: string): Promise<ShoalContainer[]> {
    const label = [`${LABEL_MACHINE}=${machineId}`];
    if (unit !== undefined) label.push(`${LABEL_UNIT}=${unit}`);
    try {
      const all = await this.ops.listContainers({ label }, true, this.deadline());
      return all.map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        unit: c.Labels[LABEL_UNIT] ?? '',
        machineId: c.Labels[LABEL_MACHINE] ?? '',
        state: c.State,
      }));
    } catch (err) {
      throw wrap(err, 'list containers');
    }
  }

  /**
   * The Docker health of one unit's running container (its image's HEALTHCHECK, from `docker ps`'s
   * status): healthy | unhealthy | starting; null when the image has none or no container runs.
   */
  async health(machineId: string, unit: string): Promise<string | null> {
    const running = (await this.list(machineId, unit)).filter((c) => c.state === 'running');
    if (running.length === 0) return null;
    const status = (await this.ops.listContainers({ id: [running[0].id] }, false, this.deadline()))[0]?.Status ?? '';
    if (/\(healthy\)/.test(status)) return 'healthy';
    if (/\(unhealthy\)/.test(status)) return 'unhealthy';
    if (/health: starting/.test(status)) return 'starting';
    return null;
  }

  /** Removes every container of one unit on this machine (a leftover of a killed runner). */
  async removeUnit(machineId: string, unit: string): Promise<string[]> {
    const found = await this.list(machineId, unit);
    for (const c of found) await this.remove(c.id);
    return found.map((c) => c.id);
  }

  /**
   * Removes containers of `machineId` whose unit `isActive` says is not running in systemd
   * (left behind when a node or its runner was killed). Returns what was removed.
   */
  async removeOrphans(machineId: string, isActive: (unit: string) => Promise<boolean>): Promise<ShoalContainer[]> {
    const removed: ShoalContainer[] = [];
    for (const c of await this.list(machineId)) {
      if (c.unit && (await isActive(c.unit))) continue;
      await this.remove(c.id);
      this.log.info('removed orphaned container', { unit: c.unit, container: c.name, state: c.state });
      removed.push(c);
    }
    return removed;
  }
}

// shoal_agent_container_operations_total{op, result}: the driver's Docker operations, counted at one place
for (const op of ['ensureImage', 'run', 'stop', 'remove', 'ensureNetwork', 'removeUnit'] as const) {
  const proto = ContainerDriver.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const inner = proto[op];
  const label = op.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  proto[op] = function counted(this: ContainerDriver, ...a: unknown[]) {
    return inner.apply(this, a).then(
      (v) => { containerOps.inc({ op: label, result: 'ok' }); return v; },
      (err) => { containerOps.inc({ op: label, result: 'error' }); throw err; },
    );
  };
}
