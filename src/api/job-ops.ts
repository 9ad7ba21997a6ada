/** `shoalctl jobs`: batch job records (written by the leader, src/jobs) as API messages. */
import { parseUnitName } from '../units';
import type { JobRecord } from '../jobs/types';
import type { JobReader } from '../etcd/registry';
import type { JobMsg } from './messages';

/** A stored job record as a message (absent fields are 0 or ''). */
export function jobMsg(j: JobRecord): JobMsg {
  const base: JobMsg = {
    unit: j.unit, kind: j.kind, hash: j.hash, status: j.status, runs: [], failures: 0, backoffLimit: 0, retryAt: 0, completions: 0,
    parallelism: 0, succeeded: 0, failed: 0, maxActive: 0, schedule: '', lastEvent: 0, nextEvent: 0, fired: 0, skipped: 0,
    createdAt: j.createdAt, updatedAt: j.updatedAt, message: j.message,
  };
  if (j.kind === 'run') {
    return {
      ...base, failures: j.failures, backoffLimit: j.backoffLimit, retryAt: j.retryAt ?? 0,
      runs: j.runs.map((r) => ({
        machine: r.machine, placedAt: r.placedAt, startedAt: r.startedAt ?? 0, endedAt: r.endedAt ?? 0, result: r.result ?? '',
        exitStatus: r.exitStatus ?? 0, exitCode: r.exitCode ?? '', outcome: r.outcome ?? '',
      })),
    };
  }
  return {
    ...base, completions: j.completions ?? 0, parallelism: j.parallelism ?? 0, succeeded: j.succeeded, failed: j.failed, maxActive: j.maxActive ?? 0,
    schedule: j.schedule ?? '', lastEvent: j.lastEvent ?? 0, nextEvent: j.nextEvent ?? 0, fired: j.fired ?? 0, skipped: j.skipped ?? 0,
  };
}

/**
 * Every job (or those of `name`: the unit itself, and for a template also its instances' jobs), sorted by unit.
 * Throws ValidationError for a bad unit name.
 */
export async function listJobs(reg: JobReader, name: string): Promise<JobMsg[]> {
  const n = name ? parseUnitName(name) : null;
  return (await reg.listJobs())
    .filter((j) => !n || j.unit === name || (n.isTemplate && safeTemplate(j.unit) === name))
    .sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0))
    .map(jobMsg);
}

function safeTemplate(unit: string): string | undefined {
  try { return parseUnitName(unit).template; } catch { return undefined; }
}
