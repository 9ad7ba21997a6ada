/** The API's read models: unit files with their states, reported states, machines with merged metadata. */
import { parseUnit, parseUnitName, templateOf } from '../units';
import type { BadValue, MachineLoad, MachineRecord, Revisioned, UnitRecord, UnitStateEntry } from '../etcd/registry';
import { cordonState } from './drain-ops';
import type { ApiRegistry } from './api-registry';
import type { MachineMsg, UnitFileInfo, UnitStateMsg } from './messages';
import { NotFoundError } from './grpc-errors';

const ACTIVE = new Set(['active', 'activating', 'reloading', 'deactivating']);

/** The cluster state a unit is in, from what agents report: launched > loaded > inactive. */
export function currentState(states: readonly UnitStateEntry[]): string {
  if (states.some((s) => ACTIVE.has(s.state.activeState))) return 'launched';
  if (states.some((s) => s.state.loadState === 'loaded')) return 'loaded';
  return 'inactive';
}

function isGlobal(u: UnitRecord): boolean {
  try {
    return parseUnit(u.name, u.text).options.global;
  } catch {
    return false;
  }
}

/** A reported state as a message, with its machine's address when the machine is live. */
export function stateMsg(e: UnitStateEntry, machines: ReadonlyMap<string, MachineRecord>, loads?: ReadonlyMap<string, MachineLoad>): UnitStateMsg {
  const s = e.state;
  const use = loads?.get(e.machine)?.units[e.unit];
  return {
    ...(use ? { cpuUseMillis: use.cpuMillis, memoryUseBytes: use.memoryBytes ?? 0, usageReported: true } : {}),
    unit: e.unit, machine: e.machine, machineAddress: machines.get(e.machine)?.address ?? '',
    loadState: s.loadState, activeState: s.activeState, subState: s.subState, hash: s.hash, mainPid: s.mainPid ?? 0, since: s.since,
    health: s.health ?? '', healthRestarts: s.healthRestarts ?? 0, healthOutput: s.healthOutput ?? '',
    reason: s.reason ?? '',
    ...(s.exit ? { exit: { ...s.exit } } : {}),
  };
}

/** Keys of bad values a listing skipped, collected across its reads (shoalctl prints them as warnings). */
export type BadCollector = BadValue[];

function collect<T>(r: Revisioned<T>, bad?: BadCollector): Revisioned<T> {
  if (bad && r.bad) for (const b of r.bad) if (!bad.some((x) => x.key === b.key)) bad.push(b);
  return r;
}

async function machineMap(reg: ApiRegistry, bad?: BadCollector): Promise<Map<string, MachineRecord>> {
  return new Map(collect(await reg.listMachines(), bad).value.map((m) => [m.id, m]));
}

