/**
 * Batch units and cluster-wide timers from `[X-Shoal]`: `Kind=batch`, `BackoffLimit=`, `Completions=`,
 * `Parallelism=`, `Schedule=` (a systemd calendar event, src/units/calendar.ts) and `ConcurrencyPolicy=`
 * (as Kubernetes CronJobs). Pure. See docs/jobs.md.
 */
import type { UnitEntry, UnitFile, UnitName } from './types';
import { sectionEntries } from './unit-file';
import { entryError, type EntryContext } from './option-errors';
import { CalendarError, parseCalendar, type CalendarSpec } from './calendar';

/** The [X-Shoal] keys this file reads. */
export const JOB_KEYS = ['Kind', 'BackoffLimit', 'Completions', 'Parallelism', 'Schedule', 'ConcurrencyPolicy'] as const;

/** What a timer does when an event comes while an earlier run is not finished (Kubernetes CronJob's concurrencyPolicy). */
export type ConcurrencyPolicy = 'allow' | 'forbid' | 'replace';

/** A batch unit's options (Kind=batch). */
export interface JobOptions {
  /** Failed runs retried before the job fails (default 3; Kubernetes Job's backoffLimit). */
  backoffLimit: number;
  /** On a template: instances 1..completions each run to success once. */
  completions?: number;
  /** At most this many of those instances at once (default 1 with Completions=). */
  parallelism?: number;
  /** On a template: each event runs a new instance `name@<unix seconds>`. */
  schedule?: { expr: string; spec: CalendarSpec };
  concurrency: ConcurrencyPolicy;
}

/** Default BackoffLimit= (as Kubernetes). */
export const DEFAULT_BACKOFF_LIMIT = 3;
/** The most Completions= shoal takes (each is a unit). */
export const MAX_COMPLETIONS = 10_000;

/**
 * Reads the job keys of `[X-Shoal]` (the last non-empty assignment wins); undefined when the unit is not a batch unit.
 * Throws ValidationError `unit.bad-option` at the offending line: a job key without `Kind=batch`, a batch unit
 * that is not a service or restarts itself (`Restart=` other than `no`, `RemainAfterExit=yes`), `Parallelism=`
 * more than `Completions=`, `Completions=`/`Schedule=` on a unit that is not a template, a bad calendar event.
 */
