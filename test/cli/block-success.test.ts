/**
 * When a blocking start stops waiting for a unit that ran and ended successfully (src/cli/block-failure.ts
 * ranToSuccess): a Type=oneshot without RemainAfterExit= (or a service whose process exits 0, no Restart=) is never
 * active. Only a run that exited 0, at the current hash, and not the run that had ended before the command.
 */
import t from 'tap';
import { beforeOf, exitedZero, isFinalFailure, ranToSuccess, runSuccess, type Before } from '../../src/cli/block-failure';
import { reached } from '../../src/cli/client-block';
import type { UnitExitMsg, UnitStateMsg } from '../../src/api/messages';

const M1 = 'aaaaaaaa11111111aaaaaaaa11111111';
const M2 = 'bbbbbbbb22222222bbbbbbbb22222222';
const T0 = '2026-12-01T06:00:00.000Z';
const T1 = '2026-12-01T06:00:05.000Z';
/** ms since the epoch of an older run and of the run after the command. */
const OLD_RUN = 1_764_568_800_000;
const NEW_RUN = OLD_RUN + 5_000;

const ok = (startMs = NEW_RUN): UnitExitMsg => ({ result: 'success', code: 'exited', status: 0, startMs, endMs: startMs + 3 });
const exit1: UnitExitMsg = { result: 'exit-code', code: 'exited', status: 1, startMs: NEW_RUN, endMs: NEW_RUN + 3 };

/** A oneshot that ran /bin/true after the command: inactive/dead with its exit. */
function st(over: Partial<UnitStateMsg>): UnitStateMsg {
  return {
    unit: 'job.service', machine: M1, machineAddress: '10.88.0.11', loadState: 'loaded', activeState: 'inactive', subState: 'dead',
    hash: 'h1', mainPid: 0, since: T1, reason: '', exit: ok(), ...over,
  };
}
const fresh: Before = { launched: false, states: new Map() };
/** Before the command: the run of OLD_RUN had ended successfully on M1 (reported since T0). */
const oldRan = (over: Partial<Before> = {}): Before => ({ launched: false, states: new Map([[M1, { activeState: 'inactive', since: T0, exit: ok(OLD_RUN) }]]), ...over });

t.test('exitedZero: only a main process that exited with status 0 and Result=success', async (t) => {
  t.ok(exitedZero(ok()));
  t.notOk(exitedZero(exit1), 'exit status 1');
  t.notOk(exitedZero({ result: 'signal', code: 'killed', status: 15, startMs: 1, endMs: 2 }), 'killed by a stop (SIGTERM)');
  t.notOk(exitedZero({ result: 'timeout', code: 'exited', status: 0, startMs: 1, endMs: 2 }), 'exit 0 but systemd says timeout');
  t.notOk(exitedZero(null), 'no exit (null on the wire)');
  t.notOk(exitedZero(undefined));
});

t.test('ran and succeeded since the command: the wait ends', async (t) => {
  t.ok(ranToSuccess(st({}), 'h1', fresh), 'nothing reported before');
  t.ok(ranToSuccess(st({}), 'h1', oldRan()), 'a new run after an older one that succeeded (other start time)');
  t.ok(ranToSuccess(st({ since: T0 }), 'h1', oldRan()), 'the same since as before: the agent never saw activating, the run is still new');
  t.ok(ranToSuccess(st({}), 'h1'), 'no before given (a glob): any success counts');
  t.ok(ranToSuccess(st({}), '', fresh), 'hash unknown: any');
  t.ok(ranToSuccess(st({ hash: '' }), 'h1', fresh), 'a state with no hash counts');
  t.ok(ranToSuccess(st({ machine: M2 }), 'h1', oldRan()), 'another machine than the one of the old run');
  t.ok(ranToSuccess(st({ exit: ok(OLD_RUN) }), 'h1', { launched: false, states: new Map([[M1, { activeState: 'activating', since: T0 }]]) }),
    'running before the command (no exit then): its end is the answer (a start of a running unit starts nothing)');
});

