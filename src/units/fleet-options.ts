/**
 * fleet's `[X-Fleet]` scheduling options with fleet's semantics (job/job.go), stricter where fleet
 * was silent: unknown keys, malformed metadata and unbalanced quotes are errors, not ignored. Pure.
 */
import { ValidationError } from '../errors';
import type { FleetOptions, UnitEntry, UnitFile, UnitName } from './types';
import { sectionEntries } from './unit-file';
import { GlobError, compileGlob, isGlob, matchUnitGlob } from './unit-glob';
import { instanceName, parseUnitName } from './unit-name';
import { expandSpecifiers } from './specifiers';
import { WordsError, splitFleetValues } from './words';
import { entryError, unknownKey, type EntryContext } from './option-errors';

/** The section fleet reads its scheduling options from. */
export const FLEET_SECTION = 'X-Fleet';

type FleetKey = 'MachineID' | 'MachineOf' | 'MachineMetadata' | 'Conflicts' | 'Global' | 'Replaces';

/** Current keys and fleet's deprecated spellings, which fleet still honoured. */
const KEYS: Record<string, FleetKey> = {
  MachineID: 'MachineID', 'X-ConditionMachineID': 'MachineID',
  MachineOf: 'MachineOf', 'X-ConditionMachineOf': 'MachineOf',
  MachineMetadata: 'MachineMetadata', 'X-ConditionMachineMetadata': 'MachineMetadata',
  Conflicts: 'Conflicts', 'X-Conflicts': 'Conflicts',
  Global: 'Global',
  Replaces: 'Replaces',
};

const TRUE = ['true', 'yes', '1', 'on', 't'];
const FALSE = ['false', 'no', '0', 'off', 'f'];

/** An empty FleetOptions: no constraint at all. */
export function emptyFleetOptions(): FleetOptions {
  return { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [] };
}

interface Collected {
  machineId?: { value: string; entry: UnitEntry };
  machineOf: string[];
  metadata: Map<string, string[]>;
  conflicts: string[];
  global: boolean;
  replaces: string[];
  /** First entry that set each key, to locate combination errors. */
  where: Partial<Record<FleetKey, UnitEntry>>;
}

/**
 * Read `[X-Fleet]` of `file` for unit `unit`. Specifiers are expanded unless the unit is a
 * template (its values are checked again when an instance is made). Throws ValidationError
 * (`unit.unknown-key`, `unit.bad-option`, `unit.option-conflict`) located at the offending line.
 */
export function parseFleetOptions(file: UnitFile, unit: UnitName, opts: { file?: string } = {}): FleetOptions {
  const ctx: EntryContext = { file: opts.file, section: FLEET_SECTION };
  const c: Collected = { machineOf: [], metadata: new Map(), conflicts: [], global: false, replaces: [], where: {} };
  for (const entry of sectionEntries(file, FLEET_SECTION)) {
    const key = KEYS[entry.key];
    if (key === undefined) {
      if (entry.key === 'X-ConditionMachineBootID') {
        throw entryError('unit.unknown-key', 'X-ConditionMachineBootID is a legacy fleet key shoal does not support; use MachineID=', ctx, entry);
      }
      throw unknownKey(ctx, entry, ['MachineID', 'MachineOf', 'MachineMetadata', 'Conflicts', 'Global', 'Replaces']);
    }
    c.where[key] ??= entry;
    applyEntry(c, key, entry, values(entry, unit, ctx), ctx, unit);
  }
  const out: FleetOptions = {
    machineOf: dedupe(c.machineOf),
    machineMetadata: Object.fromEntries(c.metadata),
    conflicts: dedupe(c.conflicts),
    global: c.global,
    replaces: dedupe(c.replaces),
  };
  if (c.machineId) out.machineId = c.machineId.value;
  checkCombinations(out, c, unit, ctx);
  return out;
}

/** The items of one entry: fleet's multi-value split, then specifier expansion for non-templates. */
function values(entry: UnitEntry, unit: UnitName, ctx: EntryContext): string[] {
  try {
    const items = splitFleetValues(entry.value);
    if (items.length === 0 && entry.value.trim() !== '') {
      // systemd: only `Key=` with nothing after it is an empty assignment; `Key=""` resetting would drop the constraint.
      throw entryError('unit.bad-option', `${entry.key}=${entry.value} has no value; an empty assignment (${entry.key}= with nothing after it) resets the option`, ctx, entry);
    }
    for (const v of items) {
      // Checked in templates too: no instance can make `MachineID=%m` valid.
      const left = /%([^nNpi%]|$)/.exec(v.replace(/%[nNpi%]/g, ''));
      if (left) {
        throw entryError('unit.bad-option', `${left[0] || '%'} in ${JSON.stringify(entry.value)} is never expanded: only %n %N %p %i %% are (as fleet), so it would stay literally in the value`, ctx, entry);
      }
    }
    return unit.isTemplate ? items : items.map((v) => expandSpecifiers(v, unit));
  } catch (e) {
    if (e instanceof WordsError) throw entryError('unit.bad-option', `${e.message} in ${JSON.stringify(entry.value)}`, ctx, entry);
    throw e;
  }
}

