/**
 * When a blocking `start` stops waiting for a unit that failed (pure): systemd left it `failed` on its machine
 * and nothing will start it again, so `active` can never come. Used by client-block.ts's waitFor.
 *
 * What counts as final, from what the agent reports (src/agent/agent.ts reportUnit, src/agent/unit-reason.ts):
 * - ActiveState `failed` (systemd.unit: the unit failed and systemd's own `Restart=` will not restart it: a
 *   service that systemd is about to restart is `activating`/`auto-restart`, never `failed`);
 * - with a reason: the agent gives one only to a unit it started and whose end it has read (a unit a user's stop
 *   left failed, or whose end is not read yet, has none);
 * - not a health restart still due (`next restart in N s`: shoal's health monitor restarts it itself; in the
 *   agent only a running unit says so, the check here is a guard should that change);
 * - at the unit's current hash (an older body's failure says nothing about the new one);
 * - fresh: not the failure of a run before this command. A state carries `since`, the time its agent saw it
 *   enter its active/sub/load state (src/agent/state-reporter.ts, the agent's clock). A start the agent acts on
 *   goes through `inactive`/`activating` first (it resets a failed unit before starting it: ResetFailedUnit),
 *   so a failure of the new run has a `since` other than the one reported for that machine before the command.
 *   A failed state with the same `since` as before is the old run's (the agent has not acted yet), unless the
 *   unit was launched already before this command: then no new start comes, and the failure is the answer.
 *
 * A run that ended successfully ends the wait too, as `systemctl start` returns once a `Type=oneshot` unit's start
 * job finished: such a unit without `RemainAfterExit=yes` (or a Type=simple service whose process exits 0 with no
 * `Restart=` that applies) goes from `activating` back to `inactive` and is never `active`. It counts (`ranToSuccess`) when:
 * - ActiveState `inactive` (`failed` is the rule above; `active`, `activating`, ... still run);
 * - with the `exit` the agent reports (src/agent/agent.ts `reported`: only for a run it saw since it loaded the unit,
 *   not older than its last start job, and only while the unit is not running): Result `success`, main process
 *   exited with status 0 (src/jobs/job.ts exitSucceeded: a run a stop killed is no success);
 * - at the unit's current hash;
 * - fresh, by the run itself: its exit (ExecMainStartTimestamp) differs from the exit reported for that machine
 *   before the command, or none was; again any, when the unit was launched before the command (the agent starts a
 *   unit it started only once: the run that ended is the answer). Not by `since`: the reporter keeps `since` while
 *   load/active/sub stay the same, and a run of /bin/true can go inactive → inactive without the agent ever seeing
 *   `activating` (systemd sends one PropertiesChanged per event loop turn), so `since` may not move for a new run.
 */
import type { UnitExitMsg, UnitStateMsg } from '../api/messages';
import { machineCell } from './client-output';

/** What was true before the command changed the desired state, for telling a new failure from an old one. */
export interface Before {
  /** The unit's desired state was `launched` already: the agent starts nothing anew, any failure is current. */
  launched: boolean;
  /** The unit's states reported before the command (by machine); a machine absent here reported nothing. */
  states: ReadonlyMap<string, BeforeState>;
}

/** One machine's state of a unit before the command: what tells a new run's end from an older one's. */
export interface BeforeState {
  activeState: string;
  since: string;
  /** The exit reported then (a run that had ended), absent when none was. */
  exit?: UnitExitMsg;
}

/** A reason that says shoal will restart the unit itself (unit-reason.ts: a health restart held by its backoff). */
const PENDING_RESTART = /next restart in /;

/** True when `s` (one machine's state of a unit whose current hash is `hash`, '' when unknown) is a final failure. */
export function isFinalFailure(s: UnitStateMsg, hash: string, before?: Before): boolean {
  if (s.activeState !== 'failed' || !s.reason || PENDING_RESTART.test(s.reason)) return false;
  if (hash && s.hash && s.hash !== hash) return false;
  if (!before || before.launched) return true;
  const old = before.states.get(s.machine);
  return !(old && old.activeState === 'failed' && old.since === s.since);
}

/** True when `x` is a run that ended on its own with exit status 0 (as src/jobs/job.ts exitSucceeded). */
export function exitedZero(x: UnitExitMsg | null | undefined): x is UnitExitMsg {
  return !!x && x.result === 'success' && x.code === 'exited' && x.status === 0;
}

/** True when `s` (one machine's state of a unit whose current hash is `hash`, '' when unknown) is a run that ended successfully since the command. */
export function ranToSuccess(s: UnitStateMsg, hash: string, before?: Before): boolean {
  if (s.activeState !== 'inactive' || !exitedZero(s.exit)) return false;
  if (hash && s.hash && s.hash !== hash) return false;
  if (!before || before.launched) return true;
  const old = before.states.get(s.machine)?.exit;
  return !old || old.startMs !== s.exit.startMs || old.endMs !== s.exit.endMs;
}

/** `ran and exited 0 on 3f2a9c1e.../10.88.0.11` for the first machine whose state is a run that ended successfully (ranToSuccess); undefined when none is. */
export function runSuccess(states: readonly UnitStateMsg[], hash: string, before?: Before): string | undefined {
  const s = states.find((x) => ranToSuccess(x, hash, before));
  return s && `ran and exited 0 on ${machineCell(s.machine, s.machineAddress, false)}`;
}

/**
 * Why a unit can never become active now: `failed on 3f2a9c1e.../10.88.0.11: main process exited with status
 * 203/EXEC (...)` for the first machine whose state is a final failure; undefined when none is.
 */
export function runFailure(states: readonly UnitStateMsg[], hash: string, before?: Before): string | undefined {
  const s = states.find((x) => isFinalFailure(x, hash, before));
  return s && `failed on ${machineCell(s.machine, s.machineAddress, false)}: ${s.reason}`;
}

/** `Before` of each unit in `names` from states listed before the command (`launched`: units whose previous desired state was launched). */
export function beforeOf(names: readonly string[], listed: readonly UnitStateMsg[], launched: ReadonlySet<string>): Map<string, Before> {
  const states = new Map(names.map((n) => [n, new Map<string, BeforeState>()]));
  for (const s of listed) states.get(s.unit)?.set(s.machine, { activeState: s.activeState, since: s.since, ...(s.exit ? { exit: s.exit } : {}) });
  return new Map(names.map((n) => [n, { launched: launched.has(n), states: states.get(n)! }]));
}
