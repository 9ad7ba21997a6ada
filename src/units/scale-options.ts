/**
 * A group's autoscaling options from `[X-Shoal]` (docs/autoscaling.md): `ScaleMin=`, `ScaleMax=`,
 * `ScaleCPU=` / `ScaleMemory=` (target average use per instance, a percentage of its reservation),
 * `ScaleUpWindow=` / `ScaleDownWindow=` (stabilization windows, as Kubernetes' HPA behavior). Pure.
 */
import type { ResourceRequest, UnitEntry, UnitFile, UnitName } from './types';
import { sectionEntries } from './unit-file';
import { entryError, type EntryContext } from './option-errors';
import { MAX_INSTANCES, parseDuration } from './group-options';

/** The [X-Shoal] keys this file reads. */
export const SCALE_KEYS = ['ScaleMin', 'ScaleMax', 'ScaleCPU', 'ScaleMemory', 'ScaleUpWindow', 'ScaleDownWindow'] as const;

/** How the leader scales a group. Percentages are of the per-instance base; times in ms. */
export interface ScaleOptions {
  min: number;
  max: number;
  /** Target average CPU per instance, % of its CPU reservation (CPU=/CPUQuota=), or of one core without one. */
  cpuPercent?: number;
  /** Target average memory per instance, % of its memory reservation (Memory=/MemoryMax=; required). */
  memoryPercent?: number;
  /** Per-instance bases the percentages are of: millicores and bytes. */
  cpuBaseMillis: number;
  memoryBaseBytes: number;
  /** A scale-up takes the lowest recommendation of this window (default 0: at once). */
  upWindowMs: number;
  /** A scale-down takes the highest recommendation of this window (default 5 min, Kubernetes' default). */
  downWindowMs: number;
}

/** Scale-down stabilization by default: Kubernetes HPA's 300 s. */
export const DEFAULT_DOWN_WINDOW_MS = 300_000;

/** `70%`, `12.5%`: a percentage from 1 % to 1000 %; throws Error(message) otherwise. */
export function parsePercent(v: string): number {
  const m = /^(\d{1,4}(?:\.\d{1,2})?)%$/.exec(v.trim());
  if (!m) throw new Error(`${JSON.stringify(v)} is not a percentage (e.g. 70%)`);
  const n = Number(m[1]);
  if (n < 1 || n > 1000) throw new Error(`${JSON.stringify(v)} is out of range (1% to 1000%)`);
  return n;
}

function count(v: string): number {
  if (!/^\d{1,9}$/.test(v) || Number(v) > MAX_INSTANCES) throw new Error(`${JSON.stringify(v)} is not a whole number from 0 to ${MAX_INSTANCES}`);
  return Number(v);
}

/**
 * Reads the Scale* keys (the last non-empty assignment wins); undefined when none is set. Throws
 * ValidationError `unit.bad-option` at the offending line: a malformed value, Scale* on a unit that is
 * not a template, ScaleMin > ScaleMax, no ScaleMax or no target, ScaleMemory without a memory reservation.
 * An instance (web@3) carries its template's text: its Scale* keys are the group's and are not checked again.
 */
export function parseScaleOptions(file: UnitFile, name: UnitName, resources: ResourceRequest, opts: { file?: string } = {}): ScaleOptions | undefined {
  const ctx: EntryContext = { file: opts.file, section: 'X-Shoal' };
  const byKey = new Map<string, UnitEntry>();
  for (const e of sectionEntries(file, 'X-Shoal')) {
    if (!(SCALE_KEYS as readonly string[]).includes(e.key)) continue;
    if (e.value === '') byKey.delete(e.key); else byKey.set(e.key, e);
  }
  if (byKey.size === 0 || name.template !== undefined) return undefined;
  const first = [...byKey.values()].sort((a, b) => a.line - b.line)[0];
  if (!name.isTemplate) {
    throw entryError('unit.bad-option', `${first.key}= is only for groups (a template name@.${name.type} with Instances=); ${name.name} is a single unit`, ctx, first);
  }
  const read = <T>(key: string, f: (v: string) => T): T | undefined => {
    const e = byKey.get(key);
    if (!e) return undefined;
    try { return f(e.value); } catch (err) { throw entryError('unit.bad-option', `${key}=${(err as Error).message.startsWith('"') ? '' : ' '}${(err as Error).message}`, ctx, e); }
  };
  // at least 1: a group of none reports no use, so nothing could ever scale it up again
  const min = read('ScaleMin', (v) => { const n = count(v); if (n < 1) throw new Error(`${JSON.stringify(v)}: ScaleMin must be at least 1 (a group of none reports no load to scale up on)`); return n; }) ?? 1;
  const max = read('ScaleMax', count);
  const cpuPercent = read('ScaleCPU', parsePercent);
  const memoryPercent = read('ScaleMemory', parsePercent);
  const upWindowMs = read('ScaleUpWindow', parseDuration) ?? 0;
  const downWindowMs = read('ScaleDownWindow', parseDuration) ?? DEFAULT_DOWN_WINDOW_MS;
  if (max === undefined) throw entryError('unit.bad-option', 'ScaleMax= is required to autoscale (the most instances the group may get)', ctx, first);
  if (min > max) throw entryError('unit.bad-option', `ScaleMin=${min} is more than ScaleMax=${max}`, ctx, byKey.get('ScaleMin')!);
  if (cpuPercent === undefined && memoryPercent === undefined) {
    throw entryError('unit.bad-option', 'autoscaling needs a target: ScaleCPU= or ScaleMemory= (e.g. ScaleCPU=70%)', ctx, first);
  }
  if (memoryPercent !== undefined && resources.memoryBytes === 0) {
    throw entryError('unit.bad-option', 'ScaleMemory= is a percentage of the memory each instance reserves: set Memory= (or MemoryMax=)', ctx, byKey.get('ScaleMemory')!);
  }
  const out: ScaleOptions = {
    min, max, upWindowMs, downWindowMs, cpuBaseMillis: resources.cpuMillis || 1000, memoryBaseBytes: resources.memoryBytes,
  };
  if (cpuPercent !== undefined) out.cpuPercent = cpuPercent;
  if (memoryPercent !== undefined) out.memoryPercent = memoryPercent;
  return out;
}