export function parseJobOptions(file: UnitFile, name: UnitName, opts: { file?: string } = {}): JobOptions | undefined {
  const ctx: EntryContext = { file: opts.file, section: 'X-Shoal' };
  const byKey = new Map<string, UnitEntry>();
  for (const e of sectionEntries(file, 'X-Shoal')) {
    if (!(JOB_KEYS as readonly string[]).includes(e.key)) continue;
    if (e.value === '') byKey.delete(e.key); else byKey.set(e.key, e);
  }
  const err = (key: string, msg: string) => entryError('unit.bad-option', msg, ctx, byKey.get(key)!);
  const kind = byKey.get('Kind');
  if (kind && kind.value !== 'batch' && kind.value !== 'service') throw err('Kind', `Kind=${JSON.stringify(kind.value)}: expected batch (runs to completion) or service (the default)`);
  if (!kind || kind.value === 'service') {
    const stray = JOB_KEYS.find((k) => k !== 'Kind' && byKey.has(k));
    if (stray) throw err(stray, `${stray}= is only for batch units: add Kind=batch to [X-Shoal]`);
    return undefined;
  }
  if (name.type !== 'service') throw err('Kind', `Kind=batch is only for services; ${name.name} is a ${name.type}`);
  checkService(file, ctx);
  const inst = sectionEntries(file, 'X-Shoal').filter((e) => e.key === 'Instances' && e.value !== '').at(-1);
  if (inst) throw entryError('unit.bad-option', 'Instances= keeps services running; a batch unit (Kind=batch) runs instances to completion with Completions=', ctx, inst);
  const global = sectionEntries(file, 'X-Fleet').filter((e) => e.key === 'Global').at(-1);
  if (global && ['true', 'yes', '1', 'on', 't'].includes(global.value.toLowerCase())) {
    throw entryError('unit.bad-option', 'Global=true with Kind=batch: a batch unit runs once in the cluster, not on every machine', { file: opts.file, section: 'X-Fleet' }, global);
  }
  const int = (key: string, min: number, max: number): number | undefined => {
    const e = byKey.get(key);
    if (!e) return undefined;
    if (!/^\d{1,9}$/.test(e.value) || Number(e.value) < min || Number(e.value) > max) throw err(key, `${key}=${JSON.stringify(e.value)} is not a whole number from ${min} to ${max}`);
    return Number(e.value);
  };
  const out: JobOptions = { backoffLimit: int('BackoffLimit', 0, 100) ?? DEFAULT_BACKOFF_LIMIT, concurrency: 'allow' };
  const template = name.isTemplate || name.template !== undefined; // an instance carries its template's text
  const completions = int('Completions', 1, MAX_COMPLETIONS);
  const parallelism = int('Parallelism', 1, MAX_COMPLETIONS);
  if (completions !== undefined) {
    if (!template) throw err('Completions', `Completions= is only for templates (name@.service): instances 1..N run; ${name.name} is a single unit`);
    out.completions = completions;
    out.parallelism = parallelism ?? 1;
    if (out.parallelism > completions) throw err('Parallelism', `Parallelism=${out.parallelism} is more than Completions=${completions}`);
  } else if (parallelism !== undefined) {
    throw err('Parallelism', 'Parallelism= needs Completions= (the number of instances to run to success)');
  }
  const sched = byKey.get('Schedule');
  if (sched) {
    if (!template) throw err('Schedule', `Schedule= is only for templates (name@.service): each event runs an instance name@<unix seconds>; ${name.name} is a single unit`);
    if (completions !== undefined) throw err('Schedule', 'Schedule= and Completions= cannot be combined');
    try {
      out.schedule = { expr: sched.value, spec: parseCalendar(sched.value) };
    } catch (e) {
      if (e instanceof CalendarError) throw err('Schedule', `Schedule=${e.message}`);
      throw e;
    }
  }
  const policy = byKey.get('ConcurrencyPolicy');
  if (policy) {
    const v = policy.value.toLowerCase();
    if (v !== 'allow' && v !== 'forbid' && v !== 'replace') throw err('ConcurrencyPolicy', `ConcurrencyPolicy=${JSON.stringify(policy.value)}: expected allow, forbid or replace`);
    if (!sched) throw err('ConcurrencyPolicy', 'ConcurrencyPolicy= is only for units with Schedule=');
    out.concurrency = v;
  }
  return out;
}

/** A batch unit must end by itself and stay ended: systemd restarting it would run it again behind shoal's back. */
function checkService(file: UnitFile, ctx: EntryContext): void {
  const svc: EntryContext = { file: ctx.file, section: 'Service' };
  let restart: UnitEntry | undefined;
  let remain: UnitEntry | undefined;
  for (const e of sectionEntries(file, 'Service')) {
    if (e.key === 'Restart') restart = e.value === '' ? undefined : e;
    if (e.key === 'RemainAfterExit') remain = e.value === '' ? undefined : e;
  }
  if (restart && restart.value !== 'no') {
    throw entryError('unit.bad-option', `Restart=${restart.value} in a batch unit (Kind=batch): shoal retries failed runs itself (BackoffLimit=); use Restart=no or leave it out`, svc, restart);
  }
  if (remain && ['1', 'yes', 'true', 'on'].includes(remain.value.toLowerCase())) {
    throw entryError('unit.bad-option', 'RemainAfterExit=yes in a batch unit (Kind=batch): a run must end to be recorded', svc, remain);
  }
}
