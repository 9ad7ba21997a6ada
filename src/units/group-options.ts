/**
 * A unit's group, health and update options from `[X-Shoal]`: `Instances=` (a template's instance count),
 * health checks (`HealthCheck=`, `HealthCheckHTTP=`, `HealthCheckTCP=`, `HealthInterval=`, `HealthTimeout=`,
 * `HealthRetries=`, `MinHealthyTime=`) and rolling updates (`UpdateParallel=`, `HealthyDeadline=`,
 * `AutoRevert=`, `Canary=`). Pure. Durations take systemd's time spans (`500ms`, `10s`, `5min`, `1h`; bare = s).
 */
import type { UnitEntry, UnitFile, UnitName } from './types';
import { sectionEntries } from './unit-file';
import { entryError, type EntryContext } from './option-errors';

/** The [X-Shoal] keys this file reads. */
export const GROUP_KEYS = [
  'Instances', 'HealthCheck', 'HealthCheckHTTP', 'HealthCheckTCP', 'HealthInterval', 'HealthTimeout', 'HealthRetries',
  'MinHealthyTime', 'UpdateParallel', 'HealthyDeadline', 'AutoRevert', 'Canary',
] as const;

/** How the agent decides a unit is healthy (docs/groups.md). Times in ms. */
export interface HealthOptions {
  /** A command run on the unit's machine with /bin/sh -c; exit 0 = healthy. */
  command?: string;
  /** An http:// URL; any 2xx = healthy. */
  http?: string;
  /** `host:port` that must accept a TCP connection. */
  tcp?: string;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failed checks that make the unit unhealthy (and restart it). */
  retries: number;
  /** Active without a restart for this long before it counts as healthy. */
  minHealthyMs: number;
}

/** How a replaced unit or group is rolled out. Times in ms. */
export interface UpdateOptions {
  parallel: number;
  healthyDeadlineMs: number;
  autoRevert: boolean;
  /** Instances that run the new version first and wait for `shoalctl promote` (0 = none). */
  canary: number;
}

/** Defaults: checks every 10 s with a 5 s deadline, 3 retries, 10 s MinHealthyTime; one instance at a time, 5 min deadline. */
export const HEALTH_DEFAULTS: HealthOptions = { intervalMs: 10_000, timeoutMs: 5_000, retries: 3, minHealthyMs: 10_000 };
export const UPDATE_DEFAULTS: UpdateOptions = { parallel: 1, healthyDeadlineMs: 300_000, autoRevert: false, canary: 0 };

/** The largest group: beyond this a count is surely a typo (and would flood etcd). */
export const MAX_INSTANCES = 10_000;

const SPAN: Record<string, number> = {
  '': 1000, us: 0.001, ms: 1, s: 1000, sec: 1000, second: 1000, seconds: 1000, m: 60_000, min: 60_000, minute: 60_000,
  minutes: 60_000, h: 3_600_000, hr: 3_600_000, hour: 3_600_000, hours: 3_600_000, d: 86_400_000, day: 86_400_000, days: 86_400_000,
};

/** A systemd time span (`1min 30s`, `500ms`, `10`) in ms; throws Error(message) when malformed or over a day. */
export function parseDuration(v: string): number {
  const parts = v.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) throw new Error('empty time span');
  let ms = 0;
  for (const p of parts.flatMap((x) => x.match(/\d+(?:\.\d+)?[a-z]*/g) ?? [x])) {
    const m = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(p);
    if (!m || !(m[2] in SPAN)) throw new Error(`${JSON.stringify(v)} is not a time span (e.g. 500ms, 10s, 5min)`);
    ms += Number(m[1]) * SPAN[m[2]];
  }
  if (ms > 86_400_000) throw new Error(`${JSON.stringify(v)} is more than a day`);
  return Math.round(ms);
}

function int(v: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`${JSON.stringify(v)} is not a whole number from ${min} to ${max}`);
  return Number(v);
}

function bool(v: string): boolean {
  if (['1', 'yes', 'true', 'on'].includes(v.toLowerCase())) return true;
  if (['0', 'no', 'false', 'off'].includes(v.toLowerCase())) return false;
  throw new Error(`${JSON.stringify(v)} is not a boolean (true/false, yes/no, 1/0, on/off)`);
}

