/** Decoding of stored values into typed records; a value shoal did not write fails with `etcd.bad-value`. */
import type { CordonRecord, DrainProgress } from '../drain/types';
import { ShoalError } from '../errors';
import { TARGET_STATES, type TargetState } from '../units/types';
import type { BadValue, MachineLoad, MachineRecord, UnitRecord, UnitStateRecord, UnitUsage } from './registry';
import type { AutoscaleRecord } from '../autoscale/types';
import type { Deployment, UnitVersion } from '../deploy/types';
import type { JobRecord } from '../jobs/types';
import { parseUnitName } from '../units/unit-name';

function bad(key: string, why: string): ShoalError {
  return new ShoalError('etcd.bad-value', `${key}: ${why}`, { details: { key } });
}

function parseJson(key: string, raw: string): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(raw); } catch { throw bad(key, 'not JSON'); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(key, 'not a JSON object');
  return v as Record<string, unknown>;
}

function str(key: string, o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== 'string') throw bad(key, `field ${field} is not a string`);
  return v;
}

/** units/<name>: the record's name must be the key's and a valid unit name (the API's validator). */
export function decodeUnit(key: string, raw: string): UnitRecord {
  const o = parseJson(key, raw);
  const name = str(key, o, 'name');
  if (!key.endsWith(`/${name}`)) throw bad(key, `holds unit ${JSON.stringify(name)}, not the unit its key names`);
  try { parseUnitName(name); } catch (err) { throw bad(key, (err as Error).message); }
  return { name, text: str(key, o, 'text'), hash: str(key, o, 'hash') };
}

/**
 * A stored unit as a writer sees it before overwriting: a bad value counts as a unit with another hash
 * (hash '': `--replace` overwrites it, a plain submit says it exists), never as an error for the batch.
 */
export function decodeUnitForWrite(key: string, raw: string): UnitRecord {
  try {
    return decodeUnit(key, raw);
  } catch (err) {
    badValue(err, key); // rethrows anything but a bad value
    return { name: key.slice(key.lastIndexOf('/') + 1), text: '', hash: '' };
  }
}

/** desired/<name> for a writer: a bad value counts as unset. */
export function decodeDesiredForWrite(key: string, raw: string): TargetState | null {
  try {
    return decodeDesired(key, raw);
  } catch (err) {
    badValue(err, key);
    return null;
  }
}

/** A decode failure as a BadValue (other errors are rethrown). */
export function badValue(err: unknown, key: string, unit?: string): BadValue {
  if (!(err instanceof ShoalError) || err.code !== 'etcd.bad-value') throw err;
  return { key, reason: err.message.startsWith(`${key}: `) ? err.message.slice(key.length + 2) : err.message, ...(unit ? { unit } : {}) };
}

/** desired/<name> */
export function decodeDesired(key: string, raw: string): TargetState {
  if (!(TARGET_STATES as readonly string[]).includes(raw)) throw bad(key, `unknown target state "${raw}"`);
  return raw as TargetState;
}

/** machines/<id> */
export function decodeMachine(key: string, raw: string): MachineRecord {
  const o = parseJson(key, raw);
  const cap = (o.capacity ?? {}) as Record<string, unknown>;
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) metadata[k] = String(v);
  return {
    id: str(key, o, 'id'),
    address: typeof o.address === 'string' ? o.address : undefined,
    metadata,
    capacity: {
      cpuMillis: Number(cap.cpuMillis ?? 0) || 0, memoryBytes: Number(cap.memoryBytes ?? 0) || 0,
      ...(Number(cap.diskBytes ?? 0) > 0 ? { diskBytes: Number(cap.diskBytes) } : {}),
    },
    version: typeof o.version === 'string' ? o.version : '',
    startedAt: typeof o.startedAt === 'string' ? o.startedAt : '',
    session: typeof o.session === 'string' ? o.session : undefined,
    leaving: o.leaving === true ? true : undefined,
  };
}

/** states/<name>/<machine> */
export function decodeState(key: string, raw: string): UnitStateRecord {
  const o = parseJson(key, raw);
  return {
    loadState: str(key, o, 'loadState'),
    activeState: str(key, o, 'activeState'),
    subState: str(key, o, 'subState'),
    hash: typeof o.hash === 'string' ? o.hash : '',
    mainPid: typeof o.mainPid === 'number' ? o.mainPid : undefined,
    since: typeof o.since === 'string' ? o.since : '',
    ...(typeof o.health === 'string' ? { health: o.health as UnitStateRecord['health'] } : {}),
    ...(typeof o.healthRestarts === 'number' ? { healthRestarts: o.healthRestarts } : {}),
    ...(typeof o.healthOutput === 'string' ? { healthOutput: o.healthOutput } : {}),
    ...(typeof o.reason === 'string' && o.reason ? { reason: o.reason } : {}),
    ...(decodeExit(o.exit) ?? {}),
  };
}

