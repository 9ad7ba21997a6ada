/**
 * When a blocking start stops waiting for a failed unit (src/cli/block-failure.ts): final failures only, at the
 * current hash, and never an older run's failure. Reasons are the agent's own texts (unitReason).
 */
import t from 'tap';
import { beforeOf, isFinalFailure, runFailure, type Before } from '../../src/cli/block-failure';
import { reached, refused } from '../../src/cli/client-block';
import { unitReason } from '../../src/agent/unit-reason';
import type { UnitStateMsg } from '../../src/api/messages';

const M1 = 'aaaaaaaa11111111aaaaaaaa11111111';
const M2 = 'bbbbbbbb22222222bbbbbbbb22222222';
const T0 = '2026-12-01T06:00:00.000Z';
const T1 = '2026-12-01T06:00:05.000Z';

const ended = (code: string, status: number) => ({ result: 'exit-code', code, status, startMs: 0, endMs: 0 });
const EXEC = unitReason({ activeState: 'failed', result: 'exit-code', exit: ended('exited', 203) })!;
const LIMIT = unitReason({
  activeState: 'failed', result: 'exit-code', exit: ended('exited', 1),
  startLimit: { burst: 3, intervalMs: 60_000 }, restart: { policy: 'always', count: 3, preventExitStatus: [] },
})!;
const HELD = unitReason({ activeState: 'active', health: { restarts: 4, retries: 3, output: 'exit 1', backoffMs: 8000 } })!;

function st(over: Partial<UnitStateMsg>): UnitStateMsg {
  return {
    unit: 'web.service', machine: M1, machineAddress: '10.88.0.11', loadState: 'loaded', activeState: 'failed', subState: 'failed',
    hash: 'h1', mainPid: 0, since: T1, reason: EXEC, ...over,
  };
}
const fresh: Before = { launched: false, states: new Map() };
const oldFailed = (since = T0): Before => ({ launched: false, states: new Map([[M1, { activeState: 'failed', since }]]) });

t.test('the agent\'s reasons are what the test takes them for', async (t) => {
  t.match(EXEC, /^main process exited with status 203\/EXEC \(systemd could not run ExecStart=\)$/);
  t.match(LIMIT, /^start rate limit hit/);
  t.match(HELD, /next restart in 8 s/);
});

t.test('final: failed, with the agent\'s reason, at the current hash', async (t) => {
  t.ok(isFinalFailure(st({}), 'h1', fresh), '203/EXEC');
  t.ok(isFinalFailure(st({ reason: LIMIT }), 'h1', fresh), 'start rate limit hit');
  t.ok(isFinalFailure(st({ reason: 'killed by the kernel\'s OOM killer' }), 'h1', fresh), 'oom-kill');
  t.ok(isFinalFailure(st({}), '', fresh), 'hash unknown: any');
  t.ok(isFinalFailure(st({ hash: '' }), 'h1', fresh), 'a state with no hash (an agent that had no file) counts');
  t.ok(isFinalFailure(st({}), 'h1'), 'no before given: every failure counts');
});

t.test('not final', async (t) => {
  t.notOk(isFinalFailure(st({ reason: '' }), 'h1', fresh), 'failed without a reason: the agent has not read its end yet, or a user\'s stop left it failed');
  t.notOk(isFinalFailure(st({ activeState: 'activating', subState: 'auto-restart', reason: '' }), 'h1', fresh), 'systemd\'s Restart= will run it again');
  t.notOk(isFinalFailure(st({ activeState: 'activating', subState: 'auto-restart' }), 'h1', fresh), 'auto-restart, even with a reason');
  t.notOk(isFinalFailure(st({ activeState: 'active', subState: 'running', reason: HELD }), 'h1', fresh), 'a held health restart of a running unit');
  t.notOk(isFinalFailure(st({ reason: HELD }), 'h1', fresh), 'failed but shoal will restart it (next restart in ...)');
  t.notOk(isFinalFailure(st({ activeState: 'inactive', subState: 'dead', reason: '' }), 'h1', fresh), 'a oneshot that ended: not failed');
  t.notOk(isFinalFailure(st({ activeState: 'active', subState: 'exited', reason: '' }), 'h1', fresh), 'a oneshot with RemainAfterExit=');
  t.notOk(isFinalFailure(st({ activeState: 'inactive', subState: 'dead', reason: 'start job still running after 95 s' }), 'h1', fresh), 'a late job is no failure');
  t.notOk(isFinalFailure(st({ hash: 'h0' }), 'h1', fresh), 'the failure of the body before --replace');
});

t.test('an older run\'s failure does not end the wait; one entered after the command does', async (t) => {
  t.notOk(isFinalFailure(st({ since: T0 }), 'h1', oldFailed(T0)), 'failed with the same since as before the start: not acted on yet');
  t.ok(isFinalFailure(st({ since: T1 }), 'h1', oldFailed(T0)), 'failed again since (the start reset it and ran it)');
  t.ok(isFinalFailure(st({ since: T0 }), 'h1', { launched: true, states: oldFailed(T0).states }), 'launched before the command: no new start comes, the failure is the answer');
  t.ok(isFinalFailure(st({ since: T0 }), 'h1', { launched: false, states: new Map([[M1, { activeState: 'active', since: T0 }]]) }), 'was running before (same since is a coincidence of clocks: not failed then)');
  t.ok(isFinalFailure(st({ machine: M2, since: T0 }), 'h1', oldFailed(T0)), 'another machine than the one that failed before');
});

t.test('runFailure: the first final failure among a unit\'s machines, with machine and reason', async (t) => {
  t.equal(runFailure([st({})], 'h1', fresh), `failed on aaaaaaaa.../10.88.0.11: ${EXEC}`);
  t.equal(runFailure([st({ reason: '' }), st({ machine: M2, machineAddress: '10.88.0.12', reason: LIMIT })], 'h1', fresh), `failed on bbbbbbbb.../10.88.0.12: ${LIMIT}`);
  t.equal(runFailure([st({ since: T0 })], 'h1', oldFailed(T0)), undefined);
  t.equal(runFailure([], 'h1', fresh), undefined, 'nobody reports it');
});

t.test('beforeOf: states by unit and machine, launched from the batch\'s previous state', async (t) => {
  const b = beforeOf(['web.service', 'db.service'], [st({}), st({ machine: M2, activeState: 'active', since: T0 }), st({ unit: 'other.service' })], new Set(['db.service']));
  t.same([...b.keys()], ['web.service', 'db.service']);
  t.equal(b.get('web.service')!.launched, false);
  t.equal(b.get('db.service')!.launched, true);
  t.same([...b.get('web.service')!.states], [[M1, { activeState: 'failed', since: T1 }], [M2, { activeState: 'active', since: T0 }]]);
  t.equal(b.get('db.service')!.states.size, 0);
});

t.test('the goals a failed unit still reaches: loaded and stopped (load/stop/unload are not affected)', async (t) => {
  t.ok(reached('loaded', [st({})], 'h1'), 'a failed unit is loaded');
  t.ok(reached('stopped', [st({})], 'h1'), 'and not running');
  t.notOk(reached('launched', [st({})], 'h1'), 'but never active');
  t.equal(refused('launched', [st({})], 'h1'), undefined, 'and systemd did load it: not refused');
});
