/**
 * Content hash of a unit: sha1 (hex) of its canonical serialization, like fleet's hash of the
 * parsed unit. Comments, blank lines, whitespace around `=` and line continuations do not change
 * it; anything systemd would read differently (a key, a value, their order, a section) does.
 */
import { createHash } from 'node:crypto';
import type { UnitFile } from './types';
import { serializeUnitFile } from './unit-file';

/** Hex sha1 of the canonical text of `file`. */
export function unitHash(file: UnitFile): string {
  return createHash('sha1').update(serializeUnitFile(file), 'utf8').digest('hex');
}

/** The 7-character form users see (like git and fleetctl). */
export function shortHash(hash: string): string {
  return hash.slice(0, 7);
}
