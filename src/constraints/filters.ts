/** The filter plugins: each says whether a machine may run a unit, or why not. Pure. */
import type { ClusterView, FilterPlugin, MachineView, SchedUnit } from './view';
import { formatBytes } from '../units/resources';

/** A held machine (absent, maybe only cut off from etcd for a while) takes no new units. */
export const heldFilter: FilterPlugin = {
  name: 'held',
  filter(_unit, machine) {
    return machine.spec.held ? `machine ${machine.id} is not registered; waiting for its agent to re-register before moving its units` : null;
  },
};

/** A cordoned machine takes no new units; those already there pass (they leave only by a drain). */
export const cordonFilter: FilterPlugin = {
  name: 'cordon',
  filter(_unit, machine, view) {
    return machine.spec.cordoned && !view.keeping ? `machine ${machine.id} is cordoned (shoalctl uncordon ${machine.id})` : null;
  },
};

/** A batch unit's retry goes to another machine than the failed runs (the engine lists them on the spec it plans). */
export const avoidFilter: FilterPlugin = {
  name: 'batch-retry',
  filter(unit, machine) {
    return unit.spec.avoidMachines?.includes(machine.id) ? `an earlier run of this batch unit failed here, or is still loaded here` : null;
  },
};

/** `MachineID=`: the machine id equals the value or starts with it (a prefix). */
export const machineIdFilter: FilterPlugin = {
  name: 'machine-id',
  filter(unit, machine) {
    const want = unit.spec.options.machineId;
    if (want === undefined || machine.id.startsWith(want)) return null;
    return `MachineID=${want} does not match ${machine.id}`;
  },
  candidates(unit, view) {
    const want = unit.spec.options.machineId;
    if (want === undefined) return undefined;
    return cached(view, `id:${want}`, () => view.machines.filter((m) => m.id.startsWith(want)));
  },
};

/** `MachineMetadata=`: every key must match (AND), any listed value of a key will do (OR). */
export const metadataFilter: FilterPlugin = {
  name: 'metadata',
  filter(unit, machine) {
    return metadataMismatch(unit.spec.options.machineMetadata, machine.spec.metadata);
  },
  candidates(unit, view) {
    const want = unit.spec.options.machineMetadata;
    const keys = Object.keys(want);
    if (keys.length === 0) return undefined;
    const sig = 'md:' + keys.sort().map((k) => `${k}=${[...want[k]].sort().join(',')}`).join(';');
    return cached(view, sig, () => view.machines.filter((m) => metadataMismatch(want, m.spec.metadata) === null));
  },
};

/** `MachineOf=`: every target is on this machine (or placed with it now; a global target runs here). */
export const machineOfFilter: FilterPlugin = {
  name: 'machine-of',
  filter(unit, machine, view) {
    if (unit.blocked) return unit.blocked;
    for (const target of unit.machineOf) {
      const t = view.unit(target);
      if (t?.global) {
        if (!view.globalRunsOn(target, machine)) return `MachineOf global ${target} does not run here`;
      } else if (!view.coPlacing.has(target) && view.placementOf(target) !== machine.id) {
        return `MachineOf target ${target} is not on this machine`;
      }
    }
    return null;
  },
};

/** `Replaces=`: refused where a unit that replaces it runs, or where it would displace a unit twice. */
export const replacesFilter: FilterPlugin = {
  name: 'replaces',
  filter(unit, machine, view) {
    for (const r of unit.replacedBy) {
      if (view.placementOf(r) === machine.id) return `replaced by ${r}, which runs here`;
    }
    for (const y of unit.replaces) {
      if (view.placementOf(y) === machine.id && !view.canDisplace(y)) return `would displace ${y} again (it was already displaced or is placed with it)`;
    }
    return null;
  },
};

/** `Conflicts=`: no unit in conflict (either direction, globals included) runs here. Displaced units do not count. */
export const conflictsFilter: FilterPlugin = {
  name: 'conflicts',
  filter(unit, machine, view) {
    const set = unit.conflictUnits;
    if (set.size > 0) {
      const hit = set.size <= machine.units.size ? firstPlacedHere(unit, set, machine, view) : firstInSet(unit, machine.units, set, view);
      if (hit !== undefined) return `conflicts with ${hit}`;
    }
    for (const g of unit.conflictGlobals) if (view.globalRunsOn(g, machine)) return `conflicts with global ${g}`;
    return null;
  },
};

