/** `shoalctl load UNIT...`: Schedule units on machines and load them into systemd, without starting them */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addBlockOptions } from '../client-block';
import { runTransition, transitionHelp, type Transition, type TransitionFlags } from '../client-transition';

const TRANSITION: Transition = { target: 'loaded', goal: 'loaded', acceptFiles: true, skip: (d) => (d === 'launched' ? 'is launched (stop it to only load it)' : undefined) };

/** Adds `load` to the program. */
export function registerLoad(program: Command, io: CliIO): void {
  const cmd = program
    .command('load')
    .description('Schedule units on machines and load them into systemd, without starting them')
    .argument('<unit...>', 'unit names, or unit files (submitted first)');
  if (TRANSITION.acceptFiles) cmd.option('--replace', 'replace stored units whose file differs');
  addBlockOptions(cmd);
  transitionHelp(cmd, `  shoalctl load web.service
  shoalctl load ./units/web.service            # submits the file first`);
  cmd.action(async (units: string[], opts: TransitionFlags, c: Command) => {
    await withClient(c, io, (client) => runTransition(client, io, units, TRANSITION, opts, 'load'));
  });
}
