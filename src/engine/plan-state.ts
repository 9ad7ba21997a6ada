/** The planner's working copy of the cluster: placements and per-machine counters, updated as it goes. */
import { globalsOn } from '../constraints/globals';
import { isUnitIndependent, strategyKey } from '../constraints/scorers';
import type { MachineSpec } from '../constraints/types';
import type { ClusterView, MachineView, SchedUnit } from '../constraints/view';
import type { PlacementStrategy } from '../units/types';
import { isActive } from './plan-units';
import { MachineOrder, type LoggedView } from './plan-order';

/** At most this many per-key orders per plan (each holds two arrays of machine-count length). */
const MAX_KEYED = 256;

/** Mutable working state; implements the read-only ClusterView the plugins see. */
export class PlanState implements LoggedView {
  readonly machines: MachineView[];
  readonly countScale: number;
  coPlacing: ReadonlySet<string> = new Set();
  /** While true, counter changes are not logged for the ordered indexes (tentative adds that are rolled back). */
  quiet = false;
  /** Set while units are re-checked on the machine they are placed on (see ClusterView.keeping). */
  keeping = false;
  /** Machine indexes whose counters changed, in order (what the ordered indexes re-score). */
  readonly changes: number[] = [];
  private readonly byId = new Map<string, MachineView>();
  private readonly placement = new Map<string, string>();
  private readonly globalOn = new Map<string, Uint8Array>();
  private readonly displacedGroups = new Set<string>();
  private readonly orders = new Map<PlacementStrategy, MachineOrder>();
  private readonly keyed = new Map<string, MachineOrder>();
  /** Per strategy: how many active placeable units share each strategy key. */
  private readonly keyCounts = new Map<PlacementStrategy, Map<string, number>>();

