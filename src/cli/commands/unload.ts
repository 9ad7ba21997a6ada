/** `shoalctl unload UNIT...`: Stop units and unload them from their machines (they stay submitted) */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addBlockOptions } from '../client-block';
import { runTransition, transitionHelp, type Transition, type TransitionFlags } from '../client-transition';

const TRANSITION: Transition = { target: 'inactive', goal: 'unloaded', acceptFiles: false };

/** Adds `unload` to the program. */
export function registerUnload(program: Command, io: CliIO): void {
  const cmd = program
    .command('unload')
    .description('Stop units and unload them from their machines (they stay submitted)')
    .argument('<unit...>', 'unit names');
  if (TRANSITION.acceptFiles) cmd.option('--replace', 'replace stored units whose file differs');
  addBlockOptions(cmd);
  transitionHelp(cmd, `  shoalctl unload web.service`);
  cmd.action(async (units: string[], opts: TransitionFlags, c: Command) => {
    await withClient(c, io, (client) => runTransition(client, io, units, TRANSITION, opts, 'unload'));
  });
}
