/**
 * V8's compilers for shoald (docs/performance.md): the interpreter only, but while this shoald's engine leads.
 * Agents and standby engines wait on D-Bus and etcd; what TurboFan and Sparkplug compile, their compile jobs'
 * memory and the compilers' own code (pages of the node binary) cost ~8 MiB RSS, ~6.5 of it spent already
 * while shoald loads its modules: hence set before the bundle loads (bin/shoald), not once the roles run. A
 * leader plans 10,000 units on 1,000 machines 1.3-1.6x faster with them. V8 reads these flags at each compile
 * and tier-up decision, so a change applies to what runs from then on. Not for shoald under a TS loader
 * (tests spawning src/daemon/main.ts): that compiles every module it loads, seconds more without TurboFan.
 */
import { setFlagsFromString } from 'node:v8';

const OFF = ['--no-opt', '--no-sparkplug'];
const ON = ['--opt', '--sparkplug'];

const state = { managed: false, on: true };

/**
 * Turns the compilers off from now on (and on again only through `optimizing(true)`), unless SHOAL_V8_OPT=always
 * (`env`). Called by bin/shoald before it loads the bundle, and by main() for the bundle's own copy of this module.
 */
export function manageTiering(env: NodeJS.ProcessEnv = process.env): void {
  // under --jitless/--lite-mode V8 has no compilers to turn on: turning them on would make it try
  if (env.SHOAL_V8_OPT === 'always' || interpreterOnly(process.execArgv, env.NODE_OPTIONS)) return;
  state.managed = true;
  apply(false);
}

/** The compilers on while `leading` (the engine's onLeading); nothing when tiering is not managed. */
export function optimizing(leading: boolean): void {
  if (state.managed) apply(leading);
}

/**
 * Runs `fn` under the flags shoald starts with (compilers off when managed), then restores: V8 takes a
 * code cache only under the flags it was made with, and the next start loads the bundle with them.
 */
export function withStartFlags<T>(fn: () => T): T {
  if (!state.managed || !state.on) return fn();
  apply(false);
  try {
    return fn();
  } finally {
    apply(true);
  }
}

/** True when node was started with --jitless or --lite-mode (which implies it): V8 cannot compile, only interpret. */
export function interpreterOnly(execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((f) => f === '--jitless' || f === '--lite-mode');
}

function apply(on: boolean): void {
  state.on = on;
  for (const f of on ? ON : OFF) setFlagsFromString(f);
}
