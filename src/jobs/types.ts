/** The records of batch units, their completions and timers as stored at `jobs/<unit>` (docs/jobs.md). Pure data. */

/** Where one batch job is. */
export type JobStatus = 'pending' | 'running' | 'retrying' | 'succeeded' | 'failed';

/** How one run ended: exit 0 = succeeded; `lost` = its machine died or it was moved (not counted against BackoffLimit). */
export type RunOutcome = 'succeeded' | 'failed' | 'lost';

/** One run of a batch unit on one machine. Times in ms since the epoch. */
export interface JobRun {
  machine: string;
  /** When the leader saw it placed. */
  placedAt: number;
  /** systemd's ExecMainStartTimestamp / ExecMainExitTimestamp on the machine (absent until known). */
  startedAt?: number;
  endedAt?: number;
  /** systemd's Result= (success, exit-code, signal, timeout, ...). */
  result?: string;
  /** Exit status (ExecMainStatus) when the main process exited; the signal number when it was killed. */
  exitStatus?: number;
  /** exited | killed | dumped (ExecMainCode). */
  exitCode?: string;
  outcome?: RunOutcome;
}

/** A batch unit's job (Kind=batch, a single unit or an instance of a Completions=/Schedule= template). */
export interface Job {
  kind: 'run';
  unit: string;
  /** The unit version this job runs: a new version (submit --replace) is a new job. */
  hash: string;
  status: JobStatus;
  /** Runs so far, oldest first (the last RUNS_KEPT). */
  runs: JobRun[];
  /** Failed runs so far (lost runs do not count). */
  failures: number;
  backoffLimit: number;
  /** While retrying: when the next run may be placed (ms since the epoch). */
  retryAt?: number;
  /** Machines where a run failed: the next run prefers the others. */
  avoid: string[];
  createdAt: number;
  updatedAt: number;
  /** What happened last, in words. */
  message: string;
}

/** A template's job: Completions= instances, or a Schedule= timer. */
export interface TemplateJob {
  kind: 'completions' | 'timer';
  unit: string;
  hash: string;
  /** completions: running until every instance succeeded (or one failed for good); timer: `scheduled`. */
  status: 'running' | 'succeeded' | 'failed' | 'scheduled';
  completions?: number;
  parallelism?: number;
  succeeded: number;
  failed: number;
  /** Most instances seen unfinished at once (≤ Parallelism; shown by the scenarios). */
  maxActive?: number;
  /** timer: the schedule, the last event fired (or skipped) and the next one, ms since the epoch. */
  schedule?: string;
  lastEvent?: number;
  nextEvent?: number | null;
  fired?: number;
  skipped?: number;
  createdAt: number;
  updatedAt: number;
  message: string;
}

/** What `jobs/<unit>` holds. */
export type JobRecord = Job | TemplateJob;

/** Runs kept in a job record. */
export const RUNS_KEPT = 10;
/** Finished instances of a timer kept (older ones are deleted with their records), as Kubernetes' history limits. */
export const TIMER_HISTORY = 5;

/** True once a batch job will not run again. */
export function jobFinished(j: Job): boolean {
  return j.status === 'succeeded' || j.status === 'failed';
}

/** Delay before retry `failures` (1-based), ms: 2 s doubling, at most 5 min (Kubernetes: 10 s doubling to 6 min). */
export function retryDelayMs(failures: number): number {
  return Math.min(2000 * 2 ** Math.max(0, failures - 1), 300_000);
}

/**
 * A run job's progress in one cell: `run 2, 1 failed, BackoffLimit=3`. BackoffLimit counts retries
 * (Kubernetes' backoffLimit): the job fails at BackoffLimit + 1 failed runs, so "failures/limit" misread.
 */
export function runProgress(j: { runs: readonly unknown[]; failures: number; backoffLimit: number }): string {
  return `run ${j.runs.length}, ${j.failures} failed, BackoffLimit=${j.backoffLimit}`;
}
