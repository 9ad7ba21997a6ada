/** `shoalctl start UNIT...`: Schedule units, load and start them; waits until they are active. */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { registerTransitionCommand } from '../client-transition';

/** Adds `start` to the program. */
export function registerStart(program: Command, io: CliIO): void {
  registerTransitionCommand(program, io, {
    verb: 'start',
    description: 'Schedule units, load and start them; waits until they are active',
    argument: 'unit names, or unit files (submitted first); instances of a submitted template are created',
    examples: `  shoalctl start web.service
  shoalctl start web@{1..3}.service            # three instances of the submitted template web@.service
  shoalctl start --replace ./web.service       # submit a changed file and start it
  shoalctl start --no-block web.service`,
  });
}
