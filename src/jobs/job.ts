/**
 * The state machine of one batch job (a Kind=batch unit): pending → running → succeeded, or → retrying →
 * pending … → failed after BackoffLimit failed runs. Pure: the leader calls `stepJob` every pass with what it
 * sees (placement, reported states, live machines) and stores the job when it changed; the returned `launch`
 * tells the planner whether the unit should be placed now (and where not). A run's end is read from the
 * state its agent reports (`exit`: systemd's Result, ExecMainCode, ExecMainStatus), so a unit stopped by
 * anyone (SIGTERM: killed) never counts as succeeded; only exit status 0 of a main process that exited does.
 */
import type { UnitExit, UnitStateRecord } from '../etcd/registry';
import { jobFinished, retryDelayMs, RUNS_KEPT, type Job, type JobRun } from './types';

/** What the leader sees of one batch unit. Times in ms since the epoch. */
export interface JobView {
  unit: string;
  hash: string;
  backoffLimit: number;
  /** The machine the schedule places it on (undefined: not placed). */
  placed?: string;
  /** Reported states of the unit, by machine. */
  states?: ReadonlyMap<string, UnitStateRecord>;
  /** Live machines that take new units (not leaving). */
  live: ReadonlySet<string>;
  now: number;
}

/** What the planner should do with the unit now. */
export interface Launch {
  /** True: keep it placed (or place it). False: unschedule it (finished, or waiting for a retry). */
  launch: boolean;
  /** Machines it must not be placed on (earlier failed runs, machines where an older run is still loaded). */
  avoid: string[];
}

/** The result of one step: the job (a new object when changed) and the launch decision. */
export interface JobStep extends Launch {
  job: Job;
  changed: boolean;
}

/** A new job for `unit` at `hash`. */
export function newJob(unit: string, hash: string, backoffLimit: number, now: number): Job {
  return { kind: 'run', unit, hash, status: 'pending', runs: [], failures: 0, backoffLimit, avoid: [], createdAt: now, updatedAt: now, message: 'waiting to be placed' };
}

/** True when `exit` is a run that ended on its own with exit status 0. */
export function exitSucceeded(exit: UnitExit): boolean {
  return exit.result === 'success' && exit.code === 'exited' && exit.status === 0;
}

/** One step. `job` null (or of another hash: the unit was replaced) starts a new job. Deterministic. */
export function stepJob(job: Job | null, v: JobView): JobStep {
  const j: Job = job && job.hash === v.hash ? { ...job, runs: job.runs.map((r) => ({ ...r })), avoid: [...job.avoid] } : newJob(v.unit, v.hash, v.backoffLimit, v.now);
  j.backoffLimit = v.backoffLimit;
  const done = (launch: Launch): JobStep => {
    const changed = !job || job.hash !== v.hash || JSON.stringify(j) !== JSON.stringify(job);
    if (changed) j.updatedAt = v.now;
    return { job: changed ? j : job, changed, ...launch };
  };
  if (jobFinished(j)) return done({ launch: false, avoid: [] });
  if (j.status === 'retrying') {
    if (v.now < (j.retryAt ?? 0)) return done({ launch: false, avoid: [] });
    j.status = 'pending';
    delete j.retryAt;
    j.message = `retry ${j.failures} of ${j.backoffLimit}: waiting to be placed`;
  }
  for (let pass = 0; pass < 2; pass++) {
    const open = openRun(j);
    if (open) {
      if (v.placed !== open.machine) {
        // the planner moved or unscheduled it: its machine is gone (a run killed by a move is lost too)
        open.outcome = 'lost';
        open.endedAt = v.now;
        j.status = 'pending';
        j.message = `run on ${short(open.machine)} lost (${v.live.has(open.machine) ? 'moved away' : 'machine gone'}); running it again`;
        continue;
      }
      const st = v.states?.get(open.machine);
      if (!st?.exit || (st.activeState !== 'inactive' && st.activeState !== 'failed')) {
        // running: stays where it is; should its machine die, the planner moves it where runs did not fail
        return done({ launch: true, avoid: whereNext(j, v).avoid.filter((m) => m !== open.machine) });
      }
      const x = st.exit;
      Object.assign(open, { startedAt: x.startMs, endedAt: x.endMs, result: x.result, exitStatus: x.status, exitCode: x.code });
      if (exitSucceeded(x)) {
        open.outcome = 'succeeded';
        j.status = 'succeeded';
        j.message = `succeeded on ${short(open.machine)} (run ${j.runs.length})`;
        return done({ launch: false, avoid: [] });
      }
      open.outcome = 'failed';
      j.failures++;
      if (!j.avoid.includes(open.machine)) j.avoid.push(open.machine);
      const why = x.code === 'exited' ? `exit status ${x.status}` : `${x.result}${x.code === 'killed' || x.code === 'dumped' ? ` (signal ${x.status})` : ''}`;
      if (j.failures > j.backoffLimit) {
        j.status = 'failed';
        j.message = `failed on ${short(open.machine)}: ${why}; BackoffLimit=${j.backoffLimit} reached after ${j.failures} failed runs`;
      } else {
        j.status = 'retrying';
        j.retryAt = v.now + retryDelayMs(j.failures);
        j.message = `failed on ${short(open.machine)}: ${why}; retry ${j.failures} of ${j.backoffLimit} in ${Math.round(retryDelayMs(j.failures) / 1000)} s`;
      }
      return done({ launch: false, avoid: [] });
    }
    if (v.placed !== undefined) {
      // placed by the planner after the previous pass said launch: this is a new run
      j.runs.push({ machine: v.placed, placedAt: v.now });
      if (j.runs.length > RUNS_KEPT) j.runs.splice(0, j.runs.length - RUNS_KEPT);
      j.status = 'running';
      j.message = `running on ${short(v.placed)} (run ${j.runs.length}${j.failures ? `, after ${j.failures} failed` : ''})`;
      continue;
    }
    break;
  }
  return done(whereNext(j, v));
}

/** The run not yet ended, if any (always the last one). */
function openRun(j: Job): JobRun | undefined {
  const r = j.runs.at(-1);
  return r && r.outcome === undefined ? r : undefined;
}

/**
 * Where the next run may go: never where an older run is still loaded (its agent would take the new placement
 * for the old, finished one), preferably not where runs failed. No machine at all: wait (launch false).
 */
function whereNext(j: Job, v: JobView): Launch {
  const lingering = [...(v.states?.keys() ?? [])].filter((m) => m !== v.placed).sort();
  const failed = j.avoid.filter((m) => v.live.has(m) && !lingering.includes(m));
  const free = [...v.live].filter((m) => !lingering.includes(m));
  if (free.length === 0) return { launch: false, avoid: [] };
  if (free.some((m) => !failed.includes(m))) return { launch: true, avoid: [...lingering, ...failed].sort() };
  // every free machine saw a run fail: at least not the last one's, when another is free
  const last = [...j.runs].reverse().find((r) => r.outcome === 'failed')?.machine;
  if (last && free.some((m) => m !== last) && free.includes(last)) return { launch: true, avoid: [...lingering, last].sort() };
  return { launch: true, avoid: lingering };
}

function short(machine: string): string {
  return machine.slice(0, 12);
}
