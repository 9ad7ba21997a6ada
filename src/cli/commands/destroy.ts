/** `shoalctl destroy UNIT...`: remove units from the cluster (stopped and unloaded everywhere). */
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addBlockOptions, waitFor, type BlockFlags } from '../client-block';
import { transitionHelp } from '../client-transition';
import { runBatch } from '../client-units';

/** Adds `destroy` to the program. */
export function registerDestroy(program: Command, io: CliIO): void {
  const cmd = program
    .command('destroy')
    .description('Destroy units: stopped, unloaded from every machine and removed from the cluster')
    .argument('<unit...>', 'unit names (a path means its base name), or globs (\'web@*.service\', quoted) over submitted units');
  addBlockOptions(cmd);
  transitionHelp(cmd, "  shoalctl destroy web.service\n  shoalctl destroy web@.service web@1.service web@2.service\n  shoalctl destroy 'web@*.service'              # every instance (never the template)");
  cmd.action(async (units: string[], opts: BlockFlags, c: Command) => {
    const names = [...new Set(units.map((u) => (u.includes('/') ? basename(u) : u)))];
    await withClient(c, io, async (client) => {
      const results = await runBatch(client, io, 'destroy', { action: 'DESTROY', units: names.map((name) => ({ name })) });
      for (const r of results) if (r.outcome === 'not-found') io.stderr.write(`Unit ${r.name} does not exist, nothing to destroy\n`);
      const done = results.filter((r) => r.outcome !== 'not-found').map((r) => r.name);
      if (opts.block !== false) await waitFor(client, io, done, 'unloaded', new Map(), opts);
      for (const n of done) io.stdout.write(`Destroyed ${n}\n`);
    });
  });
}
