/**
 * Where global units run: one model, used by the engine (what globals reserve on each machine, which
 * machines a unit in conflict with a global must avoid, explain) and by the agent (what it starts). Pure.
 *
 * On one machine, in name order, a global runs when its MachineMetadata matches the machine, it does not
 * conflict with a global that already runs there (among globals that conflict, the first by name wins,
 * machine by machine), and it does not conflict with a unit assigned there. The engine never places a unit
 * where a conflicting global runs (it passes no assigned units); the agent passes its assigned units, which
 * only matters before the engine has moved a conflicting unit away.
 */
import type { FleetOptions } from '../units/types';
import { unitsConflict } from '../units/fleet-options';
import { metadataMismatch } from './filters';

/** A unit as this model needs it: its name and its [X-Fleet] options. */
export interface GlobalModelUnit {
  name: string;
  options: FleetOptions;
}

/** A global kept off the machine, with why. */
export interface KeptOff {
  unit: string;
  reason: string;
}

/**
 * The active globals that run on a machine with `metadata` (names, sorted) and those kept off with why.
 * `globals` are the active global units in any order; `assigned` the non-global units placed on it.
 */
export function globalsOn(
  metadata: Readonly<Record<string, string>>, globals: readonly GlobalModelUnit[], assigned: readonly GlobalModelUnit[] = [],
): { runs: GlobalModelUnit[]; keptOff: KeptOff[] } {
  const runs: GlobalModelUnit[] = [];
  const keptOff: KeptOff[] = [];
  const sorted = [...globals].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const g of sorted) {
    const mismatch = metadataMismatch(g.options.machineMetadata, metadata);
    if (mismatch !== null) { keptOff.push({ unit: g.name, reason: `MachineMetadata does not match: ${mismatch}` }); continue; }
    const rival = runs.find((r) => unitsConflict(r, g));
    if (rival) { keptOff.push({ unit: g.name, reason: `conflicts with global ${rival.name}, which runs here (the first by name wins)` }); continue; }
    const clash = assigned.find((a) => unitsConflict(a, g));
    if (clash) { keptOff.push({ unit: g.name, reason: `conflicts with ${clash.name}, assigned here` }); continue; }
    runs.push(g);
  }
  return { runs, keptOff };
}
