/** `shoalctl rollback UNIT [--to HASH]`: store an older version again (a running group rolls to it). */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';

/** Adds `rollback` to the program. */
export function registerRollback(program: Command, io: CliIO): void {
  program
    .command('rollback')
    .description('Submit an older stored version of a unit again (the previous one, or --to HASH); a running group rolls to it')
    .argument('<unit>', 'unit or template name')
    .option('--to <hash>', 'a stored version (hash or a prefix of at least 4 characters; see shoalctl history)')
    .addHelpText('after', `
Examples:
  shoalctl rollback web@.service
  shoalctl rollback web@.service --to 3f2a9c1`)
    .action(async (unit: string, flags: { to?: string }, c: Command) => {
      const r = await withClient(c, io, (client) => client.rollback(unit, flags.to ?? ''));
      if (r.from === r.to) io.stdout.write(`${unit} is already at ${r.to.slice(0, 7)}\n`);
      else io.stdout.write(`Rolled ${unit} back from ${r.from.slice(0, 7)} to ${r.to.slice(0, 7)}\n`);
    });
}
