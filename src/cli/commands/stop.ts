/** `shoalctl stop UNIT...`: Stop units (they stay loaded on their machines) */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addBlockOptions } from '../client-block';
import { runTransition, transitionHelp, type Transition, type TransitionFlags } from '../client-transition';

const TRANSITION: Transition = { target: 'loaded', goal: 'stopped', acceptFiles: false, skip: (d) => (d === 'inactive' ? 'is not loaded' : undefined) };

/** Adds `stop` to the program. */
export function registerStop(program: Command, io: CliIO): void {
  const cmd = program
    .command('stop')
    .description('Stop units (they stay loaded on their machines)')
    .argument('<unit...>', 'unit names');
  if (TRANSITION.acceptFiles) cmd.option('--replace', 'replace stored units whose file differs');
  addBlockOptions(cmd);
  transitionHelp(cmd, `  shoalctl stop web.service
  shoalctl stop --no-block web@1.service web@2.service`);
  cmd.action(async (units: string[], opts: TransitionFlags, c: Command) => {
    await withClient(c, io, (client) => runTransition(client, io, units, TRANSITION, opts, 'stop'));
  });
}
