/** The shared body of load/start/stop/unload/restart: set the desired state, then wait until the cluster follows. */
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { ApiClient } from '../api/client';
import type { BatchUnitResultMsg, UnitStateMsg } from '../api/messages';
import type { TargetState } from '../units/types';
import type { CliIO } from './io';
import { addBlockOptions, BlockFailure, waitFor, type BlockFlags, type Goal } from './client-block';
import { beforeOf, exitedZero } from './block-failure';
import { withClient } from './client';
import { machineCell } from './client-output';
import { resolveUnitArgs, runBatch } from './client-units';

/** Flags of a transition verb. */
export interface TransitionFlags extends BlockFlags {
  replace?: boolean;
}

/** What one verb does: the desired state it sets, what it waits for, and which units it leaves alone. */
export interface Transition {
  target: TargetState;
  goal: Goal;
  /** Files are submitted first (load, start). */
  acceptFiles: boolean;
  /** Units in one of these desired states are left alone (e.g. load of a launched unit), saying `skipWhy`. */
  skipFrom?: TargetState[];
  skipWhy?: string;
}

/** Unit names and globs from args: files submitted when the verb accepts them, otherwise a path's base name. */
export async function unitNames(c: ApiClient, io: CliIO, args: string[], t: Transition, replace: boolean): Promise<string[]> {
  if (t.acceptFiles) return resolveUnitArgs(c, io, args, replace);
  return [...new Set(args.map((a) => (a.includes('/') ? basename(a) : a)))];
}

/**
 * Runs one transition for `args` (names, globs, files) in one batch call and prints what happened,
 * fleetctl-style. Every name is checked by shoald before any state changes. Returns the states each unit
 * waited for reached the goal with (none with --no-block).
 */
export async function runTransition(c: ApiClient, io: CliIO, args: string[], t: Transition, flags: TransitionFlags, verb: string): Promise<Map<string, UnitStateMsg[]>> {
  const names = await unitNames(c, io, args, t, !!flags.replace);
  // a start's wait ends for a unit that failed, but not for the failure of a run before this start (block-failure.ts)
  const earlier = t.goal === 'launched' && flags.block !== false ? await c.listUnits(plainNames(names) ? names : []) : undefined;
  const results = await runBatch(c, io, verb, { action: 'SET_STATE', units: names.map((name) => ({ name })), state: t.target, skipFrom: t.skipFrom });
  const todo: BatchUnitResultMsg[] = [];
  for (const r of results) {
    if (r.outcome === 'skipped') io.stderr.write(`Unit ${r.name} ${t.skipWhy ?? `is ${r.previous || 'inactive'}`}, skipping\n`);
    else todo.push(r);
  }
  // a group's template is never loaded itself: its instances (in the results too) are what to wait for
  const isTemplate = (n: string) => /@\.[a-z]+$/.test(n);
  const wait = todo.filter((r) => !r.global && !isTemplate(r.name) && !(r.batch && t.goal === 'launched'));
  for (const r of todo) {
    if (r.global) io.stdout.write(`Triggered global unit ${r.name} ${verb}\n`);
    else if (r.batch && t.goal === 'launched') io.stdout.write(`Triggered batch unit ${r.name} ${verb} (it runs to completion: shoalctl jobs ${r.name})\n`);
    else if (isTemplate(r.name)) io.stdout.write(`Triggered group ${r.name} ${verb}\n`);
    else if (flags.block === false) io.stdout.write(`Triggered unit ${r.name} ${verb}\n`);
  }
  if (flags.block === false || wait.length === 0) return new Map();
  const hashes = new Map(wait.map((r) => [r.name, r.hash]));
  const before = earlier && beforeOf(wait.map((r) => r.name), earlier, new Set(wait.filter((r) => r.previous === 'launched').map((r) => r.name)));
  let done: Map<string, UnitStateMsg[]>;
  try {
    done = await waitFor(c, io, wait.map((r) => r.name), t.goal, hashes, flags, before);
  } catch (err) {
    // the units that did reach the goal are reported all the same: one unit's failure hides no other's result
    if (err instanceof BlockFailure) report(io, wait, err.done, t.goal);
    throw err;
  }
  report(io, wait, done, t.goal);
  return done;
}

/** True when no name is a glob (ListUnits takes names; a template stands for its instances there). */
function plainNames(names: string[]): boolean {
  return names.every((n) => !/[*?[]/.test(n));
}

/**
 * `Unit X launched on MACHINE` for each unit in `wait` that reached the goal, in the order given; for a start whose
 * unit ran and ended successfully instead of staying active (waitFor): `Unit X ran and exited 0 on MACHINE`.
 */
function report(io: CliIO, wait: BatchUnitResultMsg[], done: Map<string, UnitStateMsg[]>, goal: Goal): void {
  for (const { name: n, hash } of wait) {
    if (!done.has(n)) continue;
    const ss = (done.get(n) ?? []).filter((x) => !hash || !x.hash || x.hash === hash);
    const active = goal === 'launched' ? ss.find((x) => x.activeState === 'active') : undefined;
    const ran = goal === 'launched' && !active ? ss.find((x) => x.activeState === 'inactive' && exitedZero(x.exit)) : undefined;
    const s = active ?? ran ?? done.get(n)?.[0];
    const where = s && (goal === 'launched' || goal === 'loaded') ? ` on ${machineCell(s.machine, s.machineAddress, false)}` : '';
    io.stdout.write(`Unit ${n} ${ran ? 'ran and exited 0' : goal}${where}\n`);
  }
}

/** The usual help tail of a transition verb. */
export function transitionHelp(cmd: Command, examples: string): Command {
  return cmd.addHelpText('after', `\nExamples:\n${examples}\nExit status: 0 when every unit reached the state, 1 on failure (the message says what to do), 2 on a usage error.`);
}

/** The transitions of the verbs that set a desired state (restart chains stop and start). */
export const TRANSITIONS = {
  load: { target: 'loaded', goal: 'loaded', acceptFiles: true, skipFrom: ['launched'], skipWhy: 'is launched (stop it to only load it)' },
  start: { target: 'launched', goal: 'launched', acceptFiles: true },
  stop: { target: 'loaded', goal: 'stopped', acceptFiles: false, skipFrom: ['inactive'], skipWhy: 'is not loaded' },
  unload: { target: 'inactive', goal: 'unloaded', acceptFiles: false },
} satisfies Record<string, Transition>;

/** One transition verb: its name, help and examples. */
export interface TransitionCommand {
  verb: keyof typeof TRANSITIONS;
  description: string;
  argument: string;
  examples: string;
}

/** Adds a transition verb (load, start, stop, unload) to the program: block options, --replace where files are accepted. */
export function registerTransitionCommand(program: Command, io: CliIO, spec: TransitionCommand): void {
  const t: Transition = TRANSITIONS[spec.verb];
  const cmd = program.command(spec.verb).description(spec.description).argument('<unit...>', `${spec.argument}; a glob ('web@*.service', quoted) matches submitted units and instances`);
  if (t.acceptFiles) cmd.option('--replace', 'replace stored units whose file differs');
  addBlockOptions(cmd);
  transitionHelp(cmd, spec.examples);
  cmd.action(async (units: string[], opts: TransitionFlags, c: Command) => {
    await withClient(c, io, (client) => runTransition(client, io, units, t, opts, spec.verb));
  });
}
