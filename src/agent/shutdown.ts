/**
 * How shoald is being stopped, as systemd tells it (issue 9, fault 2). The job stopping shoald's own
 * unit says it: `restart` (the agent comes back: keep every unit and the lease), `stop` (for good: the
 * machine leaves, see Agent.leave), or none (a bare SIGTERM: treated like a restart, the safe side).
 * A machine going down (SystemState `stopping`) is `poweroff`: the lease is given up at once.
 */
import { withDeadline } from '../abort';
import type { Logger } from '../log';
import type { Systemd } from './systemd';

/** What a SIGTERM means for the agent. */
export type ShutdownKind = 'poweroff' | 'stop' | 'restart';

/** Deadline of asking systemd, ms: an unanswered bus must not hold up the stop. */
const ASK_MS = 2000;

/** Asks systemd (bounded) how this process is being stopped; `restart` when it cannot tell. */
export async function shutdownKind(systemd: Systemd, log: Logger, pid = process.pid): Promise<ShutdownKind> {
  try {
    if ((await withDeadline(systemd.systemState(), ASK_MS, 'systemd.timeout', 'systemd SystemState')) === 'stopping') return 'poweroff';
    const job = await withDeadline(systemd.jobOfUnitByPid(pid), ASK_MS, 'systemd.timeout', 'systemd job of shoald');
    log.info('shoald is stopped by systemd', { job: job ?? 'none' });
    return job === 'stop' ? 'stop' : 'restart';
  } catch (err) {
    log.warn('cannot tell a stop from a restart; keeping units as for a restart', { err: String(err) });
    return 'restart';
  }
}