/** Values that still hold specifiers (in a template) cannot be checked until an instance exists. */
function deferred(unit: UnitName, v: string): boolean {
  return unit.isTemplate && v.includes('%');
}

function applyEntry(c: Collected, key: FleetKey, entry: UnitEntry, items: string[], ctx: EntryContext, unit: UnitName): void {
  const fail = (msg: string) => entryError('unit.bad-option', msg, ctx, entry);
  // An empty assignment resets the option, as in systemd.
  if (items.length === 0) return resetKey(c, key);
  switch (key) {
    case 'MachineID':
      for (const v of items) {
        if (deferred(unit, v)) neverMachineId(v, unit, fail);
        const id = deferred(unit, v) ? v : v.toLowerCase();
        if (!deferred(unit, v) && !/^[0-9a-f]{8,32}$/.test(id)) {
          throw fail(`MachineID ${JSON.stringify(v)} is not a machine id (32 hex characters, or a prefix of at least 8)`);
        }
        if (c.machineId && c.machineId.value !== id) {
          throw fail(`MachineID given twice with different values (${c.machineId.value} on line ${c.machineId.entry.line}, ${id} here)`);
        }
        c.machineId = { value: id, entry };
      }
      return;
    case 'MachineOf':
    case 'Replaces':
      for (const v of items) checkUnitRef(key, v, unit, fail);
      (key === 'MachineOf' ? c.machineOf : c.replaces).push(...items);
      return;
    case 'Conflicts':
      for (const v of items) checkGlob(v, fail, key);
      c.conflicts.push(...items);
      return;
    case 'MachineMetadata':
      for (const v of items) addMetadata(c.metadata, v, fail);
      return;
    case 'Global':
      if (items.length !== 1) throw fail(`Global takes one boolean, got ${items.length} values`);
      c.global = parseFleetBool(items[0], fail);
      return;
  }
}

function resetKey(c: Collected, key: FleetKey): void {
  if (key === 'MachineID') c.machineId = undefined;
  else if (key === 'MachineOf') c.machineOf = [];
  else if (key === 'Replaces') c.replaces = [];
  else if (key === 'Conflicts') c.conflicts = [];
  else if (key === 'MachineMetadata') c.metadata.clear();
  else c.global = false;
  delete c.where[key];
}

/** fleet's truthy/falsy words, case-insensitive; anything else is an error (fleet read it as false). */
export function parseFleetBool(v: string, fail: (msg: string) => Error): boolean {
  const l = v.toLowerCase();
  if (TRUE.includes(l)) return true;
  if (FALSE.includes(l)) return false;
  throw fail(`${JSON.stringify(v)} is not a boolean (use true/false, yes/no, 1/0, on/off)`);
}

function checkUnitRef(key: FleetKey, v: string, unit: UnitName, fail: (msg: string) => Error): void {
  if (deferred(unit, v)) {
    // `MachineOf=%n` (or `%p@%i.service`) names every instance itself: no instance could ever be placed.
    if (key === 'MachineOf' && ['x', 'yy2'].every((i) => { const n = parseUnitName(instanceName(unit.name, i)); return expandSpecifiers(v, n) === n.name; })) {
      throw fail(`MachineOf=${v} names each instance itself, so no instance of ${unit.name} could be placed`);
    }
    return;
  }
  if (key === 'Replaces') return checkGlob(v, fail, key); // fleet matches Replaces as globs too
  try {
    const n = parseUnitName(v);
    if (n.isTemplate) throw fail(`MachineOf=${v} names a template, which never runs; name an instance`);
  } catch (e) {
    if (e instanceof ValidationError && e.code === 'unit.bad-name') throw fail(`MachineOf: ${e.message}`);
    throw e;
  }
  if (v === unit.name) throw fail(`MachineOf=${v} names the unit itself`);
}

