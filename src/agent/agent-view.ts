/**
 * The agent's copy of what etcd says about it: units, desired states, what is assigned to this
 * machine, and its dynamic metadata. Filled by a full read, kept current by watch batches.
 * Never emptied because etcd is unreachable: a failed read leaves the previous view in place.
 */
import type { AgentRegistry, BadValue, RegistryEvent, UnitRecord, WatchScope } from '../etcd/registry';
import type { Logger } from '../log';
import type { TargetState, UnitSpec } from '../units/types';
import type { AgentView } from './desired';

/** Turns a stored unit into its parsed model; throws (ValidationError) for a unit it cannot parse. */
export type UnitParser = (record: UnitRecord) => UnitSpec;

/** The watch scopes an agent follows. */
export function agentScopes(machineId: string): WatchScope[] {
  return [{ kind: 'units' }, { kind: 'desired' }, { kind: 'assigned', machine: machineId }, { kind: 'metadata-of', machine: machineId }];
}

/**
 * The etcd-side state one agent follows. Every unit's record (its text, compact) is kept, so an assignment
 * needs no read; the parsed model only of the units this machine may run: those assigned here and globals.
 * A parsed unit is several times its text, and the cluster's units grow with the cluster, not the machine.
 */
export class AgentViewState {
  private readonly records = new Map<string, UnitRecord>();
  /** Parsed units assigned here or global (a unit whose text does not parse is in `unparsed` instead). */
  private readonly specs = new Map<string, UnitSpec>();
  private readonly desired = new Map<string, TargetState>();
  private readonly assigned = new Set<string>();
  private readonly dynamic = new Map<string, string>();
  /** Units whose units/ or desired/ value in etcd is bad, or whose text does not parse: left as they are here. */
  private readonly badUnit = new Set<string>();
  private readonly badDesired = new Set<string>();
  private readonly unparsed = new Set<string>();

  constructor(
    private readonly machineId: string,
    private staticMetadata: Record<string, string>,
    private readonly parse: UnitParser,
    private readonly log: Logger,
  ) {}

  /** Replaces the whole view with a fresh read; returns the revision to watch from. Throws when etcd is unreachable (view untouched). */
  async readAll(registry: AgentRegistry): Promise<number> {
    const [units, desired, assigned, metadata] = await Promise.all([
      registry.listUnits(), registry.listDesired(), registry.listAssigned(this.machineId), registry.getMetadata(this.machineId),
    ]);
    // assignments first: which units are kept parsed depends on them
    this.assigned.clear();
    for (const u of assigned.value) this.assigned.add(u);
    this.records.clear();
    this.specs.clear();
    this.unparsed.clear();
    for (const r of units.value) this.setUnit(r.name, r);
    this.desired.clear();
    for (const [k, v] of desired.value) this.desired.set(k, v);
    this.badUnit.clear();
    this.badDesired.clear();
    this.markBad([...(units.bad ?? []), ...(desired.bad ?? [])]);
    this.dynamic.clear();
    for (const [k, v] of metadata) this.dynamic.set(k, v);
    // watch from the oldest of the reads: replaying a few events is harmless, missing one is not
    return Math.min(units.revision, desired.revision, assigned.revision);
  }

  /** Notes keys whose value is bad (logged with the key); the units they name are left as they are until a good value comes. */
  markBad(bad: readonly BadValue[]): void {
    for (const b of bad) {
      this.log.warn('bad value in etcd; skipping the key', { key: b.key, reason: b.reason, ...(b.unit ? { unit: b.unit } : {}) });
      if (!b.unit) continue;
      if (b.key.includes('/desired/')) this.badDesired.add(b.unit);
      else this.badUnit.add(b.unit);
    }
  }

  /** Units the agent must neither start, stop, load nor unload: their stored value is bad or does not parse. */
  frozen(): Set<string> {
    return new Set([...this.badUnit, ...this.badDesired, ...this.unparsed]);
  }

