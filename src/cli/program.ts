/**
 * shoalctl's program: one commander Command with a sub-command per verb (src/cli/commands/<verb>.ts).
 * `runCli` never calls process.exit: it returns the exit status, so tests drive it in-process.
 */
import { Command, CommanderError } from 'commander';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './cli-error';
import type { CliIO } from './io';
import { ShoalError } from '../errors';
import { registerVerify } from './commands/verify';
import { registerPlan } from './commands/plan';
import { registerVersion } from './commands/version';
import { addClientOptions } from './client';
import { registerSubmit } from './commands/submit';
import { registerLoad } from './commands/load';
import { registerStart } from './commands/start';
import { registerStop } from './commands/stop';
import { registerUnload } from './commands/unload';
import { registerDestroy } from './commands/destroy';
import { registerRestart } from './commands/restart';
import { registerListUnits } from './commands/list-units';
import { registerListUnitFiles } from './commands/list-unit-files';
import { registerListMachines } from './commands/list-machines';
import { registerStatus } from './commands/status';
import { registerJournal } from './commands/journal';
import { registerEvents } from './commands/events';
import { registerCat } from './commands/cat';
import { registerExplain } from './commands/explain';
import { registerMetadata } from './commands/metadata';
import { registerCompletion } from './commands/completion';
import { registerScale } from './commands/scale';
import { registerHistory } from './commands/history';
import { registerRollback } from './commands/rollback';
import { registerDeployments } from './commands/deployments';
import { registerJobs } from './commands/jobs';
import { registerPromote } from './commands/promote';
import { registerRollout } from './commands/rollout';
import { registerCompose } from './commands/compose';
import { registerDrain } from './commands/drain';

/** A function that adds one verb to the program. */
export type RegisterCommand = (program: Command, io: CliIO) => void;

const COMMANDS: RegisterCommand[] = [
  registerVerify, registerPlan, registerVersion,
  registerSubmit, registerLoad, registerStart, registerStop, registerUnload, registerDestroy, registerRestart,
  registerListUnits, registerListUnitFiles, registerListMachines, registerStatus, registerJournal, registerEvents, registerCat,
  registerExplain, registerMetadata, registerCompletion,
  registerScale, registerHistory, registerRollback, registerDeployments, registerJobs, registerPromote, registerRollout,
  registerCompose,
  registerDrain,
];

/** Builds the program with every verb, writing through `io`. */
export function buildProgram(io: CliIO): Command {
  const program = new Command('shoalctl')
    .description('shoalctl drives a shoal cluster: systemd units scheduled across machines')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  addClientOptions(program);
  for (const register of COMMANDS) register(program, io);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Runs shoalctl with `argv` (without node and script) and returns the exit status. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (err) {
    return exitStatusOf(err, io);
  }
}

function exitStatusOf(err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    // help and version print and end with code 0; everything else commander raises is a usage error
    if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
    if (err.code === 'commander.help') return EXIT_OK;
    return EXIT_USAGE;
  }
  if (err instanceof CliError) {
    if (err.message) io.stderr.write(`Error: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof ShoalError) {
    io.stderr.write(`Error: ${err.message}\n`);
    return EXIT_FAILURE;
  }
  io.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT_FAILURE;
}
