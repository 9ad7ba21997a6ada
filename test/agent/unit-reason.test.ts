/** The reported reason of a unit that is not running as it should (pure; on real systemd in agent-restart-backoff.test.ts). */
import t from 'tap';
import { describeExit, formatSpan, unitReason } from '../../src/agent/unit-reason';

const exited = (status: number) => ({ result: 'exit-code', code: 'exited', status, startMs: 1, endMs: 2 });

t.test('how the main process ended', async (t) => {
  t.equal(describeExit(exited(1)), 'main process exited with status 1');
  t.equal(describeExit(exited(203)), 'main process exited with status 203/EXEC (systemd could not run ExecStart=)');
  t.equal(describeExit({ result: 'signal', code: 'killed', status: 9, startMs: 1, endMs: 2 }), 'main process killed by signal 9/KILL');
  t.equal(describeExit({ result: 'core-dump', code: 'dumped', status: 11, startMs: 1, endMs: 2 }), 'main process dumped core (signal 11/SEGV)');
  t.equal(describeExit(undefined), undefined);
});

t.test('time spans as a unit file writes them', async (t) => {
  t.same([formatSpan(10_000), formatSpan(3_600_000), formatSpan(90_000), formatSpan(500), formatSpan(0)], ['10s', '1h', '1min 30s', '500ms', '0']);
});

t.test('a failed unit: why systemd gave up on it', async (t) => {
  const limit = { burst: 5, intervalMs: 10_000 };
  t.equal(unitReason({ activeState: 'failed', result: 'start-limit-hit', startLimit: limit, exit: exited(0), health: { restarts: 5, retries: 3, output: 'exit 1' } }),
    'start rate limit hit (systemd StartLimitBurst=5 in StartLimitIntervalSec=10s): restarted 5 times for failing its health check (last: exit 1); stop and start it to try again');
  t.equal(unitReason({ activeState: 'failed', result: 'start-limit-hit', startLimit: { burst: 3, intervalMs: 3_600_000 }, exit: exited(1) }),
    'start rate limit hit (systemd StartLimitBurst=3 in StartLimitIntervalSec=1h): main process exited with status 1; stop and start it to try again');
  // systemd 252: its own Restart= ran into the limit, and the Result stays the run's
  const restart = { policy: 'always', count: 2, preventExitStatus: [] as number[] };
  t.equal(unitReason({ activeState: 'failed', result: 'exit-code', exit: exited(1), startLimit: { burst: 3, intervalMs: 3_600_000 }, restart }),
    'start rate limit hit (systemd StartLimitBurst=3 in StartLimitIntervalSec=1h): systemd restarted it 2 times (Restart=always), main process exited with status 1; stop and start it to try again');
  t.equal(unitReason({ activeState: 'failed', result: 'exit-code', exit: exited(1), startLimit: limit, restart: { ...restart, policy: 'no' } }),
    'main process exited with status 1', 'Restart=no: systemd was not going to restart it');
  t.equal(unitReason({ activeState: 'failed', result: 'exit-code', exit: exited(1), startLimit: limit, restart: { ...restart, policy: 'on-abnormal' } }),
    'main process exited with status 1', 'on-abnormal does not restart a non-zero exit');
  t.equal(unitReason({ activeState: 'failed', result: 'exit-code', exit: exited(7), startLimit: limit, restart: { ...restart, preventExitStatus: [7] } }),
    'main process exited with status 7', 'RestartPreventExitStatus=7');
  t.equal(unitReason({ activeState: 'failed', result: 'exit-code', exit: exited(1), startLimit: { burst: 5, intervalMs: 0 }, restart }),
    'main process exited with status 1', 'StartLimitIntervalSec=0: no limit');
  t.equal(unitReason({ activeState: 'failed', result: 'exit-code', exit: exited(203) }), 'main process exited with status 203/EXEC (systemd could not run ExecStart=)');
  t.equal(unitReason({ activeState: 'failed', result: 'exit-code', exit: exited(2), health: { restarts: 1, retries: 3, output: 'HTTP 500' } }),
    'main process exited with status 2; restarted 1 time for failing its health check (last: HTTP 500)');
  t.equal(unitReason({ activeState: 'failed', result: 'timeout' }), 'timed out (TimeoutStartSec=/TimeoutStopSec=/RuntimeMaxSec=)');
  t.equal(unitReason({ activeState: 'failed', result: 'protocol' }), 'failed (systemd Result=protocol)');
  t.equal(unitReason({ activeState: 'failed' }), undefined, 'how it ended not read yet: nothing to say until it is');
  t.equal(unitReason({ activeState: 'failed', result: '' }), 'failed (see shoalctl status)');
});

t.test('a running unit: only a health restart held back by its backoff has a reason', async (t) => {
  t.equal(unitReason({ activeState: 'active', health: { restarts: 3, retries: 1, output: 'exit 1', backoffMs: 7600 } }),
    'health check failed 1 time in a row (HealthRetries=1; last: exit 1); next restart in 8 s (backoff after 3 restarts)');
  t.equal(unitReason({ activeState: 'active', health: { restarts: 3, retries: 3, output: 'exit 1' } }), undefined);
  t.equal(unitReason({ activeState: 'inactive', result: 'success', exit: exited(0) }), undefined);
  t.equal(unitReason({ activeState: 'active' }), undefined);
});
