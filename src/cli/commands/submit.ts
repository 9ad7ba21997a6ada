/** `shoalctl submit FILE...`: store unit files in the cluster without scheduling them. */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { submitFiles } from '../client-units';
import { readUnitFileArg } from '../unit-files';

/** Adds `submit` to the program. */
export function registerSubmit(program: Command, io: CliIO): void {
  program
    .command('submit')
    .description('Upload unit files to the cluster (desired state inactive: not scheduled)')
    .argument('<file...>', 'unit files; each file\'s base name is its unit name')
    .option('--replace', 'replace a stored unit whose body differs')
    .addHelpText('after', `
Examples:
  shoalctl submit web.service
  shoalctl submit --replace web.service        # change a unit that was submitted before
  shoalctl submit web@.service                  # a template: start web@1.service to run an instance

Every file is checked first as verify checks it (a service systemd would refuse, a misspelt section or
[X-Fleet] key: file:line: [Section] Key: what is wrong; near misses of systemd keys are warnings), and again
by shoald. All files go in one batch: a missing or invalid file changes nothing.

Exit status: 0 on success; 1 when a file is missing or invalid, or differs from the stored unit without --replace.`)
    .action(async (files: string[], opts: { replace?: boolean }, cmd: Command) => {
      const read = files.map((f) => readUnitFileArg(f, io.cwd)); // every file readable before anything is sent
      await withClient(cmd, io, async (c) => {
        for (const r of await submitFiles(c, io, read, !!opts.replace)) {
          io.stdout.write(`Unit ${r.name} ${r.outcome === 'created' ? 'inactive' : r.outcome}\n`);
        }
      });
    });
}
