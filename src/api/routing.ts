/**
 * Status and journal come from the agent of the machine that runs the unit: served here when that
 * machine is this one, forwarded to its shoald (machine record address + API port) otherwise. No SSH.
 */
import { parseUnitName } from '../units';
import { UnavailableError, ValidationError } from '../errors';
import type { MachineRecord } from '../etcd/registry';
import type { ApiRegistry } from './api-registry';
import type { ApiClient } from './client';
import type { LocalUnitInspector } from './local-units';
import type { MachineStatusMsg } from './messages';
import { ConflictError, NotFoundError } from './grpc-errors';
import { resolveMachine } from './views';

/** What routing needs: the registry, this machine (agent role) and a way to reach other machines. */
export interface RoutingDeps {
  registry: ApiRegistry;
  /** This machine's id when this shoald has the agent role. */
  machineId?: string;
  inspector?: LocalUnitInspector;
  /** A client to another machine's shoald; the caller closes it. */
  connect: (machine: MachineRecord) => ApiClient;
}

function localInspector(d: RoutingDeps): LocalUnitInspector {
  if (!d.inspector || !d.machineId) {
    throw new ConflictError('api.no-agent', 'this shoald does not run the agent role: it has no local units to inspect');
  }
  return d.inspector;
}

/** Live machines that run (or were placed to run) `unit`, or the one `machine` names. */
async function machinesOf(d: RoutingDeps, unit: string, machine: string, reasons?: Map<string, string>): Promise<MachineRecord[]> {
  parseUnitName(unit);
  const states = await d.registry.listStates(unit);
  for (const s of states.value) if (s.unit === unit && s.state.reason) reasons?.set(s.machine, s.state.reason);
  if (machine) return [await resolveMachine(d.registry, machine)];
  const [schedule, live] = await Promise.all([d.registry.listSchedule(), d.registry.listMachines()]);
  const ids = new Set(states.value.filter((s) => s.unit === unit).map((s) => s.machine));
  const placed = schedule.value.get(unit);
  if (ids.size === 0 && placed) ids.add(placed);
  if (ids.size === 0) {
    // a finished batch run is unloaded, but its journal stays on the machine it ran on (docs/jobs.md)
    const job = (await d.registry.listJobs()).find((j) => j.unit === unit);
    if (job?.kind === 'run' && job.runs.length) ids.add(job.runs.at(-1)!.machine);
  }
  const found = live.value.filter((m) => ids.has(m.id)).sort((a, b) => (a.id < b.id ? -1 : 1));
  if (found.length === 0) {
    throw new NotFoundError('unit.not-running', `unit ${unit} is not loaded on any live machine (shoalctl list-units shows where units are)`);
  }
  return found;
}

async function withClient<T>(d: RoutingDeps, m: MachineRecord, fn: (c: ApiClient) => Promise<T>): Promise<T> {
  if (!m.address) throw new UnavailableError('api.no-address', `machine ${m.id} registered no address: cannot reach its shoald`);
  const c = d.connect(m);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** `systemctl status` of `unit` from each machine that runs it (or from `machine`). */
export async function unitStatus(d: RoutingDeps, unit: string, machine: string, local: boolean): Promise<MachineStatusMsg[]> {
  if (local) {
    parseUnitName(unit);
    const r = await localInspector(d).status(unit);
    return [{ machine: d.machineId!, text: r.text, exitCode: r.exitCode }];
  }
  const out: MachineStatusMsg[] = [];
  const reasons = new Map<string, string>();
  for (const m of await machinesOf(d, unit, machine, reasons)) {
    if (m.id === d.machineId && d.inspector) {
      const r = await d.inspector.status(unit);
      out.push({ machine: m.id, text: r.text, exitCode: r.exitCode });
    } else {
      out.push(...(await withClient(d, m, (c) => c.unitStatus(unit, { local: true }))));
    }
  }
  // what the agent says first: why the unit cannot get to its desired state there (systemctl may not know it at all)
  return out.map((s) => (reasons.has(s.machine) ? { ...s, text: `shoal: ${reasons.get(s.machine)}\n${s.text}`, exitCode: s.exitCode || 3 } : s));
}

/** Journal chunks of `unit` from the one machine that runs it (or `machine`). */
export async function* unitJournal(
  d: RoutingDeps, unit: string, opts: { machine: string; lines: number; follow: boolean; local: boolean; signal: AbortSignal },
): AsyncIterable<string> {
  const lines = opts.lines > 0 ? opts.lines : 10;
  if (opts.local) {
    parseUnitName(unit);
    yield* localInspector(d).journal(unit, { lines, follow: opts.follow, signal: opts.signal });
    return;
  }
  const ms = await machinesOf(d, unit, opts.machine);
  if (ms.length > 1) {
    throw new ValidationError('api.ambiguous-machine', `unit ${unit} runs on ${ms.length} machines (${ms.map((m) => m.id.slice(0, 8)).join(', ')}): pick one with --machine`);
  }
  const m = ms[0];
  if (m.id === d.machineId && d.inspector) {
    yield* d.inspector.journal(unit, { lines, follow: opts.follow, signal: opts.signal });
    return;
  }
  if (!m.address) throw new UnavailableError('api.no-address', `machine ${m.id} registered no address: cannot reach its shoald`);
  const c = d.connect(m);
  try {
    yield* c.journal(unit, { lines, follow: opts.follow, local: true, signal: opts.signal });
  } finally {
    c.close();
  }
}
