/**
 * Unit names, validated like systemd's unit_name_is_valid() plus fleet's rules: a name is also a
 * file name on every machine, so it is checked strictly before anything is written. Pure. The one
 * validator of the API, the registry's reader and the agent's loader: they agree on what a name is.
 */
import { ValidationError } from '../errors';
import { UNIT_TYPES, type UnitName, type UnitType } from './types';

/** systemd's UNIT_NAME_MAX minus the terminating NUL. */
export const UNIT_NAME_MAX = 255;

/** Characters systemd allows in a unit name, besides a single `@`. */
const VALID_CHAR = /^[A-Za-z0-9:_.\\-]$/;
/** A name of only allowed characters (`@` too: counted below): one regex test instead of one per character. */
const ALL_VALID = /^[A-Za-z0-9:_.\\@-]*$/;

function bad(name: string, why: string): ValidationError {
  return new ValidationError('unit.bad-name', `invalid unit name ${JSON.stringify(name)}: ${why}`, undefined, { name });
}

/** First character of `s` systemd does not allow in a unit name (ignoring `@`), or undefined. */
function firstBadChar(s: string): string | undefined {
  // the engine parses every unit's name on each pass: 10,000 units, per-character tests were ~100 ms of its CPU
  if (ALL_VALID.test(s)) return undefined;
  for (const ch of s) if (ch !== '@' && !VALID_CHAR.test(ch)) return ch;
  return undefined;
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  return cp > 32 && cp < 127 ? `'${ch}'` : `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Validate `name` and split it into prefix, instance and type.
 * Throws ValidationError `unit.bad-name` saying exactly what is wrong.
 */
export function parseUnitName(name: string): UnitName {
  if (typeof name !== 'string' || name === '') throw bad(String(name), 'the name is empty');
  if (name.length > UNIT_NAME_MAX) throw bad(`${name.slice(0, 40)}...`, `longer than ${UNIT_NAME_MAX} characters`);
  if (name.includes('/')) throw bad(name, "contains '/' (a unit name is a file name, not a path)");
  if (name.includes('..')) throw bad(name, "contains '..'");
  const badCh = firstBadChar(name);
  if (badCh !== undefined) {
    throw bad(name, `contains ${describeChar(badCh)}; allowed are letters, digits, ':', '-', '_', '.', '\\' and one '@'`);
  }
  const dot = name.lastIndexOf('.');
  if (dot < 0) throw bad(name, `has no type suffix (one of ${UNIT_TYPES.map((t) => '.' + t).join(' ')})`);
  const suffix = name.slice(dot + 1);
  if (suffix === '') throw bad(name, `ends with '.' but has no type after it (one of ${UNIT_TYPES.join(', ')})`);
  if (!(UNIT_TYPES as readonly string[]).includes(suffix)) {
    throw bad(name, `unknown unit type ".${suffix}" (known: ${UNIT_TYPES.join(', ')})`);
  }
  const type = suffix as UnitType;
  const stem = name.slice(0, dot);
  const at = stem.indexOf('@');
  if (at !== stem.lastIndexOf('@')) throw bad(name, "contains more than one '@'");
  const prefix = at < 0 ? stem : stem.slice(0, at);
  if (prefix === '') throw bad(name, at < 0 ? 'the name before the type suffix is empty' : "nothing before '@'");
  // systemd skips hidden files in unit directories, and so does the agent's runtime dir (its temp files)
  if (name.startsWith('.')) throw bad(name, "starts with '.' (a hidden file: systemd and the agent skip it)");
  if (at < 0) return { name, prefix, type, isTemplate: false };
  const instance = stem.slice(at + 1);
  const template = `${prefix}@.${type}`;
  if (instance === '') return { name, prefix, type, instance: '', isTemplate: true };
  return { name, prefix, type, instance, isTemplate: false, template };
}

/** True when `name` is a valid template name like `web@.service`. Never throws. */
export function isTemplate(name: string): boolean {
  try {
    return parseUnitName(name).isTemplate;
  } catch {
    return false;
  }
}

/** True when `name` is a valid unit name. Never throws. */
export function isValidUnitName(name: string): boolean {
  try {
    parseUnitName(name);
    return true;
  } catch {
    return false;
  }
}

/** The template of an instance (`web@3.service` → `web@.service`); undefined for non-instances. Throws on a bad name. */
export function templateOf(name: string): string | undefined {
  return parseUnitName(name).template;
}

/** `instanceName('web@.service', '3')` → `web@3.service`. Throws `unit.bad-name` for a non-template or a bad instance. */
export function instanceName(template: string, instance: string): string {
  const t = parseUnitName(template);
  if (!t.isTemplate) throw bad(template, "is not a template (expected a name like 'web@.service')");
  if (instance === '') throw bad(template, 'the instance name is empty');
  if (instance.includes('@')) throw bad(`${t.prefix}@${instance}.${t.type}`, "the instance contains '@'");
  const name = `${t.prefix}@${instance}.${t.type}`;
  parseUnitName(name); // checks chars, '/', '..' and length of the result
  return name;
}