/** CPU, memory and disk: reserved + request ≤ capacity; capacity 0 (or absent) means unknown/unlimited. */
export const resourcesFilter: FilterPlugin = {
  name: 'resources',
  filter(unit, machine, view) {
    const cap = machine.spec.capacity;
    if (unit.cpu === 0 && unit.mem === 0 && unit.disk === 0) return null;
    let cpu = machine.reservedCpu;
    let mem = machine.reservedMem;
    let disk = machine.reservedDisk;
    for (const y of unit.replaces) {
      // A unit this one displaces frees what it holds.
      if (view.placementOf(y) === machine.id && view.canDisplace(y)) {
        const u = view.unit(y);
        if (u) { cpu -= u.cpu; mem -= u.mem; disk -= u.disk; }
      }
    }
    if (cap.cpuMillis > 0 && cpu + unit.cpu > cap.cpuMillis) {
      return `cpu: ${cpu}m reserved + ${unit.cpu}m requested > ${cap.cpuMillis}m capacity`;
    }
    if (cap.memoryBytes > 0 && mem + unit.mem > cap.memoryBytes) {
      return `memory: ${formatBytes(mem)} reserved + ${formatBytes(unit.mem)} requested > ${formatBytes(cap.memoryBytes)} capacity`;
    }
    const capDisk = cap.diskBytes ?? 0;
    if (capDisk > 0 && unit.disk > 0 && disk + unit.disk > capDisk) {
      return `disk: ${formatBytes(disk)} reserved + ${formatBytes(unit.disk)} requested > ${formatBytes(capDisk)} capacity`;
    }
    return null;
  },
};

/** Every filter, in the order they run (the first refusal is the reported one). */
export const FILTERS: readonly FilterPlugin[] = [
  heldFilter, cordonFilter, avoidFilter, machineIdFilter, metadataFilter, machineOfFilter, replacesFilter, conflictsFilter, resourcesFilter,
];

/** null when `have` satisfies `want` (AND across keys, OR within a key); otherwise the first mismatch. */
export function metadataMismatch(want: Record<string, string[]>, have: Record<string, string>): string | null {
  for (const key in want) {
    const values = want[key];
    const got = have[key];
    if (got === undefined || !values.includes(got)) {
      return `metadata ${key}=${got ?? '(unset)'} not in {${values.join(',')}}`;
    }
  }
  return null;
}

// The smallest conflicting name here (deterministic reasons); units this one displaces do not count.
function firstPlacedHere(unit: SchedUnit, set: ReadonlySet<string>, machine: MachineView, view: ClusterView): string | undefined {
  let first: string | undefined;
  for (const name of set) {
    if (view.placementOf(name) === machine.id && !displaced(unit, name, view) && (first === undefined || name < first)) first = name;
  }
  return first;
}

function firstInSet(unit: SchedUnit, units: Set<string>, set: ReadonlySet<string>, view: ClusterView): string | undefined {
  let first: string | undefined;
  for (const name of units) if (set.has(name) && !displaced(unit, name, view) && (first === undefined || name < first)) first = name;
  return first;
}

function displaced(unit: SchedUnit, other: string, view: ClusterView): boolean {
  return unit.replaces.size > 0 && unit.replaces.has(other) && view.canDisplace(other);
}

const candidateCache = new WeakMap<readonly MachineView[], Map<string, readonly MachineView[]>>();

// Machines do not change during a plan, so candidate lists are cached per machine list.
function cached(view: ClusterView, key: string, make: () => readonly MachineView[]): readonly MachineView[] {
  let byKey = candidateCache.get(view.machines);
  if (!byKey) candidateCache.set(view.machines, (byKey = new Map()));
  let list = byKey.get(key);
  if (!list) byKey.set(key, (list = make()));
  return list;
}

