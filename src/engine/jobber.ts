/**
 * The leader's batch-jobs pass (src/jobs/jobs.ts) with its I/O: writes the pass's job records, new instances
 * and deletions in guarded transactions (the same guard as placements: a deposed leader writes nothing) and
 * records them in the model, so the placement pass that follows sees them. A run's success is stored here
 * before the placement pass unschedules the unit, and a new leader reads it before it places anything: a
 * succeeded batch unit is never placed again.
 */
import type { EngineRegistry, LeaderGuard } from '../etcd/registry';
import type { Logger } from '../log';
import { planJobs } from '../jobs/jobs';
import type { Launch } from '../jobs/job';
import type { ClusterModel } from './cluster-model';
import { emitEvent } from '../events/emit';
import type { JobRecord } from '../jobs/types';

/** What a jobs pass did. */
export interface JobsPassResult {
  /** False when etcd refused a write because this engine is no longer leader. */
  leader: boolean;
  /** Batch units → whether the planner keeps them placed, and where not (only when every write went through). */
  launch: Map<string, Launch>;
  /** True while a job is unfinished or a timer armed: pass again soon. */
  active: boolean;
  written: number;
}

/** One per leader term. */
export class Jobber {
  constructor(private readonly registry: EngineRegistry, private readonly log: Logger) {}

  /** One pass at `now` (ms since the epoch). Throws what the registry throws (UnavailableError is retryable). */
  async pass(model: ClusterModel, guard: LeaderGuard, now: number): Promise<JobsPassResult> {
    const reg = this.registry;
    if (!reg.applyUnitChanges) return { leader: true, launch: new Map(), active: false, written: 0 };
    const out = planJobs(model.jobsInput(now));
    if (out.changes.length === 0) return { leader: true, launch: out.launch, active: out.active, written: 0 };
    const res = await reg.applyUnitChanges(guard, out.changes);
    for (const c of out.changes.slice(0, res.applied)) {
      const prev = c.kind === 'put-job' ? model.job(c.job.unit) : undefined;
      model.applyChange(c);
      if (c.kind === 'put-job') {
        this.log.info('job', { unit: c.job.unit, kind: c.job.kind, status: c.job.status, message: c.job.message });
        jobEvent(prev, c.job);
      }
      else this.log.info('job write', { kind: c.kind, unit: c.kind === 'put-unit' ? c.record.name : 'unit' in c ? c.unit : '' });
    }
    // a record not written (etcd refused or failed midway) must not let the planner act on it: no launch changes then
    const complete = res.applied === out.changes.length;
    return { leader: !res.notLeader, launch: complete ? out.launch : freeze(model, out.launch), active: out.active, written: res.applied };
  }
}

/** The cluster event of a stored job change, if it is one users follow (issue 13's events: job.*). */
function jobEvent(prev: JobRecord | undefined, j: JobRecord): void {
  if (j.kind === 'run') {
    if (prev?.status === j.status) return;
    const run = j.runs.at(-1);
    const kind = j.status === 'succeeded' ? 'job.succeeded' : j.status === 'failed' ? 'job.failed' : j.status === 'retrying' ? 'job.retrying' : undefined;
    if (kind) emitEvent({ kind, unit: j.unit, machine: run?.machine, message: j.message, actor: 'engine', fields: { run: String(j.runs.length), failures: String(j.failures) } });
  } else if (j.kind === 'timer' && prev?.kind === 'timer' && (prev.fired !== j.fired || prev.skipped !== j.skipped)) {
    emitEvent({ kind: prev.fired !== j.fired ? 'job.fired' : 'job.skipped', unit: j.unit, message: j.message, actor: 'engine' });
  } else if (j.kind === 'completions' && prev?.status !== j.status && j.status !== 'running') {
    emitEvent({ kind: j.status === 'succeeded' ? 'job.succeeded' : 'job.failed', unit: j.unit, message: j.message, actor: 'engine' });
  }
}

/** Launch decisions when the job writes did not all go through: keep every batch unit where it is this pass. */
function freeze(model: ClusterModel, launch: Map<string, Launch>): Map<string, Launch> {
  const m = new Map<string, Launch>();
  for (const unit of launch.keys()) m.set(unit, { launch: model.schedule.has(unit), avoid: [] });
  return m;
}
