/**
 * The agent role of shoald: connects to systemd (and Docker for container units) and runs an Agent
 * until the signal aborts. Units keep running when it returns.
 */
import type { AgentRegistry, MachineRecord } from '../etcd/registry';
import type { Logger } from '../log';
import { parseUnit } from '../units/unit';
import { Agent } from './agent';
import { ContainerDriver } from './container-driver';
import { containerUnitText } from './container-unit';
import type { Systemd } from './systemd';
import { connectSystemd } from './systemd-dbus';
import { ProcLoadSampler } from './load-sampler';

/** What shoald passes to its agent role. */
export interface RunAgentOptions {
  registry: AgentRegistry;
  /** This machine's record (id, address, static metadata, capacity, version). */
  machine: MachineRecord;
  /** Lease TTL of the machine record (seconds). */
  ttlSeconds: number;
  log: Logger;
  /** D-Bus address of the system bus (default: the standard socket). */
  busAddress?: string;
  /** Runtime dir of unit files (default /run/shoal/units). */
  unitDir?: string;
  /** Run container units through Docker (default true). */
  containers?: boolean;
  /** Debounce of watch events before a reconcile pass, ms (default 10). */
  debounceMs?: number;
  /** Safety reconcile interval, ms (default 60 s). */
  safetyIntervalMs?: number;
  /** Load sampling interval, ms (default 5 s). */
  loadIntervalMs?: number;
  /** Called with the agent once it exists (shoald keeps it to apply config reloads). */
  onAgent?: (agent: Agent) => void;
}

/** Runs the agent role until `signal` aborts; retries D-Bus at start (dbus may still be coming up). */
export async function runAgent(opts: RunAgentOptions, signal: AbortSignal): Promise<void> {
  const log = opts.log;
  const systemd = await connectWithRetry(opts.busAddress, log, signal);
  if (!systemd) return;
  const driver = opts.containers === false ? undefined : new ContainerDriver({ log: log.child({ component: 'containers' }) });
  const agent = new Agent({
    registry: opts.registry,
    systemd,
    machine: opts.machine,
    ttlSeconds: opts.ttlSeconds,
    parseUnit: (r) => parseUnit(r.name, r.text),
    renderContainerUnit: driver ? (spec) => containerUnitText(spec) : undefined,
    containerHealth: driver ? (unit) => driver.health(opts.machine.id, unit) : undefined,
    removeOrphans: driver ? async (isActive) => {
      await driver.removeOrphans(opts.machine.id, isActive);
      await driver.removeUnusedNetworks(opts.machine.id); // a killed runner's project networks (docs/compose.md)
    } : undefined,
    unitDir: opts.unitDir,
    loadSource: new ProcLoadSampler(systemd, opts.unitDir ?? '/run/shoal/units'),
    loadIntervalMs: opts.loadIntervalMs,
    debounceMs: opts.debounceMs,
    safetyIntervalMs: opts.safetyIntervalMs,
    log,
  });
  opts.onAgent?.(agent);
  try {
    await agent.run(signal);
  } finally {
    systemd.close();
  }
}

async function connectWithRetry(busAddress: string | undefined, log: Logger, signal: AbortSignal): Promise<Systemd | undefined> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await connectSystemd({ busAddress, log });
    } catch (err) {
      if (attempt >= 50) throw err;
      log.warn('cannot connect to systemd over D-Bus; retrying', { attempt, err: String(err) });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return undefined;
}
