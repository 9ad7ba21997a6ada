/**
 * Turns one etcd change (key, previous value, new value) into cluster events. Pure: no I/O, no clock
 * (the caller passes `now`). The recorder feeds it every change under the prefix in revision order.
 * A value shoal did not write gives a `key.bad` event instead of throwing.
 */
import type { KeyLayout } from '../etcd/keys';
import { decodeDeployment, decodeMachine, decodeState, decodeUnit } from '../etcd/codec';
import type { Deployment } from '../deploy/types';
import type { MachineRecord, UnitStateRecord } from '../etcd/registry';
import type { EventDraft } from './types';

/** One key's change: `prev` null when created, `next` null when deleted. */
export interface KeyChange {
  key: string;
  prev: string | null;
  next: string | null;
}

/** What the deriver remembers between changes (machines seen lost, to tell `returned` from `joined`). */
export class EventDeriver {
  private readonly lost = new Set<string>();
  /** The last value of state keys deleted lately (a lease handed over or lost): a re-report of the same run is no news. */
  private readonly goneStates = new Map<string, string>();

  constructor(private readonly keys: KeyLayout) {}

  /** The events one change means (often none: most state updates change no active state). */
  derive(c: KeyChange, now: number): EventDraft[] {
    const p = this.keys.parse(c.key);
    if (!p) return [];
    try {
      switch (p.kind) {
        case 'units': return unitEvents(c, p.unit, now);
        case 'desired': return c.next !== null && c.next !== c.prev ? [{ kind: 'unit.desired', unit: p.unit, message: `desired state ${c.next}`, time: now }] : [];
        case 'schedule': return scheduleEvents(c, p.unit, now);
        case 'states': return stateEvents(this.sameRun(c), p.unit, p.machine, now);
        case 'machines': return this.machineEvents(c, p.machine, now);
        case 'deployments': return deploymentEvents(c, p.unit, now);
        case 'engine': return p.name === 'leader' ? leaderEvents(c, now) : [];
        default: return [];
      }
    } catch (err) {
      return [{ kind: 'key.bad', message: `skipped ${c.key}: ${(err as Error).message}`.slice(0, 300), fields: { key: c.key }, time: now }];
    }
  }

  /**
   * A state key re-created for the same run (same hash and MainPID) after its deletion (a restarted agent
   * taking its machine over, an agent re-registering after an etcd outage) is compared with the value it
   * had, so it says nothing new: without this every unit of a restarted shoald's machine was "started" again.
   */
  private sameRun(c: KeyChange): KeyChange {
    if (c.next === null) {
      if (c.prev !== null) {
        if (this.goneStates.size >= GONE_STATES_MAX) this.goneStates.delete(this.goneStates.keys().next().value!);
        this.goneStates.set(c.key, c.prev);
      }
      return c;
    }
    const was = this.goneStates.get(c.key);
    this.goneStates.delete(c.key);
    if (c.prev !== null || was === undefined) return c;
    const a = safe(() => decodeState(c.key, was));
    const b = safe(() => decodeState(c.key, c.next!));
    return a && b && a.hash === b.hash && (a.mainPid ?? 0) > 0 && a.mainPid === b.mainPid ? { ...c, prev: was } : c;
  }

  private machineEvents(c: KeyChange, machine: string, now: number): EventDraft[] {
    const prev = c.prev === null ? null : safe(() => decodeMachine(c.key, c.prev!));
    if (c.next === null) {
      if (prev?.leaving) return [{ kind: 'machine.left', machine, message: 'machine left the cluster', time: now }];
      this.lost.add(machine);
      return [{ kind: 'machine.lost', machine, message: 'machine record expired (agent gone or unreachable)', time: now }];
    }
    const next: MachineRecord = decodeMachine(c.key, c.next);
    if (c.prev === null) {
      const back = this.lost.delete(machine);
      return [{ kind: back ? 'machine.returned' : 'machine.joined', machine, message: `${back ? 'returned' : 'joined'} at ${next.address ?? '?'}`, time: now }];
    }
    if (next.leaving && !prev?.leaving) return [{ kind: 'machine.leaving', machine, message: 'machine is leaving: its units move away', time: now }];
    return [];
  }
}

/** Deleted state values remembered (oldest forgotten first). */
const GONE_STATES_MAX = 10_000;

function safe<T>(fn: () => T): T | null {
  try { return fn(); } catch { return null; }
}

