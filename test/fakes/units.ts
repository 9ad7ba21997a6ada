/** Builders of UnitSpec / MachineSpec / Snapshot literals for scheduler tests (no parser involved). */
import type { MachineSpec } from '../../src/constraints/types';
import type { Snapshot, SnapshotUnit } from '../../src/engine/types';
import type { FleetOptions, PlacementStrategy, TargetState, UnitSpec } from '../../src/units/types';

/** Options a test may set on a unit; everything else gets a neutral default. */
export interface UnitOpts extends Partial<FleetOptions> {
  cpu?: number;
  mem?: number;
  disk?: number;
  strategy?: PlacementStrategy;
  desired?: TargetState;
}

/** A UnitSpec literal: hash = name, empty file, given scheduling options. */
export function unitSpec(name: string, o: UnitOpts = {}): UnitSpec {
  return {
    name, text: '', hash: `hash-${name}`, file: { sections: [] },
    options: {
      machineId: o.machineId, machineOf: o.machineOf ?? [], machineMetadata: o.machineMetadata ?? {},
      conflicts: o.conflicts ?? [], global: o.global ?? false, replaces: o.replaces ?? [],
    },
    resources: { cpuMillis: o.cpu ?? 0, memoryBytes: o.mem ?? 0, ...(o.disk ? { diskBytes: o.disk } : {}) },
    strategy: o.strategy,
  };
}

/** A snapshot unit (desired `launched` unless told). */
export function unit(name: string, o: UnitOpts = {}): SnapshotUnit {
  return { spec: unitSpec(name, o), desired: o.desired ?? 'launched' };
}

/** A machine literal; capacity 0 = unlimited unless given. */
export function machine(id: string, metadata: Record<string, string> = {}, cpuMillis = 0, memoryBytes = 0): MachineSpec {
  return { id, metadata, capacity: { cpuMillis, memoryBytes } };
}

/** A snapshot from parts. */
export function snapshot(units: SnapshotUnit[], machines: MachineSpec[], schedule: Record<string, string> = {}, strategy?: PlacementStrategy): Snapshot {
  return { units, machines, schedule, strategy };
}
