/**
 * Why a unit the agent runs is not running as desired, in words, for its reported `reason` (what
 * `shoalctl list-units` shows as REASON, `status` as its `shoal:` line, events as `unit.failed`): from
 * systemd's Result and how the main process last ended (systemd.exec(5) "Process Exit Codes"), the unit's
 * start rate limit, and its health restarts (src/health/monitor.ts). Pure.
 */
import type { RestartStatus } from '../health/monitor';
import type { SystemdUnitState } from './systemd';

/** What the reason is made of: systemd's view of the unit, and its health restarts when it has checks here. */
export interface ReasonInput {
  activeState: string;
  /** systemd's Result of a service that is not running. */
  result?: string;
  exit?: SystemdUnitState['exit'];
  startLimit?: SystemdUnitState['startLimit'];
  /** Its Restart= policy and NRestarts. */
  restart?: SystemdUnitState['restart'];
  health?: RestartStatus;
}

/** systemd's own exit statuses of a service's processes (systemd.exec(5)): the step that failed before or instead of ExecStart=. */
const SYSTEMD_EXIT: Record<number, string> = {
  200: 'CHDIR', 203: 'EXEC', 204: 'MEMORY', 205: 'LIMITS', 206: 'OOM_ADJUST', 208: 'STDIN', 209: 'STDOUT', 210: 'CHROOT',
  214: 'SETSCHEDULER', 216: 'GROUP', 217: 'USER', 218: 'CAPABILITIES', 219: 'CGROUP', 220: 'SETSID', 222: 'STDERR',
  224: 'PAM', 226: 'NAMESPACE', 228: 'SECCOMP', 233: 'RUNTIME_DIRECTORY', 238: 'STATE_DIRECTORY', 243: 'CREDENTIALS',
};
/** What a few of them mean for the unit file. */
const SYSTEMD_EXIT_HINT: Record<number, string> = {
  200: 'WorkingDirectory= cannot be entered', 203: 'systemd could not run ExecStart=', 216: 'Group= unknown', 217: 'User= unknown',
};
const SIGNALS: Record<number, string> = { 1: 'HUP', 2: 'INT', 3: 'QUIT', 4: 'ILL', 6: 'ABRT', 7: 'BUS', 8: 'FPE', 9: 'KILL', 11: 'SEGV', 13: 'PIPE', 15: 'TERM' };

/** How the main process last ended: `exited with status 1`, `killed by signal 9/KILL`; undefined when unknown. */
export function describeExit(exit: SystemdUnitState['exit']): string | undefined {
  if (!exit) return undefined;
  if (exit.code === 'exited') {
    const name = SYSTEMD_EXIT[exit.status];
    const hint = SYSTEMD_EXIT_HINT[exit.status];
    return `main process exited with status ${exit.status}${name ? `/${name}` : ''}${hint ? ` (${hint})` : ''}`;
  }
  const sig = `signal ${exit.status}${SIGNALS[exit.status] ? `/${SIGNALS[exit.status]}` : ''}`;
  if (exit.code === 'killed') return `main process killed by ${sig}`;
  if (exit.code === 'dumped') return `main process dumped core (${sig})`;
  return undefined;
}

/** A systemd time span as a unit file writes it: `10s`, `1h`, `1min 30s`, `500ms`. */
export function formatSpan(ms: number): string {
  if (ms <= 0) return '0';
  const parts: string[] = [];
  let left = Math.round(ms);
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (left >= size) { parts.push(`${Math.floor(left / size)}${unit}`); left %= size; }
  }
  return parts.join(' ');
}

function healthRestarts(h: RestartStatus): string {
  return `restarted ${h.restarts} time${h.restarts === 1 ? '' : 's'} for failing its health check${h.output ? ` (last: ${h.output})` : ''}`;
}

/**
 * Whether its Restart= policy restarts a service that ended with `result` (systemd's service_shall_restart). A
 * service that should be running, left failed by a policy that restarts it, was stopped by its start rate limit:
 * systemd 252 keeps the run's Result (`exit-code`) then, and says "Start request repeated too quickly" only in the journal.
 */