// A bad glob, or an exact name that is no unit name (`Conflicts=db`: no type suffix), would never match.
function checkGlob(v: string, fail: (msg: string) => Error, key: FleetKey): void {
  try {
    compileGlob(v);
  } catch (e) {
    if (e instanceof GlobError) throw fail(e.message);
    throw e;
  }
  if (isGlob(v) || v.includes('%')) return;
  try {
    parseUnitName(v);
  } catch (e) {
    if (e instanceof ValidationError && e.code === 'unit.bad-name') {
      const hint = v.includes('.') ? '' : ` (unit names end in a type: ${v}.service?)`;
      throw fail(`${key}=${v} can never match a unit: ${v} is not a unit name${hint}`);
    }
    throw e;
  }
}

// A template's MachineID= no instance can make a machine id: %n %N hold '@' and '.', %% is '%', and the
// text around %i (with %p expanded) must be hex digits leaving room for at least one instance character.
function neverMachineId(v: string, unit: UnitName, fail: (msg: string) => Error): void {
  let fixed = '';
  let inst = false;
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== '%') { fixed += v[i]; continue; }
    const c = v[++i];
    if (c === 'i') inst = true;
    else if (c === 'p') fixed += unit.prefix;
    else fixed += '%'; // %n %N %% (and anything refused earlier) can never be hex
  }
  if (!/^[0-9a-fA-F]*$/.test(fixed) || fixed.length >= 32 || !inst) {
    throw fail(`MachineID=${v} can never be a machine id (32 hex characters, or a prefix of at least 8) for any instance of ${unit.name}`);
  }
}

/** `key=value` with both sides non-empty and exactly one `=` (fleet's rule); OR within a key. */
function addMetadata(md: Map<string, string[]>, item: string, fail: (msg: string) => Error): void {
  const parts = item.split('=');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw fail(`MachineMetadata item ${JSON.stringify(item)} is not key=value (one '=', both sides non-empty)`);
  }
  const [k, v] = parts;
  const list = md.get(k) ?? [];
  if (!list.includes(v)) list.push(v);
  md.set(k, list);
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** fleet's ValidateOptions: peers that the unit's own Conflicts/Replaces match, and forbidden pairs. */
function checkCombinations(o: FleetOptions, c: Collected, unit: UnitName, ctx: EntryContext): void {
  const at = (k: FleetKey, code: string, msg: string): ValidationError => {
    const e = c.where[k];
    return new ValidationError(code, msg, { file: ctx.file, line: e?.line, section: ctx.section, key: e?.key ?? k });
  };
  for (const peer of o.machineOf) {
    if (deferred(unit, peer)) continue;
    for (const [list, name] of [[o.conflicts, 'Conflicts'], [o.replaces, 'Replaces']] as const) {
      const hit = list.find((p) => !deferred(unit, p) && matchUnitGlob(p, peer));
      if (hit !== undefined) {
        throw at('MachineOf', 'unit.option-conflict', `unresolvable: MachineOf=${peer} is matched by this unit's own ${name}=${hit}`);
      }
    }
  }
  const hasId = o.machineId !== undefined;
  const pairs: Array<[boolean, FleetKey, string]> = [
    [hasId && o.machineOf.length > 0, 'MachineOf', 'MachineID cannot be used with MachineOf'],
    [hasId && o.conflicts.length > 0, 'Conflicts', 'MachineID cannot be used with Conflicts'],
    [hasId && o.global, 'Global', 'MachineID cannot be used with Global'],
    [hasId && o.replaces.length > 0, 'Replaces', 'MachineID cannot be used with Replaces'],
    [o.global && o.machineOf.length > 0, 'MachineOf', 'Global cannot be used with MachineOf'],
    [o.conflicts.length > 0 && o.replaces.length > 0, 'Replaces', 'Conflicts cannot be used with Replaces'],
    [o.global && o.replaces.length > 0, 'Replaces', 'Global cannot be used with Replaces'],
  ];
  for (const [bad, key, msg] of pairs) if (bad) throw at(key, 'unit.option-conflict', msg);
}

/**
 * True when units `a` and `b` may not share a machine: either one's Conflicts globs match the
 * other's name (fleet's rule is symmetric). A unit never conflicts with itself.
 */
export function unitsConflict(a: { name: string; options: FleetOptions }, b: { name: string; options: FleetOptions }): boolean {
  if (a.name === b.name) return false;
  return a.options.conflicts.some((p) => matchUnitGlob(p, b.name)) || b.options.conflicts.some((p) => matchUnitGlob(p, a.name));
}
