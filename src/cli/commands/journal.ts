/** `shoalctl journal UNIT`: the unit's journal, streamed from the machine that runs it (no SSH). */
import type { Command } from 'commander';
import { Option } from 'commander';
import { CliError, EXIT_USAGE } from '../cli-error';
import type { CliIO } from '../io';
import { withClient } from '../client';

function lines(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`--lines: ${JSON.stringify(v)} is not a whole number >= 0`, EXIT_USAGE);
  return n;
}

/** Adds `journal` to the program. */
export function registerJournal(program: Command, io: CliIO): void {
  program
    .command('journal')
    .description('Print the journal of a unit from the machine that runs it (journalctl -u UNIT -o short-iso)')
    .argument('<unit>', 'unit name')
    .addOption(new Option('-n, --lines <n>', 'number of most recent lines').default(10).argParser(lines))
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--machine <id>', 'the machine (id or unique prefix), for units on several machines')
    .addHelpText('after', '\nExamples:\n  shoalctl journal web.service\n  shoalctl journal -n 100 -f web.service')
    .action(async (unit: string, opts: { lines: number; follow?: boolean; machine?: string }, c: Command) => {
      const ctl = new AbortController();
      const stop = () => ctl.abort();
      process.once('SIGINT', stop);
      try {
        await withClient(c, io, async (client) => {
          for await (const chunk of client.journal(unit, { lines: opts.lines, follow: !!opts.follow, machine: opts.machine, signal: ctl.signal })) {
            io.stdout.write(chunk);
          }
        });
      } finally {
        process.removeListener('SIGINT', stop);
      }
    });
}
