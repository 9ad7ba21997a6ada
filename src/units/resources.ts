/**
 * What a unit reserves (`[X-Shoal] CPU=` / `Memory=` / `Disk=`, else the unit's own `[Service] CPUQuota=` /
 * `MemoryMax=` / `MemoryLimit=`) and its placement strategy (`[X-Shoal] Strategy=`). Pure.
 * An explicit [X-Shoal] value wins per resource: systemd limits are caps, not reservations.
 */
import { PLACEMENT_STRATEGIES, type PlacementStrategy, type ResourceRequest, type UnitEntry, type UnitFile } from './types';
import { sectionEntries } from './unit-file';
import { entryError, unknownKey, type EntryContext } from './option-errors';
import { GROUP_KEYS } from './group-options';
import { SCALE_KEYS } from './scale-options';

import { JOB_KEYS } from './job-options';

const SHOAL_KEYS = ['CPU', 'Memory', 'Disk', 'Strategy', ...GROUP_KEYS, ...SCALE_KEYS, ...JOB_KEYS];
import { parsePermyriad, parseSystemdSize } from './systemd-values';

/** The section shoal's own scheduling options live in. */
export const SHOAL_SECTION = 'X-Shoal';

/** Largest request accepted: 1,000,000 cores / 2^50 bytes (1 PiB); beyond is surely a typo. */
const MAX_CPU_MILLIS = 1_000_000_000;
const MAX_MEMORY = 2 ** 50;

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parse `500m`, `1.5`, `2` into millicores; throws Error(message) when malformed or finer than 1m. */
export function parseCpu(v: string): number {
  const m = /^(\d{1,10})(?:\.(\d{1,9}))?(m?)$/.exec(v);
  if (!m) throw new Error(`CPU ${JSON.stringify(v)} is not a number of cores (e.g. 2, 1.5) or millicores (e.g. 500m)`);
  const [, whole, frac = '', milli] = m;
  let millis: number;
  if (milli) {
    if (frac) throw new Error(`CPU ${JSON.stringify(v)}: millicores must be a whole number`);
    millis = Number(whole);
  } else {
    if (frac.replace(/0+$/, '').length > 3) throw new Error(`CPU ${JSON.stringify(v)} is finer than 1m (0.001 core)`);
    millis = Number(whole) * 1000 + Number(frac.padEnd(3, '0').slice(0, 3));
  }
  if (millis > MAX_CPU_MILLIS) throw new Error(`CPU ${JSON.stringify(v)} is more than ${MAX_CPU_MILLIS / 1000} cores`);
  return millis;
}

/** Parse a systemd-style size: bytes, or K/M/G/T (1024-based), decimals allowed (`1.5G`). Throws Error(message). */
export function parseMemory(v: string): number {
  const m = /^(\d{1,16})(?:\.(\d{1,9}))?([BKMGT]?)$/.exec(v);
  if (!m) throw new Error(`size ${JSON.stringify(v)} is not bytes or a number with K, M, G or T (1024-based, e.g. 512M)`);
  const [, whole, frac = '', unit] = m;
  const bytes = Math.floor(Number(`${whole}.${frac || '0'}`) * UNITS[unit]);
  if (bytes > MAX_MEMORY) throw new Error(`size ${JSON.stringify(v)} is more than 1 PiB`);
  return bytes;
}

/**
 * systemd CPUQuota= as systemd 252 reads it (`150%`, `12.34%`, `5.5‰`, `50‱`; more than 100% allowed) in
 * millicores, rounded up; 1% = 10m. Throws Error(message) where systemd refuses it.
 */
export function parseCpuQuota(v: string): number {
  let r: number | undefined;
  try {
    r = parsePermyriad(v, false);
  } catch {
    r = undefined;
  }
  if (r === undefined || r <= 0) throw new Error(`CPUQuota ${JSON.stringify(v)} is not a percentage systemd accepts (more than 0, e.g. 150%, 12.5%, 5.5‰)`);
  return Math.min(Math.ceil(r / 10), MAX_CPU_MILLIS);
}

/**
 * systemd MemoryMax=/MemoryLimit= as systemd 252 reads them (config_parse_memory_limit): `infinity` and
 * a share of the machine's RAM (`50%`, `5‰`, at most 100%) reserve nothing definite (0); otherwise a size
 * (`512M`, `10.M`, `1G 512M`, `1.5G`; 1024-based K M G T P E). Bytes; throws Error(message) where
 * systemd refuses the value (including 0).
 */
export function parseMemoryLimit(v: string): number {
  if (v === 'infinity') return 0;
  let share: number | undefined;
  try {
    share = parsePermyriad(v, true);
  } catch {
    share = undefined; // systemd then tries it as a size, which fails for any `%`
  }
  if (share !== undefined) {
    if (share <= 0) throw new Error(`memory limit ${JSON.stringify(v)} is out of range (systemd refuses 0)`);
    return 0;
  }
  let bytes: bigint;
  try {
    bytes = parseSystemdSize(v);
  } catch (e) {
    throw new Error(`memory limit ${JSON.stringify(v)} is not a size systemd accepts (${(e as Error).message}; e.g. 512M, 1.5G, 1G 512M, infinity, 50%)`);
  }
  if (bytes <= 0n || bytes >= 2n ** 64n - 1n) throw new Error(`memory limit ${JSON.stringify(v)} is out of range (systemd refuses it)`);
  return Number(bytes);
}

