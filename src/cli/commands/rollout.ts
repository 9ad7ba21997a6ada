/** `shoalctl rollout status UNIT`: follow a unit's deployment until it ends; exit 0 when it succeeded. */
import type { Command } from 'commander';
import type { DeploymentMsg } from '../../api/messages';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { CliError, EXIT_FAILURE } from '../cli-error';

const FINISHED = new Set(['succeeded', 'failed', 'reverted']);

/** One status line: the version instances move away from, and the one they move to (back to `from` while reverting). */
export function line(d: DeploymentMsg): string {
  const away = d.target === d.toHash ? d.fromHash : d.toHash;
  return `${d.unit} ${away.slice(0, 7) || '-'} -> ${d.target.slice(0, 7)}: ${d.status}, step ${d.step}/${d.steps}, ${d.healthy}/${d.total} healthy${d.message ? ` (${d.message})` : ''}`;
}

/** Adds `rollout status` to the program. */
export function registerRollout(program: Command, io: CliIO): void {
  const rollout = program.command('rollout').description('Follow rolling updates (see shoalctl deployments)');
  rollout
    .command('status')
    .description("Print a unit's deployment progress until it ends; exit 0 when it succeeded, 1 when it failed or was reverted")
    .argument('<unit>', 'the group template or unit')
    .option('--timeout <seconds>', 'give up after this long (default: wait for the deployment to end)')
    .option('--no-wait', 'print the current progress once, do not wait')
    .addHelpText('after', `
A deployment paused for "shoalctl promote" counts as ongoing.

Examples:
  shoalctl rollout status web@.service
  shoalctl rollout status web@.service --timeout 600`)
    .action(async (unit: string, flags: { timeout?: string; wait?: boolean }, c: Command) => {
      const ms = flags.timeout ? Number(flags.timeout) * 1000 : Infinity;
      await withClient(c, io, async (client) => {
        let last = '';
        /** Reads the deployment once and prints it when it changed; true once it ended. */
        const show = async (): Promise<boolean> => {
          const [d] = await client.listDeployments(unit);
          if (!d) throw new CliError(`${unit} has no deployment`, EXIT_FAILURE);
          const text = line(d);
          if (text !== last) io.stdout.write(`${text}\n`);
          last = text;
          if (FINISHED.has(d.status)) {
            if (d.status !== 'succeeded') throw new CliError(`deployment ${d.id} of ${unit} ${d.status}: ${d.message}`, EXIT_FAILURE);
            return true;
          }
          return false;
        };
        const expired = () => new CliError(`deployment of ${unit} still not finished after ${flags.timeout}s`, EXIT_FAILURE);
        const ctl = new AbortController();
        const timer = Number.isFinite(ms) ? setTimeout(() => ctl.abort(), ms) : undefined;
        try {
          // follow the deployment's events (one stream, read again on each step/status change), not a poll
          const events = client.watchEvents({ unit, kinds: ['deployment.'], follow: true, live: true }, ctl.signal)[Symbol.asyncIterator]();
          const first = events.next(); // the stream is open before the first read: no change falls in between
          first.catch(() => undefined);
          if (await show() || flags.wait === false) return;
          for (let next = first; ; next = events.next()) {
            const r = await next;
            if (r.done) { if (ctl.signal.aborted) throw expired(); throw new CliError(`the event stream of ${unit} ended; run rollout status again`, EXIT_FAILURE); }
            if (await show()) return;
          }
        } finally {
          clearTimeout(timer);
          ctl.abort();
        }
      });
    });
  rollout.commands.forEach((x) => x.exitOverride());
}
