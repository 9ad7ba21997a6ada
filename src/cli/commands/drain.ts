/**
 * `shoalctl cordon`, `drain`, `uncordon`: take a machine out of service and back (docs/operations.md).
 * `drain` cordons the machine, then follows the leader's progress, printing each unit as it moves, until
 * nothing movable is left; exit 1 when units stay because no other machine can run them.
 */
import type { Command } from 'commander';
import type { CordonResponseMsg, DrainStatusMsg } from '../../api/messages';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../cli-error';
import { parseDuration } from '../../units/group-options';

function say(io: CliIO, r: CordonResponseMsg): void {
  io.stdout.write(`${r.message}\n`);
}

/** `--deadline` in ms: a systemd time span (`90s`, `5min`, `1h`) or plain seconds. */
export function deadlineMs(s: string): number {
  let ms: number;
  try { ms = /^\d+$/.test(s) ? Number(s) * 1000 : parseDuration(s); } catch (err) { throw new CliError(`--deadline: ${(err as Error).message}`, EXIT_USAGE); }
  if (!(ms > 0) || ms > 86_400_000) throw new CliError(`--deadline ${JSON.stringify(s)}: expected a time span from 1ms to 24h, such as 90s, 5min or 1h`, EXIT_USAGE);
  return ms;
}

/** The final report of a drain. */
export function drainReport(s: DrainStatusMsg): string {
  const lines = [`machine ${s.machine} drained: ${s.message}`];
  for (const m of s.moved) lines.push(`  moved ${m.unit} -> ${m.to}${m.healthy ? '' : ' (not healthy yet)'}${m.forced ? ' (at the deadline)' : ''}`);
  for (const x of s.stuck) lines.push(`  left  ${x.unit}: no other machine can run it (${x.reason})`);
  return lines.join('\n') + '\n';
}

/** Adds `cordon`, `drain` and `uncordon` to the program. */
export function registerDrain(program: Command, io: CliIO): void {
  program
    .command('cordon')
    .description('Place no new units on a machine (the units it runs stay); list-machines shows it cordoned')
    .argument('<machine>', 'machine id or unique prefix')
    .addHelpText('after', '\nExample:\n  shoalctl cordon 4a2b3c4d')
    .action(async (machine: string, _o: unknown, c: Command) => {
      await withClient(c, io, async (client) => say(io, await client.cordonMachine(machine)));
    });
  program
    .command('uncordon')
    .description('Let a cordoned or drained machine take new units again (units moved away stay where they are)')
    .argument('<machine>', 'machine id or unique prefix')
    .addHelpText('after', '\nExample:\n  shoalctl uncordon 4a2b3c4d')
    .action(async (machine: string, _o: unknown, c: Command) => {
      await withClient(c, io, async (client) => say(io, await client.uncordonMachine(machine)));
    });
  program
    .command('drain')
    .description('Cordon a machine and move its units away, one group step at a time (UpdateParallel, health gates); waits and reports')
    .argument('<machine>', 'machine id or unique prefix')
    .option('--deadline <span>', 'past it, what is left moves at once (default 10min)')
    .option('--no-wait', 'start the drain and return')
    .addHelpText('after', `
Global units stay. A unit no other machine can run stays too, and is reported (exit 1).
A second drain of a draining machine follows the running one.

Examples:
  shoalctl drain 4a2b3c4d
  shoalctl drain 4a2b3c4d --deadline 5min`)
    .action(async (machine: string, flags: { deadline?: string; wait?: boolean }, c: Command) => {
      const ms = flags.deadline ? deadlineMs(flags.deadline) : 0;
      await withClient(c, io, async (client) => {
        const r = await client.drainMachine(machine, ms);
        say(io, r);
        if (flags.wait === false) return;
        const seen = new Set<string>();
        let last = '';
        for (;;) {
          const s = await client.drainStatus(r.machine);
          if (!s.cordoned || s.drainId !== r.drainId) throw new CliError(`the drain of ${r.machine} was ended (uncordoned or started again)`, EXIT_FAILURE);
          for (const m of s.moved) {
            const key = `${m.unit} ${m.to}`;
            if (!seen.has(key)) { seen.add(key); io.stdout.write(`moved ${m.unit} -> ${m.to}\n`); }
          }
          if (s.status === 'done') {
            io.stdout.write(drainReport(s));
            if (s.stuck.length) throw new CliError(`${s.stuck.length} unit(s) left on ${s.machine}: no other machine can run them`, EXIT_FAILURE);
            return;
          }
          if (s.message && s.message !== last) { io.stdout.write(`${s.message}\n`); last = s.message; }
          // the leader moves everything at the deadline; a leaderless cluster is not waited on for ever
          if (s.deadlineAt && Date.now() > s.deadlineAt + 60_000) throw new CliError(`the drain of ${r.machine} is not done a minute past its deadline: is an engine running?`, EXIT_FAILURE);
          await new Promise((res) => setTimeout(res, 500));
        }
      });
    });
}
