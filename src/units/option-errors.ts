/** Located errors for options in shoal's unit-file sections, shared by [X-Fleet], [X-Shoal], [X-Container]. */
import { ValidationError } from '../errors';
import type { UnitEntry } from './types';
import { suggest } from './suggest';

/** Where an entry sits, for errors: the file name (if known) and the entry's section. */
export interface EntryContext {
  file?: string;
  section: string;
}

/** A ValidationError located at `entry` (file, line, section, key). */
export function entryError(code: string, msg: string, ctx: EntryContext, entry: UnitEntry): ValidationError {
  return new ValidationError(code, msg, { file: ctx.file, line: entry.line, section: ctx.section, key: entry.key });
}

/** Keys that belong to another shoal section, to point a misplaced key at the right one. */
const HOME_OF: Record<string, string> = {
  machineid: 'X-Fleet', machineof: 'X-Fleet', machinemetadata: 'X-Fleet', conflicts: 'X-Fleet', global: 'X-Fleet',
  replaces: 'X-Fleet', cpu: 'X-Shoal', memory: 'X-Shoal', strategy: 'X-Shoal', image: 'X-Container',
  command: 'X-Container', environment: 'X-Container', port: 'X-Container', volume: 'X-Container',
};

/**
 * `unit.unknown-key` for a key not in `known`: a typo must not silently change scheduling.
 * Suggests the right spelling for a case mistake or a near miss (suggest.ts: `MachineMetdata` →
 * MachineMetadata) and the right section for a misplaced key; else lists the known keys.
 */
export function unknownKey(ctx: EntryContext, entry: UnitEntry, known: readonly string[]): ValidationError {
  const near = suggest(entry.key, known);
  const home = HOME_OF[entry.key.toLowerCase()];
  let hint = `known keys: ${known.join(', ')}`;
  if (near?.caseOnly) hint = `did you mean ${near.name}? (keys are case-sensitive)`;
  else if (home && home !== ctx.section) hint = `${entry.key}= belongs in [${home}]`;
  else if (near) hint = `did you mean ${near.name}?`;
  return entryError('unit.unknown-key', `unknown key ${JSON.stringify(entry.key)} in [${ctx.section}]; ${hint}`, ctx, entry);
}
