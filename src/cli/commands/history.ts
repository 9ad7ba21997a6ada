/** `shoalctl history UNIT`: the stored versions of a unit (the last 10 submitted bodies). */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { renderTable } from '../table';

/** Adds `history` to the program. */
export function registerHistory(program: Command, io: CliIO): void {
  program
    .command('history')
    .description('List the stored versions of a unit, oldest first (every submit --replace keeps the last 10)')
    .argument('<unit>', 'unit or template name')
    .option('-l, --full', 'do not shorten hashes')
    .addHelpText('after', `
Examples:
  shoalctl history web@.service
  shoalctl rollback web@.service --to 3f2a9c1`)
    .action(async (unit: string, flags: { full?: boolean }, c: Command) => {
      const versions = await withClient(c, io, (client) => client.unitHistory(unit));
      const rows = versions.map((v, i) => [String(i + 1), flags.full ? v.hash : v.hash.slice(0, 7), v.time ? new Date(v.time).toISOString() : '-', v.current ? 'current' : '']);
      io.stdout.write(renderTable(['VERSION', 'HASH', 'SUBMITTED', ''], rows, {}));
    });
}
