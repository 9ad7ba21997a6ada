/** `shoalctl restart UNIT...`: stop units, wait until they stopped, start them again. */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addBlockOptions } from '../client-block';
import { runTransition, transitionHelp, TRANSITIONS, type TransitionFlags } from '../client-transition';

/** Adds `restart` to the program. */
export function registerRestart(program: Command, io: CliIO): void {
  const cmd = program
    .command('restart')
    .description('Stop units, wait until they are stopped, then start them and wait until they are active')
    .argument('<unit...>', 'unit names');
  addBlockOptions(cmd);
  transitionHelp(cmd, '  shoalctl restart web.service');
  cmd.action(async (units: string[], opts: TransitionFlags, c: Command) => {
    await withClient(c, io, async (client) => {
      await runTransition(client, io, units, { ...TRANSITIONS.stop, skipFrom: undefined }, { ...opts, block: true }, 'stop');
      await runTransition(client, io, units, { ...TRANSITIONS.start, acceptFiles: false }, opts, 'start');
    });
  });
}