  /**
   * `indexed: false` turns the ordered indexes off, so every placement scores every machine: the reference
   * the fast paths must agree with (tests).
   */
  constructor(machines: readonly MachineSpec[], readonly units: ReadonlyMap<string, SchedUnit>, readonly indexed = true) {
    const sorted = [...new Map(machines.map((m) => [m.id, m])).values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    this.machines = sorted.map((spec, index) => ({
      spec, id: spec.id, index, units: new Set<string>(), globalCount: 0, reservedCpu: 0, reservedMem: 0, reservedDisk: 0, prefixCounts: new Map(),
    }));
    for (const m of this.machines) this.byId.set(m.id, m);
    let active = 0;
    for (const u of units.values()) {
      if (!isActive(u)) continue;
      if (u.global) this.addGlobal(u);
      else active++;
    }
    this.applyGlobals();
    let globals = 0;
    for (const m of this.machines) globals += m.globalCount;
    this.countScale = Math.max(1, Math.round((active + globals) / Math.max(1, this.machines.length)));
  }

  /** The live machine with this id, or undefined. */
  machine(id: string): MachineView | undefined {
    return this.byId.get(id);
  }

  /** The compiled unit, or undefined. */
  unit(name: string): SchedUnit | undefined {
    return this.units.get(name);
  }

  /** Machine id of a non-global unit in the working state, or undefined when not placed. */
  placementOf(unit: string): string | undefined {
    return this.placement.get(unit);
  }

  /** True when the active global `name` runs on `machine`. */
  globalRunsOn(name: string, machine: MachineView): boolean {
    return this.globalOn.get(name)?.[machine.index] === 1;
  }

  /** A Replaces may displace a unit once per plan, never one being placed right now. */
  canDisplace(unit: string): boolean {
    const u = this.units.get(unit);
    return !!u && !this.coPlacing.has(unit) && !this.displacedGroups.has(u.group[0]);
  }

  /** Remember that a group was displaced, so it is not displaced again in this plan. */
  markDisplaced(groupId: string): void {
    this.displacedGroups.add(groupId);
  }

  /** Place a unit on a machine, updating counters (and ordered indexes). */
  add(u: SchedUnit, m: MachineView): void {
    this.placement.set(u.name, m.id);
    m.units.add(u.name);
    this.count(u, m, 1);
  }

  /** Take a unit off its machine; returns the machine id it was on, or undefined. */
  remove(u: SchedUnit): string | undefined {
    const id = this.placement.get(u.name);
    if (id === undefined) return undefined;
    this.placement.delete(u.name);
    const m = this.byId.get(id)!;
    m.units.delete(u.name);
    this.count(u, m, -1);
    return id;
  }

  /** Machines in score order for a unit-independent strategy (built on first use, then kept in sync). */
  order(strategy: PlacementStrategy, probe: SchedUnit): MachineOrder | undefined {
    if (!this.indexed || !isUnitIndependent(strategy)) return undefined;
    let o = this.orders.get(strategy);
    if (!o) this.orders.set(strategy, (o = new MachineOrder(strategy, this, probe)));
    return o.sync();
  }

  /**
   * Machines in `unit`'s score order under a keyed strategy (epvm: units with the same requests share one).
   * Undefined when the strategy has no key, or no other unit shares the key (a scan is cheaper then).
   */
  keyedOrder(strategy: PlacementStrategy, unit: SchedUnit): MachineOrder | undefined {
    const key = strategyKey(strategy, unit);
    if (key === undefined || !this.indexed) return undefined;
    const full = `${strategy}|${key}`;
    let o = this.keyed.get(full);
    if (!o) {
      if ((this.keyCountsOf(strategy).get(key) ?? 0) < 2 || this.keyed.size >= MAX_KEYED) return undefined;
      this.keyed.set(full, (o = new MachineOrder(strategy, this, unit)));
    }
    return o.sync();
  }

  /** Every non-global placement in the working state. */
  placements(): ReadonlyMap<string, string> {
    return this.placement;
  }

  private count(u: SchedUnit, m: MachineView, sign: 1 | -1): void {
    m.reservedCpu += sign * u.cpu;
    m.reservedMem += sign * u.mem;
    m.reservedDisk += sign * u.disk;
    m.prefixCounts.set(u.prefix, (m.prefixCounts.get(u.prefix) ?? 0) + sign);
    if (!this.quiet) this.changes.push(m.index);
  }

  private keyCountsOf(strategy: PlacementStrategy): Map<string, number> {
    let counts = this.keyCounts.get(strategy);
    if (counts) return counts;
    this.keyCounts.set(strategy, (counts = new Map()));
    for (const u of this.units.values()) {
      if (u.strategy !== strategy || u.global || !isActive(u)) continue;
      const key = strategyKey(strategy, u);
      if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  // Where globals run is src/constraints/globals.ts's model. Globals in conflict with no other global run
  // wherever their metadata matches: those sharing a constraint signature share one machine set, and
  // their counters are summed per signature before touching machines. Globals in conflict with another
  // global are decided machine by machine by the model (the first by name wins).
  private readonly globalSig = new Map<string, { on: Uint8Array; count: number; cpu: number; mem: number; disk: number }>();
  private readonly contested: SchedUnit[] = [];
  private addGlobal(u: SchedUnit): void {
    if (u.conflictGlobals.length > 0) { this.contested.push(u); return; }
    const { machineMetadata } = u.spec.options;
    const key = JSON.stringify(Object.entries(machineMetadata).sort());
    let sig = this.globalSig.get(key);
    if (!sig) {
      const on = new Uint8Array(this.machines.length);
      for (const m of this.machines) if (globalsOn(m.spec.metadata, [u.spec]).runs.length === 1) on[m.index] = 1;
      this.globalSig.set(key, (sig = { on, count: 0, cpu: 0, mem: 0, disk: 0 }));
    }
    this.globalOn.set(u.name, sig.on);
    sig.count++;
    sig.cpu += u.cpu;
    sig.mem += u.mem;
    sig.disk += u.disk;
  }

  private applyGlobals(): void {
    for (const sig of this.globalSig.values()) {
      for (const m of this.machines) {
        if (sig.on[m.index] !== 1) continue;
        m.globalCount += sig.count;
        m.reservedCpu += sig.cpu;
        m.reservedMem += sig.mem;
        m.reservedDisk += sig.disk;
      }
    }
    if (this.contested.length === 0) return;
    const specs = this.contested.map((u) => u.spec);
    for (const u of this.contested) this.globalOn.set(u.name, new Uint8Array(this.machines.length));
    for (const m of this.machines) {
      for (const g of globalsOn(m.spec.metadata, specs).runs) {
        const u = this.units.get(g.name)!;
        this.globalOn.get(u.name)![m.index] = 1;
        m.globalCount++;
        m.reservedCpu += u.cpu;
        m.reservedMem += u.mem;
        m.reservedDisk += u.disk;
      }
    }
  }
}