export function policyRestarts(policy: string, result: string): boolean {
  switch (policy) {
    case 'always': return result !== 'skip-condition';
    case 'on-failure': return result !== 'success' && result !== 'skip-condition';
    case 'on-abnormal': return !['success', 'exit-code', 'skip-condition'].includes(result);
    case 'on-watchdog': return result === 'watchdog';
    case 'on-abort': return result === 'signal' || result === 'core-dump';
    default: return false;
  }
}

/** True when systemd refused to start it again because of its start rate limit. */
function startLimitHit(x: ReasonInput): boolean {
  if (x.result === 'start-limit-hit') return true;
  if (!x.restart || !x.result || x.restart.count === 0 || !policyRestarts(x.restart.policy, x.result)) return false;
  if (x.startLimit && (x.startLimit.burst === 0 || x.startLimit.intervalMs === 0)) return false; // no limit (StartLimitIntervalSec=0)
  return !(x.exit?.code === 'exited' && x.restart.preventExitStatus.includes(x.exit.status)); // RestartPreventExitStatus=
}

/** Why systemd ended it in `failed`: its Result in words. */
function failedBecause(x: ReasonInput): string {
  const ran = describeExit(x.exit);
  if (startLimitHit(x)) {
    const limit = x.startLimit && x.startLimit.burst > 0
      ? `systemd StartLimitBurst=${x.startLimit.burst} in StartLimitIntervalSec=${formatSpan(x.startLimit.intervalMs)}`
      : 'systemd StartLimitBurst=';
    const causes: string[] = [];
    if (x.health && x.health.restarts > 0) causes.push(healthRestarts(x.health));
    if (x.restart && x.restart.count > 0 && x.result !== 'start-limit-hit') {
      causes.push(`systemd restarted it ${x.restart.count} time${x.restart.count === 1 ? '' : 's'} (Restart=${x.restart.policy})`);
    }
    if (ran && !(x.health && x.health.restarts > 0)) causes.push(ran);
    return `start rate limit hit (${limit}): ${causes.join(', ') || 'started too often'}; stop and start it to try again`;
  }
  switch (x.result) {
    case 'exit-code': case 'signal': case 'core-dump': return ran ?? `failed (systemd Result=${x.result})`;
    case 'timeout': return 'timed out (TimeoutStartSec=/TimeoutStopSec=/RuntimeMaxSec=)';
    case 'watchdog': return 'watchdog timeout (WatchdogSec=)';
    case 'oom-kill': return 'killed by the kernel\'s OOM killer';
    case 'resources': return 'systemd could not set up its resources (a missing directory, user or file: see shoalctl journal)';
    case undefined: case '': return ran ?? 'failed (see shoalctl status)';
    default: return `failed (systemd Result=${x.result})${ran ? `: ${ran}` : ''}`;
  }
}

/**
 * The reason to report, or undefined when there is nothing to say: a failed unit says why systemd gave up on
 * it (and its health restarts, when they led there); a running unit whose due health restart waits for its
 * backoff says so, with the failing check.
 */
export function unitReason(x: ReasonInput): string | undefined {
  if (x.activeState === 'failed') {
    // systemd's signal came, the read of how it ended has not yet (the agent reports again once it has)
    if (x.result === undefined && x.exit === undefined) return undefined;
    const why = failedBecause(x);
    return x.health && x.health.restarts > 0 && !startLimitHit(x) ? `${why}; ${healthRestarts(x.health)}` : why;
  }
  const h = x.health;
  if (h?.backoffMs !== undefined) {
    return `health check failed ${h.retries} time${h.retries === 1 ? '' : 's'} in a row (HealthRetries=${h.retries}${h.output ? `; last: ${h.output}` : ''}); `
      + `next restart in ${Math.max(1, Math.round(h.backoffMs / 1000))} s (backoff after ${h.restarts} restart${h.restarts === 1 ? '' : 's'})`;
  }
  return undefined;
}