function unitEvents(c: KeyChange, unit: string, now: number): EventDraft[] {
  if (c.next === null) return [{ kind: 'unit.destroyed', unit, time: now }];
  const next = decodeUnit(c.key, c.next);
  if (c.prev === null) return [{ kind: 'unit.submitted', unit, message: `hash ${next.hash.slice(0, 12)}`, time: now }];
  const prev = safe(() => decodeUnit(c.key, c.prev!));
  if (prev && prev.hash === next.hash) return [];
  return [{ kind: 'unit.replaced', unit, message: `hash ${prev?.hash.slice(0, 12) ?? '?'} -> ${next.hash.slice(0, 12)}`, time: now }];
}

function scheduleEvents(c: KeyChange, unit: string, now: number): EventDraft[] {
  if (c.next === null) return [{ kind: 'unit.unscheduled', unit, machine: c.prev ?? undefined, message: c.prev ? `removed from ${c.prev}` : undefined, time: now }];
  if (c.prev === null) return [{ kind: 'unit.placed', unit, machine: c.next, message: `placed on ${c.next}`, time: now }];
  if (c.prev === c.next) return [];
  return [{ kind: 'unit.moved', unit, machine: c.next, message: `moved from ${c.prev} to ${c.next}`, fields: { from: c.prev }, time: now }];
}

const RUNNING = new Set(['active', 'reloading']);

function stateEvents(c: KeyChange, unit: string, machine: string, now: number): EventDraft[] {
  if (c.next === null) return []; // a state key goes with its machine's lease or an unload: the machine/schedule events say it
  const next: UnitStateRecord = decodeState(c.key, c.next);
  const prev = c.prev === null ? null : safe(() => decodeState(c.key, c.prev!));
  const time = now;
  const out: EventDraft[] = [];
  const was = prev?.activeState ?? '';
  const is = next.activeState;
  if (is !== was) {
    if (RUNNING.has(is) && !RUNNING.has(was)) out.push({ kind: 'unit.started', unit, machine, message: `${is}/${next.subState}`, time });
    else if (is === 'failed') out.push({ kind: 'unit.failed', unit, machine, message: next.reason ? `failed: ${next.reason}` : `failed/${next.subState}`, time });
    else if (is === 'inactive' && RUNNING.has(was)) out.push({ kind: 'unit.stopped', unit, machine, message: `${is}/${next.subState}`, time });
  }
  if ((next.healthRestarts ?? 0) > (prev?.healthRestarts ?? 0)) {
    out.push({ kind: 'unit.restarted', unit, machine, message: `restarted by its health check (${next.healthRestarts}): ${next.healthOutput ?? ''}`.trim(), time });
  }
  if (next.health !== prev?.health && (next.health === 'unhealthy' || (next.health === 'healthy' && prev?.health === 'unhealthy'))) {
    out.push({ kind: `unit.${next.health}`, unit, machine, message: next.healthOutput, time });
  }
  return out;
}

function deploymentEvents(c: KeyChange, unit: string, now: number): EventDraft[] {
  if (c.next === null) return [];
  const next: Deployment = decodeDeployment(c.key, c.next);
  const prev = c.prev === null ? null : safe(() => decodeDeployment(c.key, c.prev!));
  const same = prev && prev.id === next.id;
  const fields = { id: next.id, step: String(next.step), steps: String(next.steps) };
  const ev = (kind: string, message: string): EventDraft => ({ kind, unit, message, fields, time: now });
  if (!same) return [ev('deployment.started', `to ${next.to.hash.slice(0, 12)}: ${next.message}`)];
  if (next.status !== prev.status) {
    const word = next.status === 'running' ? 'step' : next.status;
    return [ev(`deployment.${word}`, next.failure && next.status !== 'succeeded' ? `${next.message} (${next.failure})` : next.message)];
  }
  if (next.step !== prev.step) return [ev('deployment.step', `step ${next.step}/${next.steps}: ${next.message}`)];
  return [];
}

function leaderEvents(c: KeyChange, now: number): EventDraft[] {
  if (c.next === null || c.next === c.prev) return [];
  let id = c.next;
  try { id = String((JSON.parse(c.next) as { id?: string }).id ?? c.next); } catch { /* a bare value */ }
  return [{ kind: 'leader.changed', message: `engine ${id} leads`, actor: id, time: now }];
}
