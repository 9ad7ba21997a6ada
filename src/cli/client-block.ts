/**
 * Waiting until the cluster reached what a verb asked for (fleetctl's blocking): follow reported states
 * through the API's WatchUnitStates stream; --block-attempts bounds the wait (0 = no limit), --no-block skips it.
 */
import { Option, type Command } from 'commander';
import type { ApiClient } from '../api/client';
import type { UnitStateMsg } from '../api/messages';
import { CliError } from './cli-error';
import type { CliIO } from './io';
import { machineCell } from './client-output';
import { runFailure, runSuccess, type Before } from './block-failure';

/** What a verb waits for. */
export type Goal = 'launched' | 'loaded' | 'stopped' | 'unloaded';

/**
 * A blocking verb that ended with units that can never reach their goal (systemd cannot load them, or they
 * failed): exit 1 with why; `done` has the units that did reach it, so the verb can still report them.
 */
export class BlockFailure extends CliError {
  constructor(message: string, readonly done: Map<string, UnitStateMsg[]>) {
    super(message);
  }
}

/** Flags of every blocking verb. */
export interface BlockFlags {
  block?: boolean;
  blockAttempts?: number;
}

/** Adds --no-block and --block-attempts. */
export function addBlockOptions(cmd: Command): Command {
  return cmd
    .option('--no-block', 'do not wait until the units reached the state')
    .addOption(new Option('--block-attempts <n>', 'give up after about N polls\' time (N x 100 ms up to 20, then 500 ms each), 0 = wait forever').default(0).argParser(attempts));
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

/** systemd's load states of a unit file it cannot load (systemd.unit: LoadState); waiting on them is futile. */
const UNLOADABLE = new Set(['bad-setting', 'not-found', 'error', 'masked']);

/**
 * Why `states` (at `hash`) can never reach `goal` without a new unit file: a machine's agent reported that
 * systemd cannot load it, with the failure; undefined otherwise. Only for the goals that need the unit loaded.
 */
export function refused(goal: Goal, states: UnitStateMsg[], hash: string): string | undefined {
  if (goal !== 'launched' && goal !== 'loaded') return undefined;
  const s = states.find((x) => (!hash || !x.hash || x.hash === hash) && UNLOADABLE.has(x.loadState) && x.reason);
  return s && `systemd cannot load it on ${machineCell(s.machine, s.machineAddress, false)} (${s.loadState}): ${s.reason}`;
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

/**
 * How long --block-attempts N waits, ms: what N polls took when the verbs polled (100 ms for the first
 * 20, then 500 ms each), so scripts written for the old flag wait as long as before.
 */
export function attemptsBudgetMs(n: number): number {
  return Math.min(n, 20) * 100 + Math.max(0, n - 20) * 500;
}

/** Explain runs for a unit no machine reports only after this long, ms (it is usually placed at once). */
const EXPLAIN_AFTER_MS = 2000;

/**
 * Follows reported states (the WatchUnitStates stream, one call: no polling) until every unit in `names`
 * reached `goal` (`hashes` gives each unit's current hash, '' when unknown). Progress: on a terminal one
 * line rewritten (done/total and the first pending unit), otherwise one plain line per unit as it is done.
 * Returns each unit's final states; for `launched`, a run that ended successfully since the command (a oneshot
 * without RemainAfterExit=, block-failure.ts ranToSuccess) reached it too. Throws CliError (exit 1) when the
 * --block-attempts budget runs out, and
 * BlockFailure (exit 1) once every unit reached the goal or cannot: systemd cannot load it (`refused`), or, for
 * `launched`, it failed for good (block-failure.ts; `before` tells a failure of this start from an older one).
 */
export async function waitFor(
  c: ApiClient, io: CliIO, names: string[], goal: Goal, hashes: Map<string, string>, flags: BlockFlags,
  before?: ReadonlyMap<string, Before>,
): Promise<Map<string, UnitStateMsg[]>> {
  const limit = flags.blockAttempts ?? 0;
  const tty = !!io.stderr.isTTY;
  const by = new Map<string, Map<string, UnitStateMsg>>(names.map((n) => [n, new Map()]));
  const done = new Map<string, UnitStateMsg[]>();
  const why = new Map<string, string>();
  /** Units systemd cannot load (refused): the wait ends for them, and the verb fails once the others are done. */
  const failed = new Map<string, string>();
  /** Units that failed on their machine for good (launched only): likewise. */
  const crashed = new Map<string, string>();
  const ended = (n: string) => done.has(n) || failed.has(n) || crashed.has(n);
  const pending = () => names.filter((n) => !done.has(n) && !crashed.has(n));
  const statesOf = (n: string) => [...by.get(n)!.values()];
  const ctl = new AbortController();
  let timedOut = false;
  const timer = limit > 0 ? setTimeout(() => { timedOut = true; ctl.abort(); }, attemptsBudgetMs(limit)) : undefined;
  let synced = false;
  const progress = () => {
    const left = pending();
    if (tty && left.length) {
      io.stderr.write(`\r\x1b[K[${done.size}/${names.length}] waiting for ${left.length} unit(s) to be ${goal}: ${left[0]} ${describe(statesOf(left[0]), why.get(left[0]))} `);
    }
  };
  // a unit nobody reports a while after the states are known: say why inline, as explain would (once)
  const explainTimer = setTimeout(() => {
    void Promise.all(pending().filter((n) => by.get(n)!.size === 0).map((n) => explainWhy(c, n, why))).then(progress);
  }, EXPLAIN_AFTER_MS);
  try {
    for await (const ev of c.watchUnitStates(names, { initial: true, synced: true, signal: ctl.signal })) {
      if (ev.synced) synced = true;
      else if (ev.state && by.has(ev.state.unit)) {
        const m = by.get(ev.state.unit)!;
        if (ev.deleted) m.delete(ev.state.machine); else m.set(ev.state.machine, ev.state);
      }
      if (!synced) continue;
      for (const n of pending()) {
        const ss = statesOf(n);
        const hash = hashes.get(n) ?? '';
        const no = refused(goal, ss, hash);
        if (no && !failed.has(n)) { failed.set(n, no); if (!tty) io.stderr.write(`${n}: ${no}\n`); }
        const ran = goal === 'launched' && !reached(goal, ss, hash) ? runSuccess(ss, hash, before?.get(n)) : undefined;
        if (reached(goal, ss, hash) || ran) {
          done.set(n, ss);
          if (!tty) io.stderr.write(`${n} ${ran ?? goal} (${done.size}/${names.length})\n`);
          continue;
        }
        const down = goal === 'launched' ? runFailure(ss, hash, before?.get(n)) : undefined;
        if (down) { crashed.set(n, down); if (!tty) io.stderr.write(`${n} ${down}\n`); }
      }
      if (names.every(ended)) break;
      progress();
    }
  } finally {
    clearTimeout(timer);
    clearTimeout(explainTimer);
    ctl.abort();
  }
  const left = pending();
  const cannot = left.filter((n) => failed.has(n));
  const down = names.filter((n) => crashed.has(n));
  const waiting = left.filter((n) => !failed.has(n));
  const errs: string[] = [];
  if (cannot.length) errs.push(`${cannot.map((n) => `${n}: ${failed.get(n)}`).join('; ')}; fix the unit file (shoalctl verify FILE) and submit it again`);
  if (down.length) errs.push(`${down.map((n) => `${n} ${crashed.get(n)}`).join('; ')}; see shoalctl status/journal UNIT, then stop and start it (or restart) once fixed`);
  if (waiting.length && !timedOut) errs.push(`the state stream ended before ${waiting.join(', ')} became ${goal}; see shoalctl status UNIT`);
  else if (waiting.length) {
    for (const n of waiting) if (by.get(n)!.size === 0) await explainWhy(c, n, why);
    const now = waiting.map((n) => `${n}: ${describe(statesOf(n), why.get(n))}`).join('; ');
    errs.push(`gave up after ${limit} attempts waiting for ${waiting.join(', ')} to be ${goal} (now ${now}); ` +
      'see shoalctl status/journal/explain UNIT, or raise --block-attempts');
  }
  if (errs.length) {
    if (tty) io.stderr.write('\n');
    throw new BlockFailure(errs.join('; '), done);
  }
  if (tty && names.length) io.stderr.write('\r\x1b[K');
  return done;
}
