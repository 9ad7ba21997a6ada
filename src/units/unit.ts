/**
 * parseUnit: the one entry point that turns a name and unit-file text into a validated UnitSpec
 * (name, parsed file, hash, [X-Fleet] options, resources, strategy, container). Pure.
 */
import type { UnitName, UnitSpec } from './types';
import { parseUnitFile } from './unit-file';
import { unitHash } from './unit-hash';
import { instanceName, parseUnitName } from './unit-name';
import { parseFleetOptions } from './fleet-options';
import { parseShoalOptions } from './resources';
import { parseContainer } from './container';
import { parseGroupOptions } from './group-options';
import { parseScaleOptions } from './scale-options';
import { parseJobOptions } from './job-options';
import { ValidationError } from '../errors';
import { editDistance } from './suggest';

/** Options for parseUnit: `file` names the source in error locations (e.g. the path given to `shoalctl`). */
export interface ParseUnitOptions {
  file?: string;
}

/**
 * Validate and parse a unit. The name is checked first: a bad name fails before the text is read.
 * `text` may be a string or raw bytes (bytes are checked to be UTF-8). Templates parse too; their
 * [X-Fleet] values keep their specifiers. Throws ValidationError with code and {file, line, section, key}.
 */
export function parseUnit(name: string, text: string | Uint8Array, opts: ParseUnitOptions = {}): UnitSpec {
  const unitName = parseUnitName(name);
  const file = parseUnitFile(text, { file: opts.file });
  return build(unitName, typeof text === 'string' ? text : new TextDecoder('utf-8', { ignoreBOM: true }).decode(text), file, opts);
}

/** Sections shoal reads; a near-miss spelling of one would silently drop its constraints. */
const OWN_SECTIONS = ['X-Fleet', 'X-Shoal', 'X-Container'];

/** Section name → the own section it nearly spells (null: none); a file has the same few names ([Unit], [Service]...). */
const meantCache = new Map<string, string | null>();
const MEANT_CACHED = 1024;

/** The own section `name` is a near miss of, or undefined (memoized: a leader parses 10,000 units at once). */
function nearMissOf(name: string): string | undefined {
  let meant = meantCache.get(name);
  if (meant === undefined) {
    meant = OWN_SECTIONS.find((o) => o !== name && nearMiss(name, o)) ?? null;
    if (meantCache.size >= MEANT_CACHED) meantCache.clear();
    meantCache.set(name, meant);
  }
  return meant ?? undefined;
}

function checkSectionNames(file: UnitSpec['file'], opts: ParseUnitOptions): void {
  for (const s of file.sections) {
    const meant = nearMissOf(s.name);
    if (meant) {
      const why = /\s/.test(s.name) ? 'spaces inside the brackets are part of the name'
        : s.name.toLowerCase() === meant.toLowerCase() ? 'section names are case-sensitive'
        : 'systemd ignores a section of another name, so its options would be dropped';
      throw new ValidationError('unit.bad-section', `section [${s.name}] is not read by shoal; did you mean [${meant}]? (${why})`, {
        file: opts.file, line: s.line, section: s.name,
      });
    }
  }
}

// Case, spaces or punctuation inside the brackets ([X_Fleet], [X Fleet], [X-Fleet]]), a missing X- and one
// letter added, dropped, changed or swapped ([X-Flee], [X-Fleets], [X-Shaol]): systemd reads another section.
function nearMiss(name: string, own: string): boolean {
  const n = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  const o = own.toLowerCase().replace(/[^a-z0-9]/g, '');
  return n === o || n === o.slice(1) || editDistance(n, o, 1) <= 1 || editDistance(n, o.slice(1), 1) <= 1;
}

function build(unitName: UnitName, text: string, file: UnitSpec['file'], opts: ParseUnitOptions): UnitSpec {
  checkSectionNames(file, opts);
  const { resources, strategy } = parseShoalOptions(file, opts);
  const spec: UnitSpec = {
    name: unitName.name,
    text,
    hash: unitHash(file),
    file,
    options: parseFleetOptions(file, unitName, opts),
    resources,
  };
  if (strategy !== undefined) spec.strategy = strategy;
  spec.group = parseGroupOptions(file, unitName, opts);
  const autoscale = parseScaleOptions(file, unitName, resources, opts);
  if (autoscale) {
    spec.autoscale = autoscale;
    // an autoscaled template is a group: ScaleMin= instances until the leader or `scale` says otherwise
    spec.group.instances ??= autoscale.min;
  }
  const job = parseJobOptions(file, unitName, opts);
  if (job !== undefined) spec.job = job;
  const container = parseContainer(file, unitName, opts);
  if (container !== undefined) spec.container = container;
  return spec;
}

/**
 * An instance of a template spec: `instance` is either the instance string (`3`) or the full
 * instance name (`web@3.service`, recognised by its `@`). Same text and hash; [X-Fleet] specifiers
 * are expanded for the instance and checked again. Throws `unit.bad-name` when `template` is not
 * a template or the instance is invalid or belongs to another template.
 */
export function instantiate(template: UnitSpec, instance: string): UnitSpec {
  const t = parseUnitName(template.name);
  if (!t.isTemplate) {
    throw new ValidationError('unit.bad-name', `${template.name} is not a template; only name@.type units can be instantiated`);
  }
  let full = instance;
  if (instance.includes('@')) {
    const n = parseUnitName(instance);
    if (n.template !== template.name) {
      throw new ValidationError('unit.bad-name', `${instance} is not an instance of ${template.name}`, undefined, { name: instance });
    }
  } else full = instanceName(template.name, instance);
  try {
    return build(parseUnitName(full), template.text, template.file, { file: template.name });
  } catch (e) {
    // Say which instance failed: the template's own file and line are in e.message.
    if (e instanceof ValidationError) throw new ValidationError(e.code, `instance ${full}: ${e.message}`, undefined, { unit: full, template: template.name, location: e.location });
    throw e;
  }
}
