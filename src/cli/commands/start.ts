/** `shoalctl start UNIT...`: Schedule units, load and start them; waits until they are active */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addBlockOptions } from '../client-block';
import { runTransition, transitionHelp, type Transition, type TransitionFlags } from '../client-transition';

const TRANSITION: Transition = { target: 'launched', goal: 'launched', acceptFiles: true };

/** Adds `start` to the program. */
export function registerStart(program: Command, io: CliIO): void {
  const cmd = program
    .command('start')
    .description('Schedule units, load and start them; waits until they are active')
    .argument('<unit...>', 'unit names, or unit files (submitted first); instances of a submitted template are created');
  if (TRANSITION.acceptFiles) cmd.option('--replace', 'replace stored units whose file differs');
  addBlockOptions(cmd);
  transitionHelp(cmd, `  shoalctl start web.service
  shoalctl start web@{1..3}.service            # three instances of the submitted template web@.service
  shoalctl start --replace ./web.service       # submit a changed file and start it
  shoalctl start --no-block web.service`);
  cmd.action(async (units: string[], opts: TransitionFlags, c: Command) => {
    await withClient(c, io, (client) => runTransition(client, io, units, TRANSITION, opts, 'start'));
  });
}