/** Bytes for people: `512 B`, `1.5 KiB`, `600 MiB`, `8 GiB` (1024-based, at most one decimal). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const text = i === 0 ? String(v) : (Math.round(v * 10) / 10).toString();
  return `${text} ${units[i]}`;
}

/** The [Service] keys shoal reads. */
const SERVICE_KEYS = ['CPUQuota', 'MemoryMax', 'MemoryLimit'];

/** Resources and strategy read from a unit file. */
export interface ShoalOptions {
  resources: ResourceRequest;
  strategy?: PlacementStrategy;
}

/** The last non-reset value of `key` among `entries` (an empty assignment resets, as in systemd). */
function last(entries: UnitEntry[], key: string): UnitEntry | undefined {
  let out: UnitEntry | undefined;
  for (const e of entries) if (e.key === key) out = e.value === '' ? undefined : e;
  return out;
}

function parseAt<T>(ctx: EntryContext, e: UnitEntry, code: string, f: (v: string) => T): T {
  try {
    return f(e.value);
  } catch (err) {
    throw entryError(code, (err as Error).message, ctx, e);
  }
}

/**
 * Read `[X-Shoal]` (CPU, Memory, Strategy) and the `[Service]` fallbacks. Throws ValidationError
 * `unit.unknown-key`, `unit.bad-cpu`, `unit.bad-memory`, `unit.bad-disk` or `unit.bad-strategy` at the offending line.
 */
export function parseShoalOptions(file: UnitFile, opts: { file?: string } = {}): ShoalOptions {
  const sctx: EntryContext = { file: opts.file, section: SHOAL_SECTION };
  const shoal = sectionEntries(file, SHOAL_SECTION);
  for (const e of shoal) if (!SHOAL_KEYS.includes(e.key)) throw unknownKey(sctx, e, SHOAL_KEYS);
  const svcCtx: EntryContext = { file: opts.file, section: 'Service' };
  const svc = sectionEntries(file, 'Service');
  // systemd ignores a mis-cased key (`memorymax=`): the reservation shoal reads from it would silently vanish.
  for (const e of svc) {
    const meant = SERVICE_KEYS.find((k) => k !== e.key && k.toLowerCase() === e.key.toLowerCase());
    if (meant) throw entryError('unit.unknown-key', `systemd ignores ${JSON.stringify(e.key)} (keys are case-sensitive); did you mean ${meant}?`, svcCtx, e);
  }

  const cpuE = last(shoal, 'CPU');
  const quotaE = last(svc, 'CPUQuota');
  let cpuMillis = 0;
  if (cpuE) cpuMillis = parseAt(sctx, cpuE, 'unit.bad-cpu', parseCpu);
  else if (quotaE) cpuMillis = parseAt(svcCtx, quotaE, 'unit.bad-cpu', parseCpuQuota);

  const memE = last(shoal, 'Memory');
  // systemd prefers MemoryMax= over the deprecated MemoryLimit= when both are set, unless MemoryMax= is
  // infinity (cgroup.c: no unified memory config, so MemoryLimit= applies).
  const maxE = last(svc, 'MemoryMax');
  const capE = (maxE?.value === 'infinity' ? undefined : maxE) ?? last(svc, 'MemoryLimit') ?? maxE;
  let memoryBytes = 0;
  if (memE) memoryBytes = parseAt(sctx, memE, 'unit.bad-memory', parseMemory);
  else if (capE) memoryBytes = parseAt(svcCtx, capE, 'unit.bad-memory', parseMemoryLimit);

  const diskE = last(shoal, 'Disk');
  const diskBytes = diskE ? parseAt(sctx, diskE, 'unit.bad-disk', (v) => {
    try { return parseMemory(v); } catch { throw new Error(`Disk ${JSON.stringify(v)} is not bytes or a number with K, M, G or T (1024-based, e.g. 10G)`); }
  }) : 0;
  const out: ShoalOptions = { resources: diskBytes > 0 ? { cpuMillis, memoryBytes, diskBytes } : { cpuMillis, memoryBytes } };
  const stratE = last(shoal, 'Strategy');
  if (stratE) {
    if (!(PLACEMENT_STRATEGIES as readonly string[]).includes(stratE.value)) {
      throw entryError('unit.bad-strategy', `Strategy ${JSON.stringify(stratE.value)} is not one of ${PLACEMENT_STRATEGIES.join(', ')}`, sctx, stratE);
    }
    out.strategy = stratE.value as PlacementStrategy;
  }
  return out;
}
