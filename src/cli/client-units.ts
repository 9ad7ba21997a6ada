/** Unit arguments of shoalctl verbs: a unit name, or a path to a unit file (submitted first, as fleetctl does). */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ApiClient } from '../api/client';
import { ConflictError } from '../api/grpc-errors';
import { CliError } from './cli-error';
import type { CliIO } from './io';
import { readUnitFileArg } from './unit-files';

/** True when `arg` names a file: it contains a '/' or a file of that name exists in the current directory. */
export function isFileArg(arg: string, cwd: string): boolean {
  return arg.includes('/') || existsSync(resolve(cwd, arg));
}

/** Submits one unit file; a different stored body without `replace` becomes a CliError saying to use --replace. */
export async function submitFile(c: ApiClient, io: CliIO, path: string, replace: boolean): Promise<{ name: string; outcome: string }> {
  const f = readUnitFileArg(path, io.cwd);
  try {
    const r = await c.submitUnit(f.name, f.text, { replace });
    return { name: f.name, outcome: r.outcome };
  } catch (err) {
    if (err instanceof ConflictError) {
      throw new CliError(`unit ${f.name} already exists with a different body: run again with --replace to change it (file ${path})`);
    }
    throw err;
  }
}

/** Unit names for `args`, submitting the ones that are files first (with --replace when asked). */
export async function resolveUnitArgs(c: ApiClient, io: CliIO, args: string[], replace: boolean): Promise<string[]> {
  const names: string[] = [];
  for (const a of args) {
    if (isFileArg(a, io.cwd)) names.push((await submitFile(c, io, a, replace)).name);
    else names.push(a);
  }
  return [...new Set(names)];
}
