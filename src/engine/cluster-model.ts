/**
 * The engine's in-memory copy of the cluster: loaded once from a full read, then kept current from
 * watch events, so a pass needs no etcd reads. Builds the planner's Snapshot, parsing unit text into
 * UnitSpec through a cache keyed by name and hash.
 */
import type { MachineSpec } from '../constraints/types';
import type { ClusterState, MachineRecord, RegistryEvent, UnitRecord } from '../etcd/registry';
import type { Logger } from '../log';
import { parseUnit } from '../units/unit';
import type { PlacementStrategy, TargetState, UnitSpec } from '../units/types';
import type { Snapshot } from './types';

/** The cluster as the engine knows it, and what changed since the last plan. */
export class ClusterModel {
  revision = 0;
  private units = new Map<string, UnitRecord>();
  private desired = new Map<string, TargetState>();
  readonly schedule = new Map<string, string>();
  private machines = new Map<string, MachineRecord>();
  private metadata = new Map<string, Map<string, string>>();
  private readonly specs = new Map<string, { hash: string; spec: UnitSpec | null }>();

  constructor(private readonly log: Logger) {}

  /** Replaces everything with a full read. */
  load(state: ClusterState): void {
    this.revision = state.revision;
    this.units = new Map(state.units);
    this.desired = new Map(state.desired);
    this.schedule.clear();
    for (const [k, v] of state.schedule) this.schedule.set(k, v);
    this.machines = new Map(state.machines);
    this.metadata = new Map(state.metadata);
  }

  /** Applies one watch event; true when it changed anything the plan depends on. */
  apply(e: RegistryEvent): boolean {
    switch (e.type) {
      case 'unit': return setOrDelete(this.units, e.unit, e.value, (a, b) => a.hash === b.hash && a.text === b.text);
      case 'desired': return setOrDelete(this.desired, e.unit, e.value);
      case 'schedule': return setOrDelete(this.schedule, e.unit, e.value);
      case 'machine': return setOrDelete(this.machines, e.machine, e.value, (a, b) => JSON.stringify(a) === JSON.stringify(b));
      case 'metadata': {
        let m = this.metadata.get(e.machine);
        if (!m) this.metadata.set(e.machine, (m = new Map()));
        return setOrDelete(m, e.key, e.value);
      }
      default: return false;
    }
  }

  /** Number of live machines. */
  get machineCount(): number { return this.machines.size; }

  /** The planner's input. Units whose text does not parse are left out, and so are their placements. */
  snapshot(strategy?: PlacementStrategy): Snapshot {
    const units: Snapshot['units'] = [];
    const schedule: Record<string, string> = {};
    const bad = new Set<string>();
    for (const [name, rec] of this.units) {
      const spec = this.spec(rec);
      if (!spec) { bad.add(name); continue; }
      units.push({ spec, desired: this.desired.get(name) ?? 'inactive' });
    }
    // a unit we cannot parse keeps its placement: never unschedule because of our own parse failure
    for (const [name, m] of this.schedule) if (!bad.has(name)) schedule[name] = m;
    const machines: MachineSpec[] = [];
    for (const rec of this.machines.values()) {
      const dyn = this.metadata.get(rec.id);
      machines.push({
        id: rec.id, address: rec.address, capacity: rec.capacity,
        metadata: dyn ? { ...rec.metadata, ...Object.fromEntries(dyn) } : { ...rec.metadata },
      });
    }
    return { units, machines, schedule, strategy };
  }

  private spec(rec: UnitRecord): UnitSpec | null {
    const cached = this.specs.get(rec.name);
    if (cached && cached.hash === rec.hash) return cached.spec;
    let spec: UnitSpec | null = null;
    try {
      spec = parseUnit(rec.name, rec.text);
    } catch (err) {
      this.log.warn('unit does not parse; not scheduling it', { unit: rec.name, reason: (err as Error).message });
    }
    this.specs.set(rec.name, { hash: rec.hash, spec });
    return spec;
  }

  /** Forgets parsed specs of units that are gone (bounded memory). */
  pruneSpecs(): void {
    for (const name of this.specs.keys()) if (!this.units.has(name)) this.specs.delete(name);
  }
}

function setOrDelete<V>(m: Map<string, V>, k: string, v: V | null, same: (a: V, b: V) => boolean = (a, b) => a === b): boolean {
  const cur = m.get(k);
  if (v === null) return m.delete(k);
  if (cur !== undefined && same(cur, v)) return false;
  m.set(k, v);
  return true;
}
