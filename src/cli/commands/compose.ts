/** `shoalctl compose convert|up|down|ps`: run a Docker Compose file's services as shoal units (docs/compose.md). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliIO } from '../io';
import type { ProjectFlags } from '../../compose/project';
import { composeFlags, registerComposeCluster } from './compose-cluster';

/** Adds the options every compose verb takes. */
export function projectOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <file>', 'compose file (default: compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml)')
    .option('-p, --project-name <name>', 'project name (default: COMPOSE_PROJECT_NAME, the file\'s name:, the directory\'s name)')
    .option('--spread', 'do not keep services that share a network or depend on each other on one machine')
    .option('--ignore-unsupported', 'warn about keys shoal cannot honour instead of refusing the file');
}

/** Converts the project (printing warnings); throws CliError / ComposeError. */
export function load(flags: ProjectFlags, io: CliIO): ReturnType<typeof import('../../compose/project').loadProject> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadProject } = require('../../compose/project') as typeof import('../../compose/project'); // yaml only for compose
  const r = loadProject(flags, io.cwd, io.env);
  for (const w of r.warnings) io.stderr.write(`warning: ${w}\n`);
  return r;
}

/** Adds `compose` and its verbs to the program. */
export function registerCompose(program: Command, io: CliIO): void {
  // -f/-p before the verb too, as `docker compose -f app.yml -p shop up` takes them
  const compose = projectOptions(program
    .command('compose')
    .description('Run a Docker Compose project on the cluster: each service becomes a container unit (docs/compose.md)'));

  projectOptions(compose.command('convert'))
    .description('Write one unit file per service (or print them); contacts no cluster')
    .option('-o, --output <dir>', 'write the unit files into this directory')
    .addHelpText('after', `
Examples:
  shoalctl compose convert                        # print the units of ./compose.yaml
  shoalctl compose convert -f app.yml -o units/   # write units/<project>-<service>.service

Exit status: 0 when every service converted; 1 when any did not (each problem as file:line: key: message; nothing written).`)
    .action((_flags: unknown, cmd: Command) => {
      const opts = composeFlags<{ output?: string }>(cmd);
      const r = load(opts, io);
      if (opts.output) {
        const dir = resolve(io.cwd, opts.output);
        mkdirSync(dir, { recursive: true });
        for (const u of r.units) {
          writeFileSync(join(dir, u.name), u.text);
          io.stdout.write(`${join(opts.output, u.name)}\n`);
        }
        return;
      }
      r.units.forEach((u, i) => io.stdout.write(`${i ? '\n' : ''}# ==> ${u.name} <==\n${u.text}`));
    });
  registerComposeCluster(compose, io, projectOptions, load);
  // as buildProgram does for top-level verbs: errors return a status instead of exiting the process
  for (const sub of compose.commands) sub.exitOverride().configureOutput(program.configureOutput());
}
