/** `shoalctl verify FILE...`: parse and validate unit files locally, changing nothing anywhere. */
import type { Command } from 'commander';
import { CliError, EXIT_FAILURE } from '../cli-error';
import type { CliIO } from '../io';
import { readUnitFileArg } from '../unit-files';
import { ShoalError } from '../../errors';

/** Adds `verify` to the program. */
export function registerVerify(program: Command, io: CliIO): void {
  program
    .command('verify')
    .description('Check unit files: name, syntax, [X-Fleet]/[X-Shoal]/[X-Container] options. Changes nothing.')
    .argument('<file...>', 'unit files; each file\'s name is its unit name')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `
Examples:
  shoalctl verify web.service
  shoalctl verify units-examples/*

Exit status: 0 when every file is valid, 1 when any is not. Every problem is printed, as file:line: key: message,
including a service systemd would refuse to load (no ExecStart=) and a misspelt section ([Servce]: did you mean
[Service]?). A key near a common systemd key (ExecStrat=: did you mean ExecStart?) is a warning, as systemd only
warns and ignores it; warnings do not change the exit status. submit, load and start refuse what verify refuses.`)
    .action((files: string[], opts: { quiet?: boolean }) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { checkUnit } = require('../../units/unit-check') as typeof import('../../units/unit-check'); // loaded only for verify
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { formatWarning } = require('../../units/systemd-sections') as typeof import('../../units/systemd-sections');
      let bad = 0;
      for (const path of files) {
        try {
          const arg = readUnitFileArg(path, io.cwd);
          const { spec, problems, warnings } = checkUnit(arg.name, arg.text, { file: arg.file });
          if (!opts.quiet) for (const w of warnings) io.stderr.write(`${formatWarning(w, path)}\n`);
          if (problems.length === 0 && spec) {
            if (!opts.quiet) io.stdout.write(`${path}: ok (${spec.name}, hash ${spec.hash.slice(0, 7)})\n`);
            continue;
          }
          bad++;
          for (const p of problems) io.stderr.write(`${p.message.startsWith(path) ? p.message : `${path}: ${p.message}`}\n`);
        } catch (err) {
          if (!(err instanceof CliError) && !(err instanceof ShoalError)) throw err;
          bad++;
          io.stderr.write(`${err instanceof CliError ? err.message : err.message.startsWith(path) ? err.message : `${path}: ${err.message}`}\n`);
        }
      }
      if (bad > 0) throw new CliError(`${bad} of ${files.length} unit file(s) invalid`, EXIT_FAILURE);
    });
}
