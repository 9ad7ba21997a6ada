/**
 * Batch units, completions and timers, as one pure pass of the leader (beside src/deploy/groups.ts): steps every
 * launched batch unit's job (src/jobs/job.ts), creates the instances of `Completions=` templates at most
 * `Parallelism=` unfinished at a time, and fires `Schedule=` templates once per calendar event (a missed event
 * fires once when the leader sees it late: systemd's Persistent=true), honouring `ConcurrencyPolicy=`.
 * Returns the writes (one guarded transaction with the leader's other writes) and, for the planner, which
 * batch units to keep placed and where not.
 */
import type { UnitChange, UnitRecord, UnitStateRecord } from '../etcd/registry';
import { nextElapse } from '../units/calendar';
import { instanceName, parseUnitName } from '../units/unit-name';
import type { TargetState, UnitSpec } from '../units/types';
import { stepJob, type Launch } from './job';
import { jobFinished, TIMER_HISTORY, type Job, type JobRecord, type TemplateJob } from './types';

/** The leader's view, from its watch-fed model. */
export interface JobsInput {
  units: ReadonlyMap<string, UnitRecord>;
  /** The parsed unit (null when it does not parse). */
  spec(name: string): UnitSpec | null;
  desired: ReadonlyMap<string, TargetState>;
  schedule: ReadonlyMap<string, string>;
  states: ReadonlyMap<string, ReadonlyMap<string, UnitStateRecord>>;
  jobs: ReadonlyMap<string, JobRecord>;
  /** Live machines that take new units. */
  live: ReadonlySet<string>;
  /** ms since the epoch. */
  now: number;
}

/** What a pass decided. */
export interface JobsOutput {
  changes: UnitChange[];
  /** Launched batch units → keep placed or not, and machines to avoid. */
  launch: Map<string, Launch>;
  /** True while a job is unfinished or a timer is armed: the driver passes again soon (retries and events are timers). */
  active: boolean;
  /** Earliest time something is due (a retry, a timer event), ms since the epoch; Infinity when none. */
  dueAt: number;
}

/** Most missed events walked over to find the latest one (a per-second schedule after a day's outage is 86,400). */
const MAX_MISSED = 200_000;

/** One pass. Deterministic for a given input. */
export function planJobs(input: JobsInput): JobsOutput {
  const out: JobsOutput = { changes: [], launch: new Map(), active: false, dueAt: Infinity };
  const instances = new Map<string, string[]>(); // template → its stored instances
  for (const name of input.units.keys()) {
    const n = safeName(name);
    if (n?.template) (instances.get(n.template) ?? instances.set(n.template, []).get(n.template)!).push(name);
  }
  for (const [name, rec] of input.units) {
    const spec = input.spec(name);
    if (!spec?.job) continue;
    const n = safeName(name);
    if (n?.isTemplate) {
      if (input.desired.get(name) !== 'launched') continue;
      if (spec.job.completions !== undefined) planCompletions(input, rec, spec, instances.get(name) ?? [], out);
      else if (spec.job.schedule) planTimer(input, rec, spec, instances.get(name) ?? [], out);
      continue;
    }
    if (input.desired.get(name) !== 'launched') continue;
    const prev = input.jobs.get(name);
    const step = stepJob(prev?.kind === 'run' ? prev : null, {
      unit: name, hash: rec.hash, backoffLimit: spec.job.backoffLimit, placed: input.schedule.get(name),
      states: input.states.get(name), live: input.live, now: input.now,
    });
    if (step.changed) out.changes.push({ kind: 'put-job', job: step.job });
    out.launch.set(name, { launch: step.launch, avoid: step.avoid });
    if (!jobFinished(step.job)) out.active = true;
    if (step.job.status === 'retrying') out.dueAt = Math.min(out.dueAt, step.job.retryAt ?? input.now);
  }
  // records of units that are gone (destroy deletes them too; this catches a destroy racing a write)
  for (const name of input.jobs.keys()) if (!input.units.has(name)) out.changes.push({ kind: 'delete-job', unit: name });
  return out;
}

