/** `shoalctl cat UNIT`: print a submitted unit file exactly as stored. */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';

/** Adds `cat` to the program. */
export function registerCat(program: Command, io: CliIO): void {
  program
    .command('cat')
    .description('Print the unit file of a submitted unit, as stored in the cluster')
    .argument('<unit>', 'unit name')
    .addHelpText('after', '\nExamples:\n  shoalctl cat web.service\n  shoalctl cat web@.service')
    .action(async (unit: string, _opts: unknown, c: Command) => {
      const info = await withClient(c, io, (client) => client.getUnit(unit));
      // the exact bytes etcd holds: `cat X > f; submit --replace f` must be a no-op
      io.stdout.write(info.text);
    });
}
