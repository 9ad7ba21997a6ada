/** `shoalctl stop UNIT...`: Stop units (they stay loaded on their machines). */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { registerTransitionCommand } from '../client-transition';

/** Adds `stop` to the program. */
export function registerStop(program: Command, io: CliIO): void {
  registerTransitionCommand(program, io, {
    verb: 'stop',
    description: 'Stop units (they stay loaded on their machines)',
    argument: 'unit names',
    examples: `  shoalctl stop web.service
  shoalctl stop --no-block web@1.service web@2.service`,
  });
}
