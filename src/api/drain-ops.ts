/**
 * The API's cordon and drain operations (docs/operations.md): cordon, drain, uncordon, drain status.
 * The machine is checked before anything is written; a second cordon or drain of the same machine is a
 * no-op that says so. The leader does the moving (src/engine/drainer.ts); these only write the request.
 */
import type { CordonRecord, DrainProgress } from '../drain/types';
import type { ApiRegistry } from './api-registry';
import type { DrainStatusMsg } from './messages';
import { NotFoundError } from './grpc-errors';
import { resolveMachine } from './views';
import { ValidationError } from '../errors';

/** Default drain deadline, ms (10 min; `shoalctl drain --deadline`). */
export const DEFAULT_DRAIN_DEADLINE_MS = 10 * 60_000;
/** Longest drain deadline accepted, ms (24 h). */
export const MAX_DRAIN_DEADLINE_MS = 24 * 3_600_000;

/** What a cordon or drain call did. */
export interface CordonResult {
  machine: string;
  /** False when the machine was already cordoned (or already draining, for a drain): nothing changed. */
  changed: boolean;
  /** The drain's id (drain only). */
  drainId?: string;
  message: string;
}

/** Marks a live machine (id or unique prefix) cordoned: no new units. NotFoundError for an unknown machine. */
export async function cordonMachine(reg: ApiRegistry, machine: string, by: string, now = Date.now()): Promise<CordonResult> {
  const m = await resolveMachine(reg, machine);
  const cur = await reg.getCordon(m.id);
  if (cur) return { machine: m.id, changed: false, message: `machine ${m.id} is already cordoned (since ${new Date(cur.since).toISOString()} by ${cur.by || 'unknown'})` };
  await reg.putCordon(m.id, { since: now, by });
  return { machine: m.id, changed: true, message: `machine ${m.id} cordoned: no new units will be placed there` };
}

/**
 * Cordons a live machine and asks the leader to drain it within `deadlineMs`. A drain already running
 * on it is left as it is (changed: false, its id returned, so the caller can wait on it). A finished
 * drain is started again (units may have come back since, or an uncordon/cordon happened).
 * ValidationError `drain.bad-deadline`; NotFoundError for an unknown machine.
 */
export async function drainMachine(reg: ApiRegistry, machine: string, deadlineMs: number, by: string, now = Date.now()): Promise<CordonResult> {
  if (!Number.isFinite(deadlineMs) || deadlineMs <= 0 || deadlineMs > MAX_DRAIN_DEADLINE_MS) {
    throw new ValidationError('drain.bad-deadline', `deadline ${deadlineMs} ms is not between 1 ms and 24 h`, { key: '--deadline' });
  }
  const m = await resolveMachine(reg, machine);
  const cur = await reg.getCordon(m.id);
  if (cur?.drain) {
    const p = await reg.getDrainProgress(m.id);
    if (!p || p.id !== cur.drain.id || p.status !== 'done') {
      return { machine: m.id, changed: false, drainId: cur.drain.id, message: `machine ${m.id} is already draining (drain ${cur.drain.id}, since ${new Date(cur.drain.startedAt).toISOString()}); waiting for it` };
    }
  }
  const id = `${m.id.slice(0, 12)}-${now}`;
  const record: CordonRecord = { since: cur?.since ?? now, by: cur?.by ?? by, drain: { id, startedAt: now, deadlineAt: now + deadlineMs } };
  await reg.putCordon(m.id, record);
  return { machine: m.id, changed: true, drainId: id, message: `machine ${m.id} cordoned; draining (deadline ${new Date(now + deadlineMs).toISOString()})` };
}

/** Lifts a cordon (and ends a drain where it is: units already moved stay where they went). */
export async function uncordonMachine(reg: ApiRegistry, machine: string): Promise<CordonResult> {
  const id = await cordonedId(reg, machine);
  if (!(await reg.deleteCordon(id))) return { machine: id, changed: false, message: `machine ${id} is not cordoned` };
  return { machine: id, changed: true, message: `machine ${id} uncordoned: it takes new units again` };
}

/** The cordon and the drain progress of a machine (a cordoned machine that is no longer live included). */
export async function drainStatus(reg: ApiRegistry, machine: string): Promise<{ machine: string; cordon: CordonRecord | null; progress: DrainProgress | null }> {
  const id = await cordonedId(reg, machine);
  const [cordon, progress] = await Promise.all([reg.getCordon(id), reg.getDrainProgress(id)]);
  return { machine: id, cordon, progress: progress && cordon?.drain?.id === progress.id ? progress : null };
}

/** A live machine's id, or the exact id of a cordoned one that is gone. */
async function cordonedId(reg: ApiRegistry, machine: string): Promise<string> {
  try {
    return (await resolveMachine(reg, machine)).id;
  } catch (err) {
    if (!(err instanceof NotFoundError) || !machine) throw err;
    if (await reg.getCordon(machine)) return machine;
    throw err;
  }
}

/** drainStatus as a message. */
export async function drainStatusMsg(reg: ApiRegistry, machine: string): Promise<DrainStatusMsg> {
  const { machine: id, cordon, progress: p } = await drainStatus(reg, machine);
  return {
    machine: id, cordoned: !!cordon, cordonedSince: cordon?.since ?? 0, cordonedBy: cordon?.by ?? '',
    drainId: cordon?.drain?.id ?? '', status: !cordon?.drain ? '' : p ? p.status : 'pending',
    moved: (p?.moved ?? []).map((m) => ({ unit: m.unit, to: m.to, at: m.at, healthy: m.healthy, forced: !!m.forced })),
    stuck: p?.stuck ?? [], waiting: p?.waiting ?? [], message: p?.message ?? '',
    deadlineAt: cordon?.drain?.deadlineAt ?? 0, deadlinePassed: !!p?.deadlinePassed,
  };
}

/** The cordon column of list-machines: '', cordoned, draining or drained. */
export function cordonState(cordon: CordonRecord | undefined, progress: DrainProgress | null | undefined): string {
  if (!cordon) return '';
  if (!cordon.drain) return 'cordoned';
  return progress && progress.id === cordon.drain.id && progress.status === 'done' ? 'drained' : 'draining';
}
