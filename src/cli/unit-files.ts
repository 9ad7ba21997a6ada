/** Reading unit files named on the command line. The unit's name is the file's base name, as with fleetctl. */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { CliError } from './cli-error';
import { decodeUnitText } from '../units/unit-text';

/** Files larger than this are refused before they are read (the parser's own limit is lower). */
const MAX_READ = 1024 * 1024;

/** A unit file as read from disk. */
export interface UnitFileArg {
  /** The unit name: the file's base name. */
  name: string;
  /** The path as the user wrote it (used in messages). */
  file: string;
  /** The file's text, checked to be valid UTF-8 without control characters. */
  text: string;
}

/**
 * Reads one unit file; throws CliError (missing, unreadable, too large) or ValidationError
 * (`unit.binary`: not UTF-8 — checked on the bytes, before decoding hides it) naming the file.
 */
export function readUnitFileArg(path: string, cwd: string): UnitFileArg {
  const abs = resolve(cwd, path);
  let size: number;
  try {
    const st = statSync(abs);
    if (st.isDirectory()) throw new CliError(`${path}: is a directory, not a unit file`);
    size = st.size;
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${code ?? String(err)})`);
  }
  if (size > MAX_READ) throw new CliError(`${path}: ${size} bytes is too large for a unit file`);
  const fd = openSync(abs, 'r');
  try {
    const buf = Buffer.alloc(size);
    const n = readSync(fd, buf, 0, size, 0);
    return { name: basename(path), file: path, text: decodeUnitText(buf.subarray(0, n), path) };
  } finally {
    closeSync(fd);
  }
}
