/**
 * Which absent machines the engine may take for dead. A machine record vanishes when its lease lapses:
 * because the machine died, or because etcd (or the engine's own link to it) was away and nobody could
 * keep a lease alive. Only the first is a reason to move units. So the engine trusts a death only when it
 * saw the record go while its own view of etcd was fresh and had been fresh for a whole grace period;
 * any other absent machine is *held* (keeps its units, gets no new ones) until it had a fair chance to
 * re-register: `graceMs` (one machine TTL plus a margin) after etcd came back, or after the engine's
 * view was (re)built (engine start, watch reset). Pure: times are passed in (ms).
 */
import type { MachineRecord } from '../etcd/registry';

/** Settings of the witness. */
export interface LivenessOptions {
  /** How long an absent machine's agent gets to re-register after the view became fresh (ms). */
  graceMs: number;
  /** No successful etcd round trip for longer than this = the view is stale (ms). */
  staleMs: number;
}

/** `rev`: the etcd revision the fate was seen at, when known (a read older than it says nothing of it). */
type Fate =
  | { kind: 'alive'; record: MachineRecord; rev?: number }
  /** `until`: held until then (ms); undefined while the engine has not heard from etcd since. */
  | { kind: 'gone'; record?: MachineRecord; trusted: boolean; at: number; until?: number; rev?: number };

/** True when `prev` was seen at a later revision than `rev` (both known): older news does not replace it. */
function isNewer(prev: Fate | undefined, rev: number | undefined): boolean {
  return prev?.rev !== undefined && rev !== undefined && prev.rev > rev;
}

/** What the engine has seen of machine liveness, across terms. */
export class LivenessWitness {
  private lastContact = -Infinity;
  private recoveredAt = -Infinity;
  /** When the view of machines was last (re)built: machines never seen are held until this + grace. */
  private viewSince = -Infinity;
  private readonly fates = new Map<string, Fate>();

  constructor(readonly options: LivenessOptions) {}

  /** An etcd round trip succeeded at `at`. After a gap longer than `staleMs` etcd "came back". */
  contact(at: number): void {
    if (this.lastContact === -Infinity) this.viewSince = at; // first contact: a start, not a recovery
    else if (at - this.lastContact > this.options.staleMs) {
      this.recoveredAt = at;
      for (const f of this.fates.values()) if (f.kind === 'gone' && !f.trusted && f.until === undefined) f.until = at + this.options.graceMs;
    }
    this.lastContact = Math.max(this.lastContact, at);
  }

  /** The view was rebuilt at `at` without the history in between (watch reset): deaths in the gap were not seen. */
  rebuilt(at: number): void {
    this.viewSince = at;
    this.recoveredAt = Math.max(this.recoveredAt, at);
  }

  /** True when the engine heard from etcd within `staleMs` of `at`. */
  fresh(at: number): boolean {
    return at - this.lastContact <= this.options.staleMs;
  }

  /** The machine's record was seen live at `at` (etcd revision `rev`, when known). */
  sawAlive(record: MachineRecord, _at: number, rev?: number): void {
    const prev = this.fates.get(record.id);
    if (isNewer(prev, rev)) return;
    this.fates.set(record.id, { kind: 'alive', record, rev });
  }

  /**
   * The machine's record was seen deleted at `at` (a watch event: it existed until then).
   * Trusted (its units may move at once) when it left on purpose (`leaving`), or when the view was fresh
   * at `at` and etcd had been back for a whole grace period. The first sighting counts.
   */
  sawGone(id: string, at: number, rev?: number): void {
    const prev = this.fates.get(id);
    if (prev?.kind === 'gone' || isNewer(prev, rev)) return;
    const record = prev?.record;
    const { graceMs } = this.options;
    const trusted = record?.leaving === true || (this.fresh(at) && at - this.recoveredAt >= graceMs);
    const until = trusted ? at : this.fresh(at) ? Math.max(at, this.recoveredAt) + graceMs : undefined;
    this.fates.set(id, { kind: 'gone', record, trusted, at, until, rev });
  }

  /**
   * A read at `at` (of etcd revision `rev`) did not find `id`: a death only if the witness last saw it
   * alive, before that revision (the witness's own watch may be ahead of the read: then it says nothing).
   */
  sawAbsent(id: string, at: number, rev?: number): void {
    if (this.fates.get(id)?.kind === 'alive') this.sawGone(id, at, rev);
  }

  /**
   * True when the machine `id`, absent from the engine's model, must keep its units at `now`: the witness
   * saw it alive (its watch is ahead of the model's: the model catches up), or its death was not trusted
   * and its grace has not run out (or etcd has not been reachable since). Machines never seen are held
   * until the view's start plus the grace.
   */
  held(id: string, now: number): boolean {
    const f = this.fates.get(id);
    // never seen (e.g. alive and unchanged since this engine started): held after the view's start and after
    // an etcd outage, like a machine seen alive (a new leader's first read after an outage found one absent)
    if (!f) return this.viewSince === -Infinity || now < Math.max(this.viewSince, this.recoveredAt) + this.options.graceMs;
    // a chaos etcd-pause round: the new leader planned from a read made before node3 re-registered, while
    // this watch had already seen it back; it took "absent and alive" for not held and moved its units
    if (f.kind === 'alive') return true;
    if (f.trusted) return false;
    return f.until === undefined || now < f.until;
  }

  /** When the hold of `id` ends (ms; Infinity while unknown), for a re-plan timer. */
  heldUntil(id: string): number {
    const f = this.fates.get(id);
    if (!f) return this.viewSince === -Infinity ? Infinity : Math.max(this.viewSince, this.recoveredAt) + this.options.graceMs;
    if (f.kind === 'alive') return Infinity; // until the model sees it (a watch event re-plans)
    if (f.trusted) return -Infinity;
    return f.until ?? Infinity;
  }

  /** The last record seen of `id` (a held machine is planned with it), if any. */
  lastRecord(id: string): MachineRecord | undefined {
    return this.fates.get(id)?.record;
  }

  /** Forgets machines that are gone and no longer matter (bounded memory); `keep` = ids still referenced. */
  prune(keep: ReadonlySet<string>): void {
    for (const [id, f] of this.fates) if (f.kind === 'gone' && !keep.has(id)) this.fates.delete(id);
  }
}
