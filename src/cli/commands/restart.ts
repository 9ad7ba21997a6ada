/** `shoalctl restart UNIT...`: stop units, wait until they stopped, start them again. */
import type { Command } from 'commander';
import type { ApiClient } from '../../api/client';
import type { UnitStateMsg } from '../../api/messages';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addBlockOptions } from '../client-block';
import { isFinalFailure } from '../block-failure';
import { runTransition, transitionHelp, TRANSITIONS, type TransitionFlags } from '../client-transition';

/** How long restart waits for the agents to act on the stop of units that had failed, ms (they do in well under a second). */
export const SETTLE_MS = 10_000;

/** Adds `restart` to the program. */
export function registerRestart(program: Command, io: CliIO): void {
  const cmd = program
    .command('restart')
    .description('Stop units, wait until they are stopped, then start them and wait until they are active')
    .argument('<unit...>', 'unit names');
  addBlockOptions(cmd);
  transitionHelp(cmd, '  shoalctl restart web.service');
  cmd.action(async (units: string[], opts: TransitionFlags, c: Command) => {
    await withClient(c, io, async (client) => {
      const stopped = await runTransition(client, io, units, { ...TRANSITIONS.stop, skipFrom: undefined }, { ...opts, block: true }, 'stop');
      await settleFailed(client, stopped);
      await runTransition(client, io, units, { ...TRANSITIONS.start, acceptFiles: false }, opts, 'start');
    });
  });
}

/**
 * A unit that had failed counts as stopped at once, before its agent took the stop in; a start sent before it did
 * would leave the unit as it is (still started, as far as the agent knows: systemd's Restart= decides) and its
 * wait would take the old failure for an old one for ever. The agent's stop drops the failure's reason (it gives
 * one only to a unit it started): wait for that, at most SETTLE_MS, one state stream, and only for such units.
 */
async function settleFailed(c: ApiClient, stopped: Map<string, UnitStateMsg[]>): Promise<void> {
  const names = [...stopped].filter(([, ss]) => ss.some((s) => isFinalFailure(s, ''))).map(([n]) => n);
  if (names.length === 0) return;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), SETTLE_MS);
  const by = new Map<string, UnitStateMsg>();
  let synced = false;
  try {
    for await (const ev of c.watchUnitStates(names, { initial: true, synced: true, signal: ctl.signal })) {
      if (ev.synced) synced = true;
      else if (ev.state) {
        const key = `${ev.state.unit}\n${ev.state.machine}`;
        if (ev.deleted) by.delete(key); else by.set(key, ev.state);
      }
      if (synced && ![...by.values()].some((s) => isFinalFailure(s, ''))) break;
    }
  } catch (err) {
    if (!ctl.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}
