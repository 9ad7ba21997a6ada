/** `shoalctl jobs [UNIT]`: batch units, Completions= templates and Schedule= timers, with their progress (docs/jobs.md). */
import type { Command } from 'commander';
import type { JobMsg, JobRunMsg } from '../../api/messages';
import type { CliIO } from '../io';
import { runProgress } from '../../jobs/types';
import { withClient } from '../client';
import { addListingOptions, printListing, shortMachine, type Columns, type ListingFlags } from '../client-output';

/** A time as `HH:MM:SS` (UTC), '-' when unknown. */
function clock(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString().slice(11, 19) : '-';
}

function exitOf(r: JobRunMsg | undefined): string {
  if (!r || !r.result) return '-';
  if (r.exitCode === 'exited') return `status=${r.exitStatus}`;
  return `${r.result}${r.exitCode ? ` (${r.exitCode} ${r.exitStatus})` : ''}`;
}

/** done/running/failed/retrying in one cell. */
function progress(j: JobMsg): string {
  if (j.kind === 'completions') return `${j.succeeded}/${j.completions} done, parallelism ${j.parallelism}${j.failed ? `, ${j.failed} failed` : ''}`;
  if (j.kind === 'timer') return `${j.fired} fired, ${j.skipped} skipped; kept: ${j.succeeded} done, ${j.failed} failed`;
  return runProgress(j);
}

const COLUMNS: Columns<JobMsg> = {
  unit: (j) => j.unit,
  kind: (j) => j.kind,
  status: (j) => j.status,
  progress,
  machine: (j, full) => (j.runs.length ? shortMachine(j.runs.at(-1)!.machine, full) : '-'),
  exit: (j) => exitOf(j.runs.at(-1)),
  schedule: (j) => j.schedule || '-',
  next: (j) => (j.kind === 'timer' ? clock(j.nextEvent) : j.status === 'retrying' ? clock(j.retryAt) : '-'),
  hash: (j, full) => (full ? j.hash : j.hash.slice(0, 7)),
  message: (j) => j.message,
};
const DEFAULTS = ['unit', 'kind', 'status', 'progress', 'machine', 'exit', 'message'];

/** Adds `jobs` to the program. */
export function registerJobs(program: Command, io: CliIO): void {
  const cmd = program
    .command('jobs')
    .description('List batch jobs (Kind=batch units, Completions= and Schedule= templates) and their progress')
    .argument('[unit]', 'only this unit (a template also shows its instances)')
    .option('--runs', 'one row per run instead: machine, start, end, exit, outcome (the timeline)');
  addListingOptions(cmd, Object.keys(COLUMNS), DEFAULTS)
    .addHelpText('after', `
Statuses: pending, running, retrying (failed; next run at NEXT), succeeded, failed (BackoffLimit reached);
a Completions= template is running/succeeded/failed, a Schedule= template scheduled.

Examples:
  shoalctl jobs
  shoalctl jobs report.service --runs
  shoalctl jobs shard@.service -o json`)
    .action(async (unit: string | undefined, flags: ListingFlags & { runs?: boolean }, c: Command) => {
      const rows = await withClient(c, io, (client) => client.listJobs(unit ?? ''));
      if (!flags.runs) {
        printListing(io, flags, COLUMNS, DEFAULTS, rows, (j) => j);
        return;
      }
      const runs = rows.flatMap((j) => j.runs.map((r, i) => ({ unit: j.unit, run: i + 1, ...r })));
      runs.sort((a, b) => (a.startedAt || a.placedAt) - (b.startedAt || b.placedAt) || (a.unit < b.unit ? -1 : 1));
      type Row = (typeof runs)[number];
      const cols: Columns<Row> = {
        unit: (r) => r.unit, run: (r) => String(r.run), machine: (r, full) => shortMachine(r.machine, full),
        start: (r) => clock(r.startedAt || r.placedAt), end: (r) => clock(r.endedAt), exit: (r) => exitOf(r), outcome: (r) => r.outcome || 'running',
      };
      printListing(io, { ...flags, fields: undefined }, cols, Object.keys(cols), runs, (r) => r);
    });
}