/** Every unit file with desired state, current state and target machine; `only` limits it to one name. Sorted by name. */
export async function listUnitFiles(reg: ApiRegistry, only?: string, bad?: BadCollector): Promise<UnitFileInfo[]> {
  const [units, desired, schedule, states, machines] = await Promise.all([
    only === undefined ? reg.listUnits().then((r) => collect(r, bad).value) : reg.getUnit(only).then((u) => (u ? [u] : [])),
    reg.listDesired().then((r) => collect(r, bad)), reg.listSchedule(), reg.listStates(only).then((r) => collect(r, bad)), machineMap(reg, bad),
  ]);
  const byUnit = new Map<string, UnitStateEntry[]>();
  for (const e of states.value) byUnit.set(e.unit, [...(byUnit.get(e.unit) ?? []), e]);
  const groups = await groupCounts(reg, units, only !== undefined);
  return units
    .map((u) => {
      const template = parseUnitName(u.name).isTemplate;
      const target = schedule.value.get(u.name) ?? '';
      const info: UnitFileInfo = {
        name: u.name, text: u.text, hash: u.hash,
        desiredState: desired.value.get(u.name) ?? 'inactive',
        currentState: template ? '-' : currentState(byUnit.get(u.name) ?? []),
        targetMachine: target, targetAddress: machines.get(target)?.address ?? '',
        global: isGlobal(u), template,
      };
      const count = groups.get(u.name);
      if (count !== undefined) {
        info.group = true;
        info.instancesDesired = count;
        info.instancesRunning = [...byUnit.keys()].filter((n) => templateOf(n) === u.name && currentState(byUnit.get(n)!) === 'launched').length;
      }
      return info;
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** template → instance count of every group among `units` (scale count, else Instances=). */
async function groupCounts(reg: ApiRegistry, units: UnitRecord[], one: boolean): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const templates = units.filter((u) => parseUnitName(u.name).isTemplate);
  if (templates.length === 0) return out;
  const scaled = one ? new Map<string, number>() : await reg.listScales();
  for (const t of templates) {
    const n = scaled.get(t.name) ?? (one ? await reg.getScale(t.name) : null) ?? instancesOf(t);
    if (n !== null && n !== undefined) out.set(t.name, n);
  }
  return out;
}

function instancesOf(u: UnitRecord): number | undefined {
  try { return parseUnit(u.name, u.text).group?.instances; } catch { return undefined; }
}

/** One unit file; NotFoundError when there is none. */
export async function getUnitFile(reg: ApiRegistry, name: string): Promise<UnitFileInfo> {
  parseUnitName(name);
  const [info] = await listUnitFiles(reg, name);
  if (!info) throw new NotFoundError('unit.not-found', `unit ${name} not found (shoalctl list-unit-files shows what exists)`);
  return info;
}

/** Reported states, of `names` only when not empty, sorted by unit then machine. */
export async function listUnitStates(reg: ApiRegistry, names: string[], bad?: BadCollector): Promise<UnitStateMsg[]> {
  for (const n of names) parseUnitName(n);
  const [states, machines, loads] = await Promise.all([
    reg.listStates(names.length === 1 && !parseUnitName(names[0]).isTemplate ? names[0] : undefined).then((r) => collect(r, bad)), machineMap(reg, bad),
    reg.listLoads?.() ?? new Map<string, MachineLoad>(),
  ]);
  const want = new Set(names);
  // a group's template stands for its instances
  for (const n of names) if (parseUnitName(n).isTemplate) for (const e of states.value) if (templateOf(e.unit) === n) want.add(e.unit);
  return states.value
    .filter((e) => want.size === 0 || want.has(e.unit))
    .map((e) => stateMsg(e, machines, loads))
    .sort((a, b) => (a.unit !== b.unit ? (a.unit < b.unit ? -1 : 1) : a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : 0));
}

/** Live machines, static metadata merged with dynamic (dynamic wins), sorted by id. */
export async function listMachines(reg: ApiRegistry, bad?: BadCollector): Promise<MachineMsg[]> {
  const machines = collect(await reg.listMachines(), bad).value;
  const [dyn, loads, cordons] = await Promise.all([Promise.all(machines.map((m) => reg.getMetadata(m.id))), reg.listLoads?.() ?? new Map<string, MachineLoad>(), reg.listCordons()]);
  const drains = await Promise.all(machines.map((m) => (cordons.get(m.id)?.drain ? reg.getDrainProgress(m.id).catch(() => null) : null)));
  return machines
    .map((m, i) => {
      const dynamic = Object.fromEntries(dyn[i]);
      const l = loads.get(m.id);
      return {
        ...(l ? {
          loadAt: l.at, cpuUseMillis: l.cpuMillis, cpuTotalMillis: l.cpuTotalMillis, memoryAvailableBytes: l.memAvailableBytes,
          memoryTotalBytes: l.memTotalBytes, diskFreeBytes: l.diskFreeBytes, diskTotalBytes: l.diskTotalBytes,
        } : {}),
        id: m.id, address: m.address ?? '', metadata: { ...m.metadata, ...dynamic }, dynamicMetadata: dynamic,
        cpuMillis: m.capacity.cpuMillis, memoryBytes: m.capacity.memoryBytes, version: m.version, startedAt: m.startedAt,
        cordon: m.leaving ? 'leaving' : cordonState(cordons.get(m.id), drains[i]),
      };
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The live machine whose id is `idOrPrefix` or starts with it; NotFoundError / ValidationError (ambiguous) otherwise. */
export async function resolveMachine(reg: ApiRegistry, idOrPrefix: string): Promise<MachineRecord> {
  const machines = (await reg.listMachines()).value;
  const exact = machines.find((m) => m.id === idOrPrefix);
  if (exact) return exact;
  const hits = idOrPrefix === '' ? [] : machines.filter((m) => m.id.startsWith(idOrPrefix));
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) {
    throw new NotFoundError('machine.ambiguous', `machine prefix ${idOrPrefix} matches ${hits.length} machines: give more characters`);
  }
  throw new NotFoundError('machine.not-found', `no live machine ${JSON.stringify(idOrPrefix)} (shoalctl list-machines shows them)`);
}