  /** Applies watch events; returns true when something the agent acts on changed. */
  apply(events: RegistryEvent[]): boolean {
    let changed = false;
    for (const e of events) {
      switch (e.type) {
        // a unit neither placed here nor global changes nothing here: each agent sees every unit of the cluster,
        // and 1,000 submitted at once were a pass per watch batch on every machine before any was placed
        // (asked before and after the change: a unit that could not be parsed is frozen here, and one deleted or
        // now parsed as neither placed here nor global may be running here, to be unloaded by the next pass)
        case 'unit': {
          const was = this.concerns(e.unit);
          const unbad = this.badUnit.delete(e.unit);
          if ((this.setUnit(e.unit, e.value) && (was || this.concerns(e.unit))) || unbad) changed = true;
          break;
        }
        case 'desired': {
          const unbad = this.badDesired.delete(e.unit);
          const was = this.desired.get(e.unit);
          if (e.value === null) this.desired.delete(e.unit);
          else this.desired.set(e.unit, e.value);
          if ((was !== (e.value ?? undefined) && this.concerns(e.unit)) || unbad) changed = true;
          break;
        }
        case 'assigned':
          if (e.machine !== this.machineId) break;
          if (e.value && !this.assigned.has(e.unit)) { this.assigned.add(e.unit); this.keepParsed(e.unit); changed = true; }
          else if (!e.value && this.assigned.delete(e.unit)) { this.dropParsed(e.unit); changed = true; }
          break;
        case 'metadata':
          if (e.machine !== this.machineId) break;
          if (e.value === null) changed = this.dynamic.delete(e.key) || changed;
          else if (this.dynamic.get(e.key) !== e.value) { this.dynamic.set(e.key, e.value); changed = true; }
          break;
        default: break;
      }
    }
    return changed;
  }

  /** True when `unit` is placed on this machine, global, or cannot be parsed (it may have been either). */
  private concerns(unit: string): boolean {
    return this.assigned.has(unit) || this.specs.get(unit)?.options.global === true || this.unparsed.has(unit);
  }

  /** Replaces the static metadata (from config). */
  setStaticMetadata(metadata: Record<string, string>): void {
    this.staticMetadata = metadata;
  }

  /** The view as pure data for `wantedUnits`. */
  snapshot(): AgentView {
    return {
      units: this.specs, desired: this.desired, assigned: this.assigned,
      metadata: { ...this.staticMetadata, ...Object.fromEntries(this.dynamic) },
    };
  }

  /** The stored unit record of `name` (the user's text and hash). */
  record(name: string): UnitRecord | undefined {
    return this.records.get(name);
  }

  private setUnit(name: string, record: UnitRecord | null): boolean {
    const old = this.records.get(name);
    if (record === null) {
      this.specs.delete(name);
      this.unparsed.delete(name);
      return this.records.delete(name);
    }
    if (old && old.hash === record.hash) return false;
    this.records.set(name, record);
    const spec = this.parsed(name, record);
    // a unit neither assigned here nor global is not kept parsed (parsed again once assigned here)
    if (spec && (this.assigned.has(name) || spec.options.global)) this.specs.set(name, spec);
    else this.specs.delete(name);
    return true;
  }

  /** Parses the stored unit `name` assigned here (once its record is here; a watch batch may bring the record later). */
  private keepParsed(name: string): void {
    const record = this.records.get(name);
    if (!record || this.specs.has(name) || this.unparsed.has(name)) return;
    const spec = this.parsed(name, record);
    if (spec) this.specs.set(name, spec);
  }

  /** Drops the parsed model of `name`, no longer assigned here, unless it is a global. */
  private dropParsed(name: string): void {
    if (this.specs.get(name)?.options.global === false) this.specs.delete(name);
  }

  /** The unit `name` parsed from `record`, or undefined (noted in `unparsed`, logged) when its text does not parse. */
  private parsed(name: string, record: UnitRecord): UnitSpec | undefined {
    try {
      const spec = this.parse(record);
      this.unparsed.delete(name);
      return spec;
    } catch (err) {
      // the API validates, so this is a bug or an old agent: leave the unit as it is here (never stop it for our failure)
      this.unparsed.add(name);
      this.log.error('cannot parse unit; leaving it as it is here', { unit: name, err: String(err) });
      return undefined;
    }
  }
}