t.test('a stale success from a run before the command does not end the wait', async (t) => {
  t.notOk(ranToSuccess(st({ exit: ok(OLD_RUN), since: T0 }), 'h1', oldRan()), 'the same run as before (agent has not acted yet)');
  t.notOk(ranToSuccess(st({ exit: ok(OLD_RUN), since: T1 }), 'h1', oldRan()), 'the same run, even when since moved');
  t.ok(ranToSuccess(st({ exit: ok(OLD_RUN) }), 'h1', oldRan({ launched: true })), 'launched before the command: nothing starts it again, its run is the answer');
  t.equal(runSuccess([st({ exit: ok(OLD_RUN) })], 'h1', oldRan()), undefined);
});

t.test('not a success: failed, non-zero, still running, active, another body', async (t) => {
  t.notOk(ranToSuccess(st({ exit: exit1 }), 'h1', fresh), 'exited 1 but inactive (not possible for systemd, still no success)');
  const failed = st({ activeState: 'failed', subState: 'failed', exit: exit1, reason: 'main process exited with status 1' });
  t.notOk(ranToSuccess(failed, 'h1', fresh), '/bin/false: failed');
  t.ok(isFinalFailure(failed, 'h1', fresh), 'which the failure rule ends the wait on, with its reason');
  t.notOk(ranToSuccess(st({ exit: { result: 'signal', code: 'killed', status: 15, startMs: NEW_RUN, endMs: NEW_RUN + 9 } }), 'h1', fresh), 'killed');
  t.notOk(ranToSuccess(st({ exit: undefined }), 'h1', fresh), 'inactive without an exit: loaded, never ran since the agent loaded it');
  t.notOk(ranToSuccess(st({ exit: null }), 'h1', fresh), 'exit null (unset on the wire)');
  t.notOk(ranToSuccess(st({ activeState: 'activating', subState: 'start', exit: undefined }), 'h1', fresh), 'still running');
  t.notOk(ranToSuccess(st({ activeState: 'activating', subState: 'auto-restart' }), 'h1', fresh), 'Restart=always: systemd runs it again');
  t.notOk(ranToSuccess(st({ hash: 'h0' }), 'h1', fresh), 'the body before --replace ran');
  const rae = st({ activeState: 'active', subState: 'exited', exit: undefined });
  t.notOk(ranToSuccess(rae, 'h1', fresh), 'RemainAfterExit=yes: active (exited)...');
  t.ok(reached('launched', [rae], 'h1'), '...which reaches launched as it did');
  t.notOk(reached('launched', [st({})], 'h1'), 'a oneshot that ended is never active');
});

t.test('runSuccess: the first machine whose run succeeded, named', async (t) => {
  t.equal(runSuccess([st({})], 'h1', fresh), 'ran and exited 0 on aaaaaaaa.../10.88.0.11');
  t.equal(runSuccess([st({ exit: ok(OLD_RUN) }), st({ machine: M2, machineAddress: '10.88.0.12' })], 'h1', oldRan()), 'ran and exited 0 on bbbbbbbb.../10.88.0.12');
  t.equal(runSuccess([], 'h1', fresh), undefined, 'nobody reports it');
});

t.test('beforeOf keeps the exit reported before the command', async (t) => {
  const b = beforeOf(['job.service'], [st({ exit: ok(OLD_RUN), since: T0 }), st({ machine: M2, activeState: 'active', subState: 'running', exit: undefined })], new Set());
  t.same([...b.get('job.service')!.states], [[M1, { activeState: 'inactive', since: T0, exit: ok(OLD_RUN) }], [M2, { activeState: 'active', since: T1 }]]);
  t.notOk('exit' in b.get('job.service')!.states.get(M2)!, 'none when none was reported');
});
