/** `shoalctl version`: prints the client version. */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { VERSION } from '../../version';

/** Adds `version` to the program. */
export function registerVersion(program: Command, io: CliIO): void {
  program.version(VERSION, '-v, --version', 'print the shoalctl version');
  program
    .command('version')
    .description('Print the shoalctl version')
    .addHelpText('after', '\nExample:\n  shoalctl version\n')
    .action(() => {
      io.stdout.write(`shoalctl version ${VERSION}\n`);
    });
}