function checkUrl(v: string): string {
  let u: URL;
  try { u = new URL(v); } catch { throw new Error(`${JSON.stringify(v)} is not a URL`); }
  if (u.protocol !== 'http:') throw new Error(`${JSON.stringify(v)}: only http:// URLs are checked`);
  return v;
}

function checkHostPort(v: string): string {
  const m = /^(.+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535 || /\s/.test(m[1])) throw new Error(`${JSON.stringify(v)} is not host:port`);
  return v;
}

/** What parseGroupOptions read; `instances` only on templates. */
export interface GroupOptions {
  instances?: number;
  health: HealthOptions;
  update: UpdateOptions;
  /** True when any health check (command, HTTP, TCP) is set. */
  hasCheck: boolean;
}

/**
 * Reads the group, health and update keys of `[X-Shoal]` (the last non-empty assignment wins).
 * Throws ValidationError `unit.bad-option` at the offending line: malformed values, `Instances=` on a
 * unit that is not a template, `Canary=` larger than `Instances=`.
 */
export function parseGroupOptions(file: UnitFile, name: UnitName, opts: { file?: string } = {}): GroupOptions {
  const ctx: EntryContext = { file: opts.file, section: 'X-Shoal' };
  const byKey = new Map<string, UnitEntry>();
  for (const e of sectionEntries(file, 'X-Shoal')) {
    if (!(GROUP_KEYS as readonly string[]).includes(e.key)) continue;
    if (e.value === '') byKey.delete(e.key); else byKey.set(e.key, e);
  }
  const read = <T>(key: string, f: (v: string) => T): T | undefined => {
    const e = byKey.get(key);
    if (!e) return undefined;
    try { return f(e.value); } catch (err) { throw entryError('unit.bad-option', `${key}=${(err as Error).message.startsWith('"') ? '' : ' '}${(err as Error).message}`, ctx, e); }
  };
  const health: HealthOptions = {
    command: read('HealthCheck', (v) => v),
    http: read('HealthCheckHTTP', checkUrl),
    tcp: read('HealthCheckTCP', checkHostPort),
    intervalMs: read('HealthInterval', parseDuration) ?? HEALTH_DEFAULTS.intervalMs,
    timeoutMs: read('HealthTimeout', parseDuration) ?? HEALTH_DEFAULTS.timeoutMs,
    retries: read('HealthRetries', (v) => int(v, 1, 100)) ?? HEALTH_DEFAULTS.retries,
    minHealthyMs: read('MinHealthyTime', parseDuration) ?? HEALTH_DEFAULTS.minHealthyMs,
  };
  for (const k of ['command', 'http', 'tcp'] as const) if (health[k] === undefined) delete health[k];
  if (health.intervalMs < 100) throw entryError('unit.bad-option', 'HealthInterval= must be at least 100ms', ctx, byKey.get('HealthInterval')!);
  if (health.timeoutMs < 10) throw entryError('unit.bad-option', 'HealthTimeout= must be at least 10ms', ctx, byKey.get('HealthTimeout')!);
  const update: UpdateOptions = {
    parallel: read('UpdateParallel', (v) => int(v, 1, MAX_INSTANCES)) ?? UPDATE_DEFAULTS.parallel,
    healthyDeadlineMs: read('HealthyDeadline', parseDuration) ?? UPDATE_DEFAULTS.healthyDeadlineMs,
    autoRevert: read('AutoRevert', bool) ?? UPDATE_DEFAULTS.autoRevert,
    canary: read('Canary', (v) => int(v, 0, MAX_INSTANCES)) ?? UPDATE_DEFAULTS.canary,
  };
  const out: GroupOptions = { health, update, hasCheck: !!(health.command || health.http || health.tcp) };
  const inst = byKey.get('Instances');
  if (inst && name.template === undefined) { // an instance carries its template's text: its Instances= is the group's
    if (!name.isTemplate) {
      throw entryError('unit.bad-option', `Instances= is only for templates (name@.${name.type}); ${name.name} is a single unit`, ctx, inst);
    }
    out.instances = read('Instances', (v) => int(v, 0, MAX_INSTANCES));
    if (update.canary > out.instances!) {
      throw entryError('unit.bad-option', `Canary=${update.canary} is more than Instances=${out.instances}`, ctx, byKey.get('Canary')!);
    }
  }
  return out;
}