function decodeExit(v: unknown): { exit: UnitStateRecord['exit'] } | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (typeof e.result !== 'string' || typeof e.code !== 'string' || typeof e.status !== 'number') return undefined;
  return { exit: { result: e.result, code: e.code, status: e.status, startMs: Number(e.startMs) || 0, endMs: Number(e.endMs) || 0 } };
}

/** jobs/<name> */
export function decodeJob(key: string, raw: string): JobRecord {
  const o = parseJson(key, raw);
  for (const f of ['unit', 'hash', 'status', 'kind']) str(key, o, f);
  if (o.kind === 'run' && !Array.isArray(o.runs)) throw bad(key, 'not a job record');
  if (o.kind !== 'run' && o.kind !== 'completions' && o.kind !== 'timer') throw bad(key, `unknown job kind "${String(o.kind)}"`);
  return o as unknown as JobRecord;
}

/** groups/<template>: a whole number ≥ 0. */
export function decodeCount(key: string, raw: string): number {
  if (!/^\d{1,9}$/.test(raw)) throw bad(key, `not a count: "${raw}"`);
  return Number(raw);
}

/** history/<name>: [{hash, text, time}] */
export function decodeHistory(key: string, raw: string): UnitVersion[] {
  let v: unknown;
  try { v = JSON.parse(raw); } catch { throw bad(key, 'not JSON'); }
  if (!Array.isArray(v)) throw bad(key, 'not a JSON array');
  return v.map((e) => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    return { hash: str(key, o, 'hash'), text: str(key, o, 'text'), time: Number(o.time) || 0 };
  });
}

/** deployments/<name> */
export function decodeDeployment(key: string, raw: string): Deployment {
  const o = parseJson(key, raw);
  for (const f of ['unit', 'id', 'target', 'status']) str(key, o, f);
  if (typeof o.to !== 'object' || o.to === null || !Array.isArray(o.inFlight)) throw bad(key, 'not a deployment');
  return o as unknown as Deployment;
}

function num(key: string, o: Record<string, unknown>, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(key, `field ${field} is not a number ≥ 0`);
  return v;
}

/** load/<machine> */
export function decodeLoad(key: string, raw: string): MachineLoad {
  const o = parseJson(key, raw);
  const units: Record<string, UnitUsage> = {};
  const u = o.units;
  if (typeof u !== 'object' || u === null || Array.isArray(u)) throw bad(key, 'field units is not an object');
  for (const [name, x] of Object.entries(u as Record<string, unknown>)) {
    if (typeof x !== 'object' || x === null) throw bad(key, `units.${name} is not an object`);
    const r = x as Record<string, unknown>;
    units[name] = { cpuMillis: num(key, r, 'cpuMillis'), ...(typeof r.memoryBytes === 'number' ? { memoryBytes: r.memoryBytes } : {}) };
  }
  return {
    at: str(key, o, 'at'), cpuMillis: num(key, o, 'cpuMillis'), cpuTotalMillis: num(key, o, 'cpuTotalMillis'),
    memAvailableBytes: num(key, o, 'memAvailableBytes'), memTotalBytes: num(key, o, 'memTotalBytes'),
    diskFreeBytes: num(key, o, 'diskFreeBytes'), diskTotalBytes: num(key, o, 'diskTotalBytes'), units,
  };
}

/** autoscale/<template> */
export function decodeAutoscale(key: string, raw: string): AutoscaleRecord {
  const o = parseJson(key, raw);
  str(key, o, 'template');
  if (!Array.isArray(o.decisions)) throw bad(key, 'field decisions is not an array');
  return o as unknown as AutoscaleRecord;
}

/** cordon/<machine> */
export function decodeCordon(key: string, raw: string): CordonRecord {
  const o = parseJson(key, raw);
  const since = Number(o.since);
  if (!Number.isFinite(since)) throw bad(key, 'not a cordon record');
  const out: CordonRecord = { since, by: typeof o.by === 'string' ? o.by : '' };
  if (o.drain !== undefined) {
    const d = (typeof o.drain === 'object' && o.drain !== null ? o.drain : {}) as Record<string, unknown>;
    if (typeof d.id !== 'string' || !Number.isFinite(Number(d.startedAt)) || !Number.isFinite(Number(d.deadlineAt))) throw bad(key, 'not a drain request');
    out.drain = { id: d.id, startedAt: Number(d.startedAt), deadlineAt: Number(d.deadlineAt) };
  }
  return out;
}

/** drains/<machine> */
export function decodeDrainProgress(key: string, raw: string): DrainProgress {
  const o = parseJson(key, raw);
  for (const f of ['id', 'machine', 'status']) str(key, o, f);
  if (!Array.isArray(o.moved) || !Array.isArray(o.stuck) || !Array.isArray(o.waiting)) throw bad(key, 'not a drain progress record');
  return o as unknown as DrainProgress;
}
