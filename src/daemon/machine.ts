/** This machine's identity and capacity for registration: id from config or /etc/machine-id, capacity probed or configured. */
import { randomUUID } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { statfs } from 'node:fs/promises';
import { ValidationError } from '../errors';
import type { MachineRecord } from '../etcd/registry';
import type { DaemonConfig } from './config';
import { VERSION } from '../version';


/** The machine id: configured, else /etc/machine-id. Throws `config.no-machine-id` when neither exists. */
export function machineId(cfg: DaemonConfig, path = '/etc/machine-id'): string {
  if (cfg.machine.id) return cfg.machine.id;
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (id) return id;
  } catch { /* fall through */ }
  throw new ValidationError('config.no-machine-id', `no machine id: set machine.id or SHOAL_MACHINE_ID (${path} is missing or empty)`, { key: 'machine.id' });
}

/**
 * The engine's id (its leader key, `leader.changed` events, the page's leader): `[engine] id`, else the
 * machine id when the agent role runs in the same shoald (the engine is that machine's), else `HOST-PID`.
 */
export function engineId(cfg: DaemonConfig, host: string, pid: number, path = '/etc/machine-id'): string {
  return cfg.engine.id ?? cfg.machine.id ?? (cfg.roles.includes('agent') ? machineId(cfg, path) : `${host}-${pid}`);
}

/**
 * Capacity: configured values win; the rest probed: logical CPUs × 1000 millicores, total memory (bytes, MemTotal),
 * and statfs (disk). From node:os, which answers at once: systeminformation, used before, ran `lscpu` (a
 * subprocess without a deadline, hundreds of ms on a busy machine) and cost a few MiB of modules at start-up.
 */
export async function machineCapacity(cfg: DaemonConfig): Promise<MachineRecord['capacity']> {
  const cpuMillis = cfg.machine.cpuMillis ?? cpus().length * 1000;
  const memoryBytes = cfg.machine.memoryBytes ?? totalmem();
  // Disk= reservations are of the disk units write to: /var/lib's filesystem unless configured
  const diskBytes = cfg.machine.diskBytes ?? (await statfs('/var/lib').then((s) => s.blocks * s.bsize, () => 0));
  return { cpuMillis: Math.round(cpuMillis), memoryBytes: Math.round(memoryBytes), ...(diskBytes > 0 ? { diskBytes: Math.round(diskBytes) } : {}) };
}

/** The record the agent registers. */
export async function machineRecord(cfg: DaemonConfig): Promise<MachineRecord> {
  return {
    id: machineId(cfg),
    address: cfg.machine.address,
    metadata: { ...cfg.machine.metadata },
    capacity: await machineCapacity(cfg),
    version: VERSION,
    startedAt: new Date().toISOString(),
    session: sessionToken(),
  };
}

/** Where the agent keeps its incarnation token: /run is emptied by a reboot, not by an agent restart. */
export const SESSION_TOKEN_PATH = '/run/shoal/session-token';

/**
 * This machine's agent token (created once per boot): lets a restarted agent take its own live
 * record over instead of being refused as a duplicate of itself (see MachineRecord.session).
 */
export function sessionToken(path = SESSION_TOKEN_PATH): string {
  try {
    const t = readFileSync(path, 'utf8').trim();
    if (/^[0-9a-f-]{36}$/.test(t)) return t;
  } catch { /* first start since boot */ }
  const t = randomUUID();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, t + '\n', { mode: 0o600 });
  return t;
}
