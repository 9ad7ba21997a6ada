/**
 * Waiting until the cluster reached what a verb asked for (fleetctl's blocking): poll reported states
 * through the API; --block-attempts bounds the polls (0 = no limit), --no-block skips it. Progress on a terminal only.
 */
import { Option, type Command } from 'commander';
import type { ApiClient } from '../api/client';
import type { UnitStateMsg } from '../api/messages';
import { CliError } from './cli-error';
import type { CliIO } from './io';
import { machineCell } from './client-output';

/** What a verb waits for. */
export type Goal = 'launched' | 'loaded' | 'stopped' | 'unloaded';

/** Flags of every blocking verb. */
export interface BlockFlags {
  block?: boolean;
  blockAttempts?: number;
}

/** Adds --no-block and --block-attempts. */
export function addBlockOptions(cmd: Command): Command {
  return cmd
    .option('--no-block', 'do not wait until the units reached the state')
    .addOption(new Option('--block-attempts <n>', 'give up after N polls, 0 = wait forever').default(0).argParser(attempts));
}

function attempts(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`--block-attempts: ${JSON.stringify(v)} is not a whole number >= 0`, 2);
  return n;
}

const ACTIVE = new Set(['active', 'activating', 'deactivating', 'reloading']);

/** True when the states reported for one unit (with the unit's current hash) satisfy `goal`. */
export function reached(goal: Goal, states: UnitStateMsg[], hash: string): boolean {
  const current = states.filter((s) => !hash || !s.hash || s.hash === hash);
  switch (goal) {
    case 'launched': return current.some((s) => s.activeState === 'active');
    case 'loaded': return current.some((s) => s.loadState === 'loaded');
    case 'stopped': return current.length > 0 && current.every((s) => !ACTIVE.has(s.activeState));
    case 'unloaded': return states.every((s) => s.loadState !== 'loaded' && !ACTIVE.has(s.activeState));
  }
}

function describe(states: UnitStateMsg[], why?: string): string {
  if (states.length === 0) return why ? `no machine reports it: ${why}` : 'no machine reports it';
  return states.map((s) => `${s.loadState}/${s.activeState}/${s.subState} on ${machineCell(s.machine, s.machineAddress, false)}`).join(', ');
}

/** explain's summary for a unit that is not placed (nothing when it is placed or explain fails). */
async function explainWhy(c: ApiClient, name: string, why: Map<string, string>): Promise<void> {
  try {
    const ex = await c.explain(name);
    if (ex.status === 'unplaceable') why.set(name, ex.summary);
    else why.delete(name);
  } catch {
    // explain is a hint here; the wait itself goes on
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until every unit in `names` reached `goal` (`hashes` gives each unit's current hash, '' when unknown).
 * Returns each unit's final states. Throws CliError (exit 1) when the attempts run out.
 */
export async function waitFor(
  c: ApiClient, io: CliIO, names: string[], goal: Goal, hashes: Map<string, string>, flags: BlockFlags,
): Promise<Map<string, UnitStateMsg[]>> {
  const limit = flags.blockAttempts ?? 0;
  const tty = !!io.stderr.isTTY;
  let pending = [...names];
  const done = new Map<string, UnitStateMsg[]>();
  const why = new Map<string, string>();
  for (let attempt = 1; ; attempt++) {
    const states = await c.listUnits(pending);
    const by = new Map<string, UnitStateMsg[]>(pending.map((n) => [n, []]));
    for (const s of states) by.get(s.unit)?.push(s);
    for (const [n, ss] of by) if (reached(goal, ss, hashes.get(n) ?? '')) done.set(n, ss);
    pending = pending.filter((n) => !done.has(n));
    if (pending.length === 0) break;
    // A unit no machine reports: say why inline, as explain would (asked again every 20 polls).
    if (attempt % 20 === 1 || (limit > 0 && attempt >= limit)) {
      for (const n of pending) if (by.get(n)!.length === 0) await explainWhy(c, n, why);
    }
    if (tty) io.stderr.write(`\rwaiting for ${pending.length} unit(s) to be ${goal}: ${pending[0]} ${describe(by.get(pending[0])!, why.get(pending[0]))} `);
    if (limit > 0 && attempt >= limit) {
      if (tty) io.stderr.write('\n');
      const now = pending.map((n) => `${n}: ${describe(by.get(n)!, why.get(n))}`).join('; ');
      throw new CliError(`gave up after ${limit} attempts waiting for ${pending.join(', ')} to be ${goal} (now ${now}); ` +
        `see shoalctl status/journal/explain UNIT, or raise --block-attempts`);
    }
    await sleep(attempt < 20 ? 100 : 500);
  }
  if (tty && names.length) io.stderr.write('\r\x1b[K');
  return done;
}
