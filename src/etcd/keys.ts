/**
 * The etcd key layout, in one place. Every key shoal writes lives under one prefix (default `/shoal/`).
 * Pure: builds and parses key strings, no I/O. See docs/etcd-layout.md for what each key holds and why.
 */

/** The default prefix every shoal key lives under. */
export const DEFAULT_PREFIX = '/shoal/';

/** The kinds of keys shoal stores, by their first path segment. */
export type KeyKind = 'units' | 'desired' | 'schedule' | 'assigned' | 'machines' | 'metadata' | 'states' | 'engine'
  | 'groups' | 'history' | 'deployments' | 'promote' | 'events' | 'load' | 'autoscale' | 'cordon' | 'drains' | 'jobs';

/** A shoal key split into its parts; `null` from `parse` when the key is not one of ours. */
export type ParsedKey =
  | { kind: 'units'; unit: string }
  | { kind: 'desired'; unit: string }
  | { kind: 'schedule'; unit: string }
  | { kind: 'assigned'; machine: string; unit: string }
  | { kind: 'machines'; machine: string }
  | { kind: 'load'; machine: string }
  | { kind: 'metadata'; machine: string; key: string }
  | { kind: 'states'; unit: string; machine: string }
  | { kind: 'engine'; name: string }
  | { kind: 'cordon' | 'drains'; machine: string }
  | { kind: 'groups' | 'history' | 'deployments' | 'promote' | 'autoscale' | 'jobs'; unit: string };

/** Builds and parses the keys under one prefix. Unit names and machine ids never contain `/` (validated upstream). */
export class KeyLayout {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  /** `units/<name>`: JSON {name, text, hash}. */
  unit(name: string): string { return `${this.prefix}units/${name}`; }
  /** `desired/<name>`: inactive | loaded | launched. */
  desired(name: string): string { return `${this.prefix}desired/${name}`; }
  /** `schedule/<name>`: the machine id a non-global unit is placed on. */
  schedule(name: string): string { return `${this.prefix}schedule/${name}`; }
  /** `assigned/<machine>/<name>`: index of schedule/ by machine, written in the same txn (value: unit name). */
  assigned(machine: string, name: string): string { return `${this.prefix}assigned/${machine}/${name}`; }
  /** `machines/<id>`: JSON machine record, on the agent's lease. */
  machine(id: string): string { return `${this.prefix}machines/${id}`; }
  /** `metadata/<id>/<key>`: dynamic metadata value (no lease). */
  metadata(machine: string, key: string): string { return `${this.prefix}metadata/${machine}/${key}`; }
  /** `states/<name>/<machine>`: JSON reported state, on the agent's lease. */
  state(name: string, machine: string): string { return `${this.prefix}states/${name}/${machine}`; }
  /** `groups/<template>`: a group's instance count set by `shoalctl scale` (decimal). */
  group(name: string): string { return `${this.prefix}groups/${name}`; }
  /** `history/<name>`: JSON array of the last versions {hash, text, time}, oldest first. */
  history(name: string): string { return `${this.prefix}history/${name}`; }
  /** `deployments/<name>`: JSON Deployment of a group or unit (the latest one), written by the leader. */
  deployment(name: string): string { return `${this.prefix}deployments/${name}`; }
  /** `promote/<name>`: the id of the deployment `shoalctl promote` released past its canaries. */
  promote(name: string): string { return `${this.prefix}promote/${name}`; }
  /** `load/<id>`: JSON MachineLoad (real use of the machine and its units), on the agent's lease. */
  load(machine: string): string { return `${this.prefix}load/${machine}`; }
  /** `autoscale/<template>`: JSON AutoscaleRecord (the leader's last scaling decisions of a group). */
  autoscale(name: string): string { return `${this.prefix}autoscale/${name}`; }
  /** `cordon/<machine>`: JSON CordonRecord (src/drain/types.ts): no new units there; with a drain request (no lease). */
  cordon(machine: string): string { return `${this.prefix}cordon/${machine}`; }
  /** `drains/<machine>`: JSON DrainProgress of the machine's drain, written by the leader. */
  drainProgress(machine: string): string { return `${this.prefix}drains/${machine}`; }
  /** `jobs/<name>`: JSON job record of a batch unit or of a Completions=/Schedule= template, written by the leader. */
  job(name: string): string { return `${this.prefix}jobs/${name}`; }
  /** `engine/leader`: the election key, on the leader's lease. */
  get leader(): string { return `${this.prefix}engine/leader`; }

  /** `events/<id>`: JSON cluster event (src/events), the last MAX_EVENTS kept. */
  event(id: string): string { return `${this.prefix}events/${id}`; }
  /** `events-cursor`: `<revision>:<n>`, how far the leader's event recorder has derived events (outside events/). */
  get eventCursor(): string { return `${this.prefix}events-cursor`; }

  /** `engine/writer`: the campaign value of the engine that wrote the last placement txn (audit). */
  get writer(): string { return `${this.prefix}engine/writer`; }

  /** The prefix of one kind, e.g. `/shoal/units/`. */
  kindPrefix(kind: KeyKind): string { return `${this.prefix}${kind}/`; }
  /** `assigned/<machine>/`: every unit placed on one machine. */
  assignedPrefix(machine: string): string { return `${this.prefix}assigned/${machine}/`; }
  /** `metadata/<machine>/`: one machine's dynamic metadata. */
  metadataPrefix(machine: string): string { return `${this.prefix}metadata/${machine}/`; }
  /** `states/<name>/`: the states every machine reported for one unit. */
  statesPrefix(name: string): string { return `${this.prefix}states/${name}/`; }

  /** Splits a full key; null when it is outside the prefix or malformed. */
  parse(key: string): ParsedKey | null {
    if (!key.startsWith(this.prefix)) return null;
    const parts = key.slice(this.prefix.length).split('/');
    const [kind, a, b] = parts;
    const ok = (n: number) => parts.length === n && parts.every((p) => p.length > 0);
    switch (kind) {
      case 'units': case 'desired': case 'schedule':
        return ok(2) ? { kind, unit: a } : null;
      case 'groups': case 'history': case 'deployments': case 'promote': case 'autoscale': case 'jobs':
        return ok(2) ? { kind, unit: a } : null;
      case 'machines': case 'load': return ok(2) ? { kind, machine: a } : null;
      case 'cordon': case 'drains': return ok(2) ? { kind, machine: a } : null;
      case 'assigned': return ok(3) ? { kind, machine: a, unit: b } : null;
      case 'metadata': return ok(3) ? { kind, machine: a, key: b } : null;
      case 'states': return ok(3) ? { kind, unit: a, machine: b } : null;
      case 'engine': return ok(2) ? { kind, name: a } : null;
      default: return null;
    }
  }
}
