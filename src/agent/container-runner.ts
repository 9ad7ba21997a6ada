/**
 * The main process of a container unit's service (see container-unit.ts and docs/containers.md):
 *   container-runner.js run <unit> <spec>   create + start the container, stream its output to
 *                                           stdout/stderr (the journal), exit with its exit code;
 *                                           on SIGTERM stop it, remove it and exit 0
 *   container-runner.js cleanup <unit>      remove any container of <unit> on this machine (ExecStopPost)
 */
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ShoalError } from '../errors';
import { createLogger, type Logger } from '../log';
import { ContainerDriver, type RunningContainer } from './container-driver';
import { createOptions, networkJoins, parsePort, type NetworkJoin } from './container-options';
import { forwardTcp, type TcpForward } from './container-proxy';
import { decodeContainerSpec } from './container-unit';

/** This machine's id: SHOAL_MACHINE_ID, else /etc/machine-id. */
export function machineId(env: NodeJS.ProcessEnv = process.env): string {
  const id = env.SHOAL_MACHINE_ID?.trim() || readFileSync('/etc/machine-id', 'utf8').trim();
  if (!/^[0-9a-f]{32}$/.test(id)) throw new ShoalError('container.bad-machine-id', `machine id "${id}" is not 32 hex digits`);
  return id;
}

/** Runs one container for `unit` until it exits or SIGTERM arrives; resolves with the exit code to use. */
export async function runContainer(unit: string, specArg: string, log: Logger, env = process.env): Promise<number> {
  const spec = decodeContainerSpec(specArg);
  const machine = machineId(env);
  const via = env.SHOAL_CONTAINER_PROXY_VIA || undefined;
  const opts = createOptions(spec, unit, machine, { via });
  const stopTimeout = Number(env.SHOAL_CONTAINER_STOP_TIMEOUT ?? 10);
  const driver = new ContainerDriver({ log });
  let stopping = false;
  let current: RunningContainer | undefined;
  const onSignal = (sig: string) => {
    log.info('stopping container', { unit, signal: sig });
    stopping = true;
    if (current) void driver.stop(current.id, stopTimeout).catch((err) => log.error('stop failed', { unit, err: String(err) }));
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);

  const stale = await driver.removeUnit(machine, unit); // a killed runner's container
  if (stale.length) log.warn('removed leftover containers', { unit, ids: stale.join(',') });
  await driver.ensureImage(spec.image);
  const joins = networkJoins(spec, machine, { via });
  for (const dep of spec.waitHealthy ?? []) {
    if (!(await waitHealthy(driver, machine, dep, () => stopping, log, env))) return 0;
  }
  if (stopping) return 0;
  current = await runJoined(driver, opts, joins, machine, log);
  log.info('container started', { unit, container: opts.name, id: current.id.slice(0, 12) });
  const forwards: TcpForward[] = [];
  try {
    if (stopping) await driver.stop(current.id, stopTimeout);
    else if (via) {
      for (const p of spec.ports.map(parsePort)) {
        const target = current.published[`${p.containerPort}/tcp`];
        if (!target) throw new ShoalError('container.not-published', `port ${p.containerPort}/tcp was not published`);
        forwards.push(await forwardTcp(p.hostPort, via, target));
      }
    }
    const code = await current.exited;
    log.info('container exited', { unit, code, stopping });
    return stopping ? 0 : code;
  } catch (err) {
    await driver.stop(current.id, 1).catch(() => undefined);
    throw err;
  } finally {
    await Promise.all(forwards.map((f) => f.close()));
    await driver.remove(current.id);
    for (const j of joins) if (await driver.removeNetworksIfUnused(j.network).catch(() => 0)) log.info('removed network', { network: j.network });
  }
}

/**
 * Creates the unit's networks and runs the container on them. A network can vanish between the two (the last
 * container of another unit left and removed it): then it is created again, up to 3 times.
 */
