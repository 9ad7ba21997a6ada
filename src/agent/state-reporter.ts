/**
 * Publishes this machine's unit states to etcd (states/<unit>/<machine>, on the machine's lease),
 * only when they change. Bursts are coalesced per unit (latest wins) and written in transactions of
 * up to 128 states, a few in flight; failed writes are retried, and everything is re-reported under a
 * new session.
 */
import { unitsByState } from '../metrics';
import type { MachineSession, UnitStateRecord } from '../etcd/registry';
import type { Logger } from '../log';
import type { Clock } from './clock';

/** A state without its `since` (the reporter stamps when a state was entered). */
export type ReportedState = Omit<UnitStateRecord, 'since'>;


/** States per etcd transaction (etcd's --max-txn-ops default). */
const BATCH = 128;
/** Transactions in flight at once. */
const IN_FLIGHT = 4;
const RETRY_MS = 1000;

/** Coalescing, change-only state publisher. */
export class StateReporter {
  /** What should be in etcd now (null = deleted). */
  private readonly current = new Map<string, UnitStateRecord | null>();
  /** What was last written successfully, as a comparable string. */
  private readonly written = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private session: MachineSession | null = null;
  private flushing = false;
  private retry: unknown;
  private idleWaiters: (() => void)[] = [];
  /** States written since start (tests and benches read it). */
  writes = 0;
  /** etcd transactions used for them. */
  txns = 0;

  constructor(private readonly clock: Clock, private readonly log: Logger) {}

  /** Uses `session` from now on; every known state is written again (the old lease took them with it). */
  setSession(session: MachineSession | null): void {
    this.session = session;
    this.written.clear();
    for (const name of this.current.keys()) this.dirty.add(name);
    this.kick();
  }

  /** Sets a unit's state (null: the unit is gone from this machine). Written only if it differs from the last write. */
  update(unit: string, state: ReportedState | null): void {
    const prev = this.current.get(unit);
    if ((prev?.activeState ?? null) !== (state?.activeState ?? null)) {
      if (prev) unitsByState.dec({ active_state: prev.activeState });
      if (state) unitsByState.inc({ active_state: state.activeState });
    }
    if (state === null) {
      if (prev === null || (prev === undefined && !this.written.has(unit))) return;
      this.current.set(unit, null);
    } else {
      const same = prev && prev.activeState === state.activeState && prev.subState === state.subState && prev.loadState === state.loadState;
      const since = same ? prev.since : new Date(this.clock.now()).toISOString();
      this.current.set(unit, { ...state, since });
    }
    this.dirty.add(unit);
    this.kick();
  }

  /** Resolves when nothing is waiting to be written (or no session can take it). */
  idle(): Promise<void> {
    if (this.dirty.size === 0 || !this.session) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying. */
  close(): void {
    if (this.retry !== undefined) this.clock.clearTimeout(this.retry);
    this.retry = undefined;
    this.session = null;
    this.wakeIdle();
  }

  private kick(): void {
    if (this.flushing || !this.session) return;
    this.flushing = true;
    // from the next turn of the event loop: the changes systemd signals together (a start's active state, its
    // MainPID) and the units whose jobs ended together go out in one write
    setImmediate(() => void this.flush().finally(() => {
      this.flushing = false;
      if (this.dirty.size === 0) this.wakeIdle();
      // an update that came after the flush loop ended (it only kicked a flush then ending) is not stranded
      else if (this.retry === undefined) this.kick();
    }));
  }

  private async flush(): Promise<void> {
    let failed = false;
    while (this.dirty.size > 0 && this.session && !failed) {
      const session = this.session;
      const units = [...this.dirty].slice(0, BATCH * IN_FLIGHT);
      const chunks: string[][] = [];
      for (let i = 0; i < units.length; i += BATCH) chunks.push(units.slice(i, i + BATCH));
      await Promise.all(chunks.map(async (chunk) => {
        const writes: { unit: string; state: UnitStateRecord | null; key: string }[] = [];
        for (const unit of chunk) {
          this.dirty.delete(unit);
          const state = this.current.get(unit) ?? null;
          const key = state === null ? 'null' : JSON.stringify(state);
          if (this.written.get(unit) !== key) writes.push({ unit, state, key });
        }
        if (writes.length === 0) return;
        try {
          await session.reportStates(writes.map((w) => [w.unit, w.state] as const));
          this.txns++;
          this.writes += writes.length;
          // written under a session that was replaced meanwhile: it went with the old lease, so it is
          // not written under the new one (setSession marked it dirty again; do not record it as written)
          if (this.session !== session) return;
          for (const { unit, state, key } of writes) {
            if (state === null) {
              this.written.delete(unit);
              if (this.current.get(unit) === null) this.current.delete(unit);
            } else this.written.set(unit, key);
          }
        } catch (err) {
          if (this.session !== session) return; // setSession already queued them again
          failed = true;
          for (const w of writes) this.dirty.add(w.unit);
          this.log.debug('state report failed; will retry', { units: writes.length, err: String(err) });
        }
      }));
    }
    if (failed && this.retry === undefined) {
      this.retry = this.clock.setTimeout(() => { this.retry = undefined; this.kick(); }, RETRY_MS);
    }
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }
}
