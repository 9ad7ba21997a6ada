/** `shoalctl promote UNIT`: release a deployment paused after its canaries. */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';

/** Adds `promote` to the program. */
export function registerPromote(program: Command, io: CliIO): void {
  program
    .command('promote')
    .description('Let a deployment continue past its canary instances (Canary=K)')
    .argument('<unit>', 'the group template or unit being deployed')
    .addHelpText('after', `
Examples:
  shoalctl promote web@.service`)
    .action(async (unit: string, _o: unknown, c: Command) => {
      const id = await withClient(c, io, (client) => client.promote(unit));
      io.stdout.write(`Promoted deployment ${id} of ${unit}\n`);
    });
}
