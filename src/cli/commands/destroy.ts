/** `shoalctl destroy UNIT...`: remove units from the cluster (stopped and unloaded everywhere). */
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addBlockOptions, waitFor, type BlockFlags } from '../client-block';
import { transitionHelp } from '../client-transition';

/** Adds `destroy` to the program. */
export function registerDestroy(program: Command, io: CliIO): void {
  const cmd = program
    .command('destroy')
    .description('Destroy units: stopped, unloaded from every machine and removed from the cluster')
    .argument('<unit...>', 'unit names (a path means its base name)');
  addBlockOptions(cmd);
  transitionHelp(cmd, '  shoalctl destroy web.service\n  shoalctl destroy web@.service web@1.service web@2.service');
  cmd.action(async (units: string[], opts: BlockFlags, c: Command) => {
    const names = [...new Set(units.map((u) => (u.includes('/') ? basename(u) : u)))];
    await withClient(c, io, async (client) => {
      for (const n of names) {
        if (!(await client.destroyUnit(n))) io.stderr.write(`Unit ${n} does not exist, nothing to destroy\n`);
      }
      if (opts.block !== false) await waitFor(client, io, names, 'unloaded', new Map(), opts);
      for (const n of names) io.stdout.write(`Destroyed ${n}\n`);
    });
  });
}