/** Instances 1..completions, at most parallelism unfinished at a time; the template's record counts them. */
function planCompletions(input: JobsInput, tpl: UnitRecord, spec: UnitSpec, existing: string[], out: JobsOutput): void {
  const n = spec.job!.completions!;
  const p = spec.job!.parallelism ?? 1;
  const prev = input.jobs.get(tpl.name);
  const t: TemplateJob = prev?.kind === 'completions' && prev.hash === tpl.hash ? { ...prev }
    : { kind: 'completions', unit: tpl.name, hash: tpl.hash, status: 'running', completions: n, parallelism: p, succeeded: 0, failed: 0, maxActive: 0, createdAt: input.now, updatedAt: input.now, message: '' };
  t.completions = n;
  t.parallelism = p;
  const have = new Set(existing);
  let succeeded = 0;
  let failed = 0;
  let active = 0;
  for (let i = 1; i <= n; i++) {
    const name = instanceName(tpl.name, String(i));
    if (!have.has(name)) continue;
    const j = input.jobs.get(name);
    const finished = j?.kind === 'run' && jobFinished(j) ? j.status : null;
    if (finished === 'succeeded') succeeded++;
    else if (finished === 'failed') failed++;
    else if (input.desired.get(name) === 'launched') active++;
  }
  t.succeeded = succeeded;
  t.failed = failed;
  if (failed > 0) t.status = 'failed';
  else if (succeeded >= n) t.status = 'succeeded';
  else t.status = 'running';
  if (t.status === 'running') {
    for (let i = 1; i <= n && active < p; i++) {
      const name = instanceName(tpl.name, String(i));
      if (have.has(name)) continue;
      out.changes.push({ kind: 'put-unit', record: { name, text: tpl.text, hash: tpl.hash }, desired: 'launched' });
      active++;
    }
    out.active = true;
  }
  t.maxActive = Math.max(t.maxActive ?? 0, active);
  t.message = t.status === 'failed' ? `${failed} instance(s) failed for good; no new instances started`
    : `${succeeded}/${n} succeeded, ${active} running (Parallelism=${p})`;
  putIfChanged(prev, t, input.now, out);
}

/** Fires the timer's due event (the latest one when several were missed) as a new instance `tpl@<unix seconds>`. */
function planTimer(input: JobsInput, tpl: UnitRecord, spec: UnitSpec, existing: string[], out: JobsOutput): void {
  const sched = spec.job!.schedule!;
  const prev = input.jobs.get(tpl.name);
  const t: TemplateJob = prev?.kind === 'timer' ? { ...prev }
    : { kind: 'timer', unit: tpl.name, hash: tpl.hash, status: 'scheduled', succeeded: 0, failed: 0, fired: 0, skipped: 0, lastEvent: input.now, createdAt: input.now, updatedAt: input.now, message: 'armed' };
  t.hash = tpl.hash;
  t.schedule = sched.expr;
  const runs = existing.filter((n) => /^\d+$/.test(parseUnitName(n).instance ?? '')).sort((a, b) => instanceTime(a) - instanceTime(b));
  const unfinished = runs.filter((n) => { const j = input.jobs.get(n); return !(j?.kind === 'run' && jobFinished(j)); });
  let next = nextElapse(sched.spec, t.lastEvent ?? input.now);
  if (next !== null && next <= input.now) {
    let ev = next;
    for (let i = 0; i < MAX_MISSED; i++) {
      const n = nextElapse(sched.spec, ev);
      if (n === null || n > input.now) break;
      ev = n;
    }
    const missed = ev !== next ? ` (latest of several missed events since ${new Date(next).toISOString()})` : '';
    const name = instanceName(tpl.name, String(Math.floor(ev / 1000)));
    if (spec.job!.concurrency === 'forbid' && unfinished.length > 0) {
      t.skipped = (t.skipped ?? 0) + 1;
      t.message = `event ${new Date(ev).toISOString()} skipped: ${unfinished.join(', ')} still running (ConcurrencyPolicy=forbid)`;
    } else {
      if (spec.job!.concurrency === 'replace') for (const u of unfinished) out.changes.push({ kind: 'delete-unit', unit: u });
      if (!input.units.has(name)) out.changes.push({ kind: 'put-unit', record: { name, text: tpl.text, hash: tpl.hash }, desired: 'launched' });
      t.fired = (t.fired ?? 0) + 1;
      t.message = `event ${new Date(ev).toISOString()} fired: ${name}${missed}${spec.job!.concurrency === 'replace' && unfinished.length ? `, replacing ${unfinished.join(', ')}` : ''}`;
    }
    t.lastEvent = ev;
    next = nextElapse(sched.spec, ev);
  }
  t.nextEvent = next;
  let succeeded = 0;
  let failed = 0;
  for (const n of runs) {
    const j = input.jobs.get(n);
    if (j?.kind === 'run' && j.status === 'succeeded') succeeded++;
    if (j?.kind === 'run' && j.status === 'failed') failed++;
  }
  t.succeeded = succeeded;
  t.failed = failed;
  // history: the newest finished instances stay (their records and journals), older ones go
  const finished = runs.filter((n) => !unfinished.includes(n));
  for (const n of finished.slice(0, Math.max(0, finished.length - TIMER_HISTORY))) out.changes.push({ kind: 'delete-unit', unit: n });
  out.active = true;
  if (next !== null) out.dueAt = Math.min(out.dueAt, next);
  putIfChanged(prev, t, input.now, out);
}

function putIfChanged(prev: JobRecord | undefined, t: TemplateJob, now: number, out: JobsOutput): void {
  if (prev && JSON.stringify({ ...prev, updatedAt: 0 }) === JSON.stringify({ ...t, updatedAt: 0 })) return;
  t.updatedAt = now;
  out.changes.push({ kind: 'put-job', job: t });
}

function instanceTime(name: string): number {
  return Number(parseUnitName(name).instance ?? 0);
}

function safeName(name: string) {
  try { return parseUnitName(name); } catch { return null; }
}

/** A batch job's record as shown to users (a run job, or a template's). */
export type { Job, JobRecord, TemplateJob };
