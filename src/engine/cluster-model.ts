/**
 * The engine's in-memory copy of the cluster: loaded once from a full read, then kept current from
 * watch events, so a pass needs no etcd reads. Builds the planner's Snapshot, parsing unit text into
 * UnitSpec through a cache keyed by name and hash.
 */
import type { MachineSpec } from '../constraints/types';
import type { BadValue, ClusterState, MachineLoad, MachineRecord, RegistryEvent, UnitRecord, UnitStateRecord } from '../etcd/registry';
import type { AutoscaleRecord } from '../autoscale/types';
import type { Deployment } from '../deploy/types';
import { isFinished } from '../deploy/types';
import type { CordonRecord, DrainProgress } from '../drain/types';
import { groupCount, type GroupsInput } from '../deploy/groups';
import { parseUnitName } from '../units/unit-name';
import { templateOf } from '../units/unit-name';
import type { Logger } from '../log';
import { parseUnit } from '../units/unit';
import type { PlacementStrategy, TargetState, UnitSpec } from '../units/types';
import type { Snapshot } from './types';
import type { JobRecord } from '../jobs/types';
import { jobFinished } from '../jobs/types';
import type { JobsInput } from '../jobs/jobs';
import type { Launch } from '../jobs/job';

/** The cluster as the engine knows it, and what changed since the last plan. */
export class ClusterModel {
  revision = 0;
  private units = new Map<string, UnitRecord>();
  private desired = new Map<string, TargetState>();
  readonly schedule = new Map<string, string>();
  private machines = new Map<string, MachineRecord>();
  private metadata = new Map<string, Map<string, string>>();
  private readonly specs = new Map<string, { hash: string; spec: UnitSpec | null }>();
  // groups and deployments (src/deploy): counts, latest deployments, promotions, reported states for health
  private groups = new Map<string, number>();
  private deployments = new Map<string, Deployment>();
  private promotions = new Map<string, string>();
  private states = new Map<string, Map<string, UnitStateRecord>>();
  /** machine → its last load report (real use; for the real-load scorer and the autoscaler). */
  readonly loads = new Map<string, MachineLoad>();
  /** template → the autoscaler's stored decisions. */
  readonly autoscale = new Map<string, AutoscaleRecord>();
  // cordons (API-written) and drain progress (leader-written), by machine (src/drain)
  readonly cordons = new Map<string, CordonRecord>();
  readonly drains = new Map<string, DrainProgress>();
  /** Batch job records (src/jobs), by unit. */
  private jobs = new Map<string, JobRecord>();
  /** Units whose body changed while this model watched (a replaced single unit gets a deployment). */
  private readonly replaced = new Set<string>();
  /** Templates whose desired state changed while this model watched (cleared once the pass wrote it). */
  readonly retarget = new Set<string>();
  /** Units whose units/ or desired/ value is bad in etcd: left exactly as they are (placement kept, never re-planned). */
  private readonly badUnit = new Set<string>();
  private readonly badDesired = new Set<string>();

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
    this.groups = new Map(state.groups ?? []);
    this.deployments = new Map(state.deployments ?? []);
    this.promotions = new Map(state.promotions ?? []);
    this.states = new Map([...(state.states ?? [])].map(([u, m]) => [u, new Map(m)]));
    this.loads.clear();
    for (const [k, v] of state.loads ?? []) this.loads.set(k, v);
    this.autoscale.clear();
    for (const [k, v] of state.autoscale ?? []) this.autoscale.set(k, v);
    this.cordons.clear();
    for (const [k, v] of state.cordons ?? []) this.cordons.set(k, v);
    this.drains.clear();
    for (const [k, v] of state.drains ?? []) this.drains.set(k, v);
    this.jobs = new Map(state.jobs ?? []);
    this.badUnit.clear();
    this.badDesired.clear();
    this.markBad(state.bad ?? []);
  }

  /** Notes keys whose value is bad (from a read or a watch); the units they name are frozen until a good value comes. */
  markBad(bad: readonly BadValue[]): void {
    for (const b of bad) {
      if (!b.unit) continue;
      if (b.key.includes('/desired/')) this.badDesired.add(b.unit);
      else this.badUnit.add(b.unit);
    }
  }

  /** Applies one watch event; true when it changed anything the plan depends on. */
  apply(e: RegistryEvent): boolean {
    switch (e.type) {
      case 'unit': {
        const was = this.badUnit.delete(e.unit);
        const old = this.units.get(e.unit);
        if (old && e.value && old.hash !== e.value.hash) this.replaced.add(e.unit); else if (!e.value) this.replaced.delete(e.unit);
        return setOrDelete(this.units, e.unit, e.value, (a, b) => a.hash === b.hash && a.text === b.text) || was;
      }
      case 'desired': {
        const was = this.badDesired.delete(e.unit);
        const changed = setOrDelete(this.desired, e.unit, e.value);
        if (changed && e.unit.includes('@.')) this.retarget.add(e.unit); // a group's instances follow its template's new state
        return changed || was;
      }
      case 'schedule': return setOrDelete(this.schedule, e.unit, e.value);
      case 'machine': return setOrDelete(this.machines, e.machine, e.value, (a, b) => JSON.stringify(a) === JSON.stringify(b));
      case 'metadata': {
        let m = this.metadata.get(e.machine);
        if (!m) this.metadata.set(e.machine, (m = new Map()));
        return setOrDelete(m, e.key, e.value);
      }
      case 'group': return setOrDelete(this.groups, e.unit, e.value);
      case 'deployment': return setOrDelete(this.deployments, e.unit, e.value, (a, b) => JSON.stringify(a) === JSON.stringify(b));
      case 'promote': return setOrDelete(this.promotions, e.unit, e.value);
      case 'cordon': return setOrDelete(this.cordons, e.machine, e.value, (a, b) => JSON.stringify(a) === JSON.stringify(b));
      case 'drain': setOrDelete(this.drains, e.machine, e.value, (a, b) => JSON.stringify(a) === JSON.stringify(b)); return false;
      case 'state': {
        let m = this.states.get(e.unit);
        if (!m) this.states.set(e.unit, (m = new Map()));
        setOrDelete(m, e.machine, e.value, (a, b) => JSON.stringify(a) === JSON.stringify(b));
        if (m.size === 0) this.states.delete(e.unit);
        // states matter to the plan only as health gates of running deployments and drains, and as ends of batch runs
        return this.deploymentActive || this.drainActive || this.isBatch(e.unit);
      }
      case 'load':
        // real load feeds the autoscaler's timer and the next placement's scores; it never triggers a pass itself
        if (e.value) this.loads.set(e.machine, e.value); else this.loads.delete(e.machine);
        return false;
      case 'job': return setOrDelete(this.jobs, e.unit, e.value, (a, b) => JSON.stringify(a) === JSON.stringify(b));
      default: return false;
    }
  }

  /** True when some stored template autoscales (its spec has Scale* options). */
  get hasAutoscaled(): boolean {
    for (const [name, rec] of this.units) if (name.includes('@.') && this.spec(rec)?.autoscale) return true;
    return false;
  }

  /** True while some deployment is not finished. */
  get deploymentActive(): boolean {
    for (const d of this.deployments.values()) if (!isFinished(d)) return true;
    return false;
  }

  /** True while some machine's drain is asked for and not done (its steps wait on health, its deadline is a timer). */
  get drainActive(): boolean {
    for (const [m, c] of this.cordons) {
      if (!c.drain) continue;
      const p = this.drains.get(m);
      if (!p || p.id !== c.drain.id || p.status !== 'done') return true;
    }
    return false;
  }

  /** Non-global units scheduled on `machine`, by name. */
  unitsOn(machine: string): string[] {
    const out: string[] = [];
    for (const [u, m] of this.schedule) if (m === machine) out.push(u);
    return out.sort();
  }

  /** True when `unit` is healthy (or active, without checks) at its stored version on the machine it is scheduled on. */
  /** True when the machine `unit` is scheduled on reports it loaded at its current hash (active or not). */
  loadedWhereScheduled(unit: string): boolean {
    const m = this.schedule.get(unit);
    const hash = this.units.get(unit)?.hash;
    const s = m === undefined ? undefined : this.states.get(unit)?.get(m);
    return !!s && s.hash === hash && s.loadState === 'loaded';
  }

  healthyWhereScheduled(unit: string): boolean {
    const m = this.schedule.get(unit);
    const hash = this.units.get(unit)?.hash;
    const s = m === undefined ? undefined : this.states.get(unit)?.get(m);
    return !!s && s.hash === hash && (s.health === 'healthy' || (s.health === undefined && s.activeState === 'active'));
  }

  /**
   * The group `unit` belongs to for a drain: its template when it is a numbered instance of a group
   * (count, UpdateParallel, launched instances), else null (a unit on its own).
   */
  groupOf(unit: string): { key: string; count: number; parallel: number; members: string[] } | null {
    let t: string | undefined;
    try { t = parseUnitName(unit).template; } catch { return null; }
    const tpl = t ? this.units.get(t) : undefined;
    if (!t || !tpl) return null;
    const spec = this.spec(tpl);
    const count = groupCount(t, spec, this.groups);
    if (count === null) return null;
    const members: string[] = [];
    for (const name of this.units.keys()) if (this.desired.get(name) === 'launched' && templateOf(name) === t) members.push(name);
    return { key: t, count, parallel: spec?.group?.update?.parallel ?? 1, members };
  }

  /** Whether `unit` is stored and launched (a drain waits only on those). */
  launched(unit: string): boolean { return this.desired.get(unit) === 'launched'; }
  /** True when `unit` is a batch unit whose job is not finished (its states end runs). */
  private isBatch(unit: string): boolean {
    const r = this.units.get(unit);
    if (!r || !this.spec(r)?.job) return false;
    const j = this.jobs.get(unit);
    return !(j?.kind === 'run' && jobFinished(j));
  }

  /** The input of a jobs pass (src/jobs/jobs.ts), sharing this model's maps. */
  jobsInput(now: number): JobsInput {
    const live = new Set<string>();
    for (const m of this.machines.values()) if (!m.leaving) live.add(m.id);
    return {
      units: this.units, spec: (name) => { const r = this.units.get(name); return r ? this.spec(r) : null; },
      desired: this.desired, schedule: this.schedule, states: this.states, jobs: this.jobs, live, now,
    };
  }

  /** The stored job of a unit (tests, logs). */
  job(unit: string): JobRecord | undefined { return this.jobs.get(unit); }

  /** The input of a groups/deployments pass (src/deploy/groups.ts), sharing this model's maps. */
  groupsInput(now: number, previous: GroupsInput['previous']): GroupsInput {
    return {
      units: this.units, spec: (name) => { const r = this.units.get(name); return r ? this.spec(r) : null; },
      desired: this.desired, scale: this.groups, deployments: this.deployments, promotions: this.promotions,
      states: this.states, replaced: this.replaced, retarget: new Set(this.retarget), previous, now,
    };
  }

  /** Records a group/deployment write the leader made (before its watch event arrives). */
  applyChange(c: import('../etcd/registry').UnitChange): void {
    if (c.kind === 'put-unit') {
      this.replaced.delete(c.record.name); // the leader's own write (a step or a revert) is no new version
      this.units.set(c.record.name, c.record);
      if (c.desired) this.desired.set(c.record.name, c.desired);
    } else if (c.kind === 'delete-unit') {
      this.units.delete(c.unit);
      this.desired.delete(c.unit);
      this.jobs.delete(c.unit);
    } else if (c.kind === 'put-desired') {
      this.desired.set(c.unit, c.desired);
    } else if (c.kind === 'put-scale') {
      this.groups.set(c.unit, c.count);
      this.autoscale.set(c.unit, c.record);
    } else if (c.kind === 'put-job') {
      this.jobs.set(c.job.unit, c.job);
    } else if (c.kind === 'delete-job') {
      this.jobs.delete(c.unit);
    } else this.deployments.set(c.deployment.unit, c.deployment);
  }

  /**
   * Every autoscaled group (a template with Scale* options): its options, count now, and each numbered
   * instance 1..count with the use its machine last reported (undefined when none).
   */
  autoscaleInput(): import('../autoscale/observe').AutoscaledGroup[] {
    const out: import('../autoscale/observe').AutoscaledGroup[] = [];
    for (const [name, rec] of this.units) {
      if (!name.includes('@.')) continue;
      const spec = this.spec(rec);
      if (!spec?.autoscale) continue;
      const current = groupCount(name, spec, this.groups) ?? 0;
      const instances = [];
      for (let i = 1; i <= current; i++) {
        const inst = name.replace('@.', `@${i}.`);
        const machine = this.schedule.get(inst);
        instances.push({ name: inst, usage: machine ? this.loads.get(machine)?.units[inst] : undefined });
      }
      out.push({ template: name, options: spec.autoscale, current, launched: this.desired.get(name) === 'launched', instances });
    }
    return out;
  }

  /** Hash of a stored unit (undefined when none). */
  unitHash(name: string): string | undefined { return this.units.get(name)?.hash; }

  /** Number of live machines. */
  get machineCount(): number { return this.machines.size; }

  /** Live machine records (leaving ones included). */
  liveMachines(): IterableIterator<MachineRecord> { return this.machines.values(); }

  /** Machines the schedule names that have no live record (dead, or only cut off from etcd). */
  absentScheduled(): Set<string> {
    const out = new Set<string>();
    for (const m of this.schedule.values()) if (!this.machines.has(m)) out.add(m);
    return out;
  }

  /**
   * The planner's input. Units whose text does not parse are left out, and so are their placements.
   * Leaving machines are left out (their units move); `held` machines are added as held (their units stay).
   */
  snapshot(strategy?: PlacementStrategy, held: readonly MachineSpec[] = [], launch: ReadonlyMap<string, Launch> = new Map()): Snapshot {
    const units: Snapshot['units'] = [];
    const schedule: Record<string, string> = {};
    const bad = new Set<string>();
    for (const name of [...this.badUnit, ...this.badDesired]) bad.add(name);
    for (const [name, rec] of this.units) {
      if (bad.has(name)) continue;
      let spec = this.spec(rec);
      if (!spec) { bad.add(name); continue; }
      if (spec.strategy === undefined && this.inGroup(name)) spec = spreadOf(spec); // a group spreads by default
      let desired = this.desired.get(name) ?? 'inactive';
      const l = launch.get(name); // a batch unit: placed only while its job wants a run (src/jobs)
      if (l && !l.launch) desired = 'inactive';
      else if (l && l.avoid.length) spec = { ...spec, avoidMachines: l.avoid };
      units.push({ spec, desired });
    }
    // a unit we cannot parse, or whose stored value is bad, keeps its placement: never unschedule because we cannot read it
    for (const [name, m] of this.schedule) if (!bad.has(name)) schedule[name] = m;
    const machines: MachineSpec[] = [];
    for (const rec of this.machines.values()) {
      if (rec.leaving) continue;
      const dyn = this.metadata.get(rec.id);
      const l = this.loads.get(rec.id);
      machines.push({
        id: rec.id, address: rec.address, capacity: rec.capacity, ...(this.cordons.has(rec.id) ? { cordoned: true } : {}),
        metadata: dyn ? { ...rec.metadata, ...Object.fromEntries(dyn) } : { ...rec.metadata },
        ...(l && l.cpuTotalMillis > 0 && l.memTotalBytes > 0
          ? { load: { cpu: l.cpuMillis / l.cpuTotalMillis, mem: 1 - l.memAvailableBytes / l.memTotalBytes } } : {}),
      });
    }
    for (const h of held) if (!this.machines.has(h.id)) machines.push({ ...h, held: true });
    return { units, machines, schedule, strategy };
  }

  /** True when `name` is an instance of a group's template. */
  private inGroup(name: string): boolean {
    if (!name.includes('@') || this.groups.size + this.units.size === 0) return false;
    let t: string | undefined;
    try { t = parseUnitName(name).template; } catch { return false; }
    if (!t) return false;
    const tpl = this.units.get(t);
    return groupCount(t, tpl ? this.spec(tpl) : null, this.groups) !== null;
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

const spreadSpecs = new WeakMap<UnitSpec, UnitSpec>();

/** The spec with Strategy=spread, the same object every pass (plan caches by spec). */
function spreadOf(spec: UnitSpec): UnitSpec {
  let s = spreadSpecs.get(spec);
  if (!s) spreadSpecs.set(spec, (s = { ...spec, strategy: 'spread' }));
  return s;
}

function setOrDelete<V>(m: Map<string, V>, k: string, v: V | null, same: (a: V, b: V) => boolean = (a, b) => a === b): boolean {
  const cur = m.get(k);
  if (v === null) return m.delete(k);
  if (cur !== undefined && same(cur, v)) return false;
  m.set(k, v);
  return true;
}