async function runJoined(driver: ContainerDriver, opts: ReturnType<typeof createOptions>, joins: ReturnType<typeof networkJoins>, machine: string, log: Logger): Promise<RunningContainer> {
  for (let attempt = 1; ; attempt++) {
    // by id: a name can be ambiguous for a moment (see ensureNetwork)
    const ids: NetworkJoin[] = [];
    for (const j of joins) ids.push({ network: await withMachineLock(`net-${j.network}`, () => driver.ensureNetwork(j.network, machine)), aliases: j.aliases });
    const o = ids.length === 0 ? opts : {
      ...opts,
      HostConfig: { ...opts.HostConfig, NetworkMode: ids[0].network },
      NetworkingConfig: { EndpointsConfig: { [ids[0].network]: { Aliases: ids[0].aliases } } },
    };
    try {
      return await driver.run(o, process.stdout, process.stderr, ids);
    } catch (err) {
      if (attempt >= 3 || joins.length === 0 || !/network .*(not found|No such)/i.test((err as Error).message)) throw err;
      log.warn('a network went away before the container started; again', { attempt });
    }
  }
}

/** Where runners of this machine take their locks (a directory created atomically is the lock). */
const LOCK_DIR = process.env.SHOAL_CONTAINER_LOCK_DIR ?? '/run/shoal/locks';

/**
 * Runs `fn` holding a lock shared by the runners of this machine: Docker makes several networks of one name
 * when they are created at once, and listing them does not tell reliably which came first. A lock older than
 * 30 s is a killed runner's: taken over. Waits at most 60 s.
 */
export async function withMachineLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(LOCK_DIR, { recursive: true });
  const path = join(LOCK_DIR, name.replace(/[^A-Za-z0-9_.-]/g, '_'));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      mkdirSync(path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(path).mtimeMs > 30_000) rmSync(path, { recursive: true, force: true });
      } catch { /* released meanwhile */ }
      if (Date.now() > deadline) throw new ShoalError('container.lock-timeout', `lock ${path} held for more than 60 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
}

/**
 * Waits until `dep`'s container on this machine is Docker-healthy (`WaitHealthy=`, from compose's
 * `condition: service_healthy`); a running one without a HEALTHCHECK counts as healthy. Polls every second for
 * at most SHOAL_CONTAINER_WAIT_HEALTHY_TIMEOUT seconds (default 300), then throws (the unit fails; Restart=
 * applies). False when a stop was asked meanwhile.
 */
async function waitHealthy(driver: ContainerDriver, machine: string, dep: string, stopping: () => boolean, log: Logger, env: NodeJS.ProcessEnv): Promise<boolean> {
  const limitMs = Number(env.SHOAL_CONTAINER_WAIT_HEALTHY_TIMEOUT ?? 300) * 1000;
  const deadline = Date.now() + limitMs;
  let said = false;
  for (;;) {
    if (stopping()) return false;
    const running = (await driver.list(machine, dep)).some((c) => c.state === 'running');
    const health = running ? await driver.health(machine, dep) : undefined;
    if (running && (health === 'healthy' || health === null)) return true;
    if (Date.now() > deadline) throw new ShoalError('container.dependency-unhealthy', `${dep} is not healthy on this machine after ${limitMs / 1000} s (${running ? health : 'not running'})`);
    if (!said) { log.info('waiting for a dependency to be healthy', { dependency: dep, now: running ? health : 'not running' }); said = true; }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Removes every container of `unit` on this machine; resolves with their ids. */
export async function cleanupUnit(unit: string, log: Logger, env = process.env): Promise<string[]> {
  const driver = new ContainerDriver({ log });
  const ids = await driver.removeUnit(machineId(env), unit);
  if (ids.length) log.info('removed containers', { unit, ids: ids.join(',') });
  const nets = await driver.removeUnusedNetworks(machineId(env)); // a killed runner could not remove its networks
  if (nets.length) log.info('removed networks', { unit, networks: nets.join(',') });
  return ids;
}

/** CLI entry: exit code of the container, 0 after a requested stop, 1 on errors, 2 on bad usage. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, unit, spec] = argv;
  const log = createLogger({ fields: { component: 'container-runner' } });
  try {
    if (cmd === 'run' && unit && spec) return await runContainer(unit, spec, log);
    if (cmd === 'cleanup' && unit) return (await cleanupUnit(unit, log), 0);
  } catch (err) {
    log.error((err as Error).message, { unit, code: (err as ShoalError).code });
    return 1;
  }
  process.stderr.write('usage: container-runner run UNIT SPEC | cleanup UNIT\n');
  return 2;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    // let stdout drain (journal) before exiting; dockerode's sockets would keep us alive otherwise
    process.stdout.write('', () => process.exit(code));
  });
}
