/** `shoalctl load UNIT...`: Schedule units on machines and load them into systemd, without starting them. */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { registerTransitionCommand } from '../client-transition';

/** Adds `load` to the program. */
export function registerLoad(program: Command, io: CliIO): void {
  registerTransitionCommand(program, io, {
    verb: 'load',
    description: 'Schedule units on machines and load them into systemd, without starting them',
    argument: 'unit names, or unit files (submitted first)',
    examples: `  shoalctl load web.service
  shoalctl load ./units/web.service            # submits the file first`,
  });
}
