/**
 * `shoalctl events`: the cluster's events (docs/events.md), stored ones first, then live with -f. With -f
 * a dropped stream (shoald restarted, its machine died, a leader change) is followed again from the last
 * event's etcd revision: nothing lost, nothing printed twice (once one event came: before it, an error exits).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { ClusterEventMsg } from '../../api/messages';
import { CliError, EXIT_USAGE } from '../cli-error';
import type { CliIO } from '../io';
import { connect } from '../client';
import { shortMachine } from '../client-output';

const UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: a duration ago (`90s`, `10m`, `2h`, `1d`), an ISO-8601 time, or ms since the epoch; returns ms
 * since the epoch. Throws CliError (exit 2) naming the value otherwise.
 */
export function parseSince(v: string, now = Date.now()): number {
  const d = /^(\d+(?:\.\d+)?)([smhd])$/.exec(v);
  if (d) return now - Number(d[1]) * UNITS_MS[d[2]];
  if (/^\d{12,}$/.test(v)) return Number(v);
  const t = /^\d{4}-\d\d-\d\d/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new CliError(`--since: ${JSON.stringify(v)} is not a duration (10m, 2h), an ISO time or ms since the epoch`, EXIT_USAGE);
  return t;
}

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`--lines: ${JSON.stringify(v)} is not a whole number >= 0`, EXIT_USAGE);
  return n;
}

/** One event as a line: time, kind, subject, message. */
export function eventLine(e: ClusterEventMsg, full: boolean): string {
  const subject = [e.unit, e.machine ? shortMachine(e.machine, full) : ''].filter(Boolean).join(' @') || '-';
  const extra = e.actor ? ` (by ${e.actor})` : '';
  return `${new Date(Number(e.time)).toISOString()}  ${e.kind.padEnd(19)} ${subject.padEnd(28)} ${e.message ?? ''}${extra}`.trimEnd();
}

/**
 * Where a followed stream stands: the last event's revision and the ids seen at it (one etcd transaction
 * stores several events at one revision). A resumed stream asks for that revision on and skips those ids.
 */
export class EventCursor {
  private revision = 0;
  private ids = new Set<string>();

  /** True when `e` is new (print it); false for one already seen (a resumed stream repeats its revision). */
  accept(e: Pick<ClusterEventMsg, 'id' | 'revision'>): boolean {
    const rev = Number(e.revision);
    if (rev < this.revision || (rev === this.revision && this.ids.has(e.id))) return false;
    if (rev > this.revision) { this.revision = rev; this.ids = new Set(); }
    this.ids.add(e.id);
    return true;
  }

  /** The request fields to resume from here (every event kept from that revision on); none before the first event. */
  resume(): { fromRevision: number; limit: number } | null {
    return this.revision > 0 ? { fromRevision: this.revision, limit: 0 } : null;
  }
}

/** Errors a reconnect cannot fix: bad request, no events store, credentials, roles. */
function permanent(err: unknown): boolean {
  // by name: the classes of src/api/grpc-errors.ts load gRPC, which shoalctl loads only when a verb connects
  return err instanceof CliError || ['ValidationError', 'ConflictError', 'NotFoundError', 'AuthError', 'PermissionError'].includes((err as Error).name);
}

/** Wait before reconnect attempt `n` (1-based), ms: 250 doubling, at most 5 s. */
function reconnectDelayMs(n: number): number {
  return Math.min(250 * 2 ** (n - 1), 5000);
}

/** While following, ping shoald this often (ms): a dead machine's connection fails in ~15 s instead of never. */
const FOLLOW_KEEPALIVE_MS = 10_000;

/** Adds `events` to the program. */
export function registerEvents(program: Command, io: CliIO): void {
  program
    .command('events')
    .description('Print cluster events (units placed/moved/started/failed, machines lost, leader changes, deployments, jobs), oldest first')
    .option('-f, --follow', 'keep printing new events until interrupted')
    .option('--unit <unit>', 'only events about this unit')
    .option('--machine <id>', 'only events about this machine (id or prefix)')
    .option('--since <time>', 'only events at or after: a duration ago (10m, 2h), an ISO time, or ms since the epoch')
    .option('--kind <kind...>', 'only these kinds, or prefixes ending in "." (unit. machine.)')
    .addOption(new Option('-n, --lines <n>', 'stored events shown first, at most (0 = all kept)').default(100).argParser(count))
    .addOption(new Option('-o, --output <format>', 'output format: text, or json (one object per line)').choices(['text', 'json']).default('text'))
    .option('--full', 'show whole machine ids')
    .addHelpText('after', '\nExamples:\n  shoalctl events --since 10m\n  shoalctl events -f --unit web.service\n  shoalctl events -o json --kind machine.')
    .action(async (opts: { follow?: boolean; unit?: string; machine?: string; since?: string; kind?: string[]; lines: number; output: string; full?: boolean }, c: Command) => {
      const since = opts.since === undefined ? undefined : parseSince(opts.since);
      const ctl = new AbortController();
      const stop = () => ctl.abort();
      process.once('SIGINT', stop);
      const print = (e: ClusterEventMsg) => {
        if (opts.output === 'json') {
          const { id, revision, time, kind, unit, machine, message, actor, fields } = e;
          io.stdout.write(JSON.stringify({ time: new Date(Number(time)).toISOString(), kind, unit: unit || undefined, machine: machine || undefined, message: message || undefined, actor: actor || undefined, fields: Object.keys(fields ?? {}).length ? fields : undefined, id, revision: Number(revision) }) + '\n');
        } else {
          io.stdout.write(eventLine(e, !!opts.full) + '\n');
        }
      };
      const req = { unit: opts.unit, machine: opts.machine, since, kinds: opts.kind, follow: !!opts.follow, limit: opts.lines };
      const cursor = new EventCursor();
      const client = connect(c, io, opts.follow ? { keepaliveMs: FOLLOW_KEEPALIVE_MS } : {});
      let failures = 0;
      try {
        for (;;) {
          try {
            for await (const e of client.watchEvents({ ...req, ...cursor.resume() }, ctl.signal)) {
              if (failures) { io.stderr.write('events: following again\n'); failures = 0; }
              if (cursor.accept(e)) print(e);
            }
            if (!opts.follow || ctl.signal.aborted) return;
            // a followed stream never ends by itself: shoald closed it (stopping); follow it again
            throw new Error('shoald ended the stream');
          } catch (err) {
            // before the first event nothing says shoald was ever reached: say so (exit 1) rather than wait
            if (!opts.follow || ctl.signal.aborted || permanent(err) || !cursor.resume()) throw err;
            failures++;
            if (failures === 1) io.stderr.write(`events: stream lost (${(err as Error).message}); following again from the last event\n`);
          }
          await new Promise<void>((r) => {
            const tm = setTimeout(r, reconnectDelayMs(failures));
            ctl.signal.addEventListener('abort', () => { clearTimeout(tm); r(); }, { once: true });
          });
          if (ctl.signal.aborted) return;
        }
      } finally {
        client.close();
        process.removeListener('SIGINT', stop);
      }
    });
}
