/** `shoalctl unload UNIT...`: Stop units and unload them from their machines (they stay submitted). */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { registerTransitionCommand } from '../client-transition';

/** Adds `unload` to the program. */
export function registerUnload(program: Command, io: CliIO): void {
  registerTransitionCommand(program, io, {
    verb: 'unload',
    description: 'Stop units and unload them from their machines (they stay submitted)',
    argument: 'unit names',
    examples: `  shoalctl unload web.service`,
  });
}
