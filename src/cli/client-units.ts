/**
 * Unit arguments of shoalctl verbs: a unit name, a glob over submitted units (`web@*.service`), or a path
 * to a unit file (submitted first, as fleetctl does). Every multi-unit verb sends one batch call.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ApiClient } from '../api/client';
import type { BatchUnitResultMsg, WireBatchAction } from '../api/messages';
import type { TargetState } from '../units/types';
import { CliError } from './cli-error';
import type { CliIO } from './io';
import { readUnitFileArg, type UnitFileArg } from './unit-files';

/** True when `arg` names a file: it contains a '/' or a file of that name exists in the current directory. */
export function isFileArg(arg: string, cwd: string): boolean {
  return arg.includes('/') || existsSync(resolve(cwd, arg));
}

/** Shows "verb: done/total units" on a terminal while a batch runs (nothing otherwise). */
export function batchProgress(io: CliIO, verb: string): ((done: number, total: number) => void) | undefined {
  if (!io.stderr.isTTY) return undefined;
  return (done, total) => {
    if (total >= 64) io.stderr.write(done < total ? `\r${verb}: ${done}/${total} units` : '\r\x1b[K');
  };
}

/** One batch call with the terminal's progress line. */
export function runBatch(
  c: ApiClient, io: CliIO, verb: string,
  req: { action: WireBatchAction; units: { name: string; text?: string }[]; replace?: boolean; state?: TargetState; skipFrom?: TargetState[] },
): Promise<BatchUnitResultMsg[]> {
  return c.applyBatch(req, { onProgress: batchProgress(io, verb) });
}

/**
 * Submits unit files in one batch: every file is read (and the batch checked by shoald) before anything
 * is stored. A stored unit with a different body, without `replace`, is a CliError naming the files.
 */
export async function submitFiles(c: ApiClient, io: CliIO, files: UnitFileArg[], replace: boolean): Promise<BatchUnitResultMsg[]> {
  const results = await runBatch(c, io, 'submit', { action: 'SUBMIT', units: files.map((f) => ({ name: f.name, text: f.text })), replace });
  const exists = results.filter((r) => r.outcome === 'exists').map((r) => r.name);
  if (exists.length > 0) {
    const where = exists.map((n) => `${n} (file ${files.find((f) => f.name === n)?.file})`).join(', ');
    throw new CliError(`unit ${where} already exists with a different body: run again with --replace to change it`);
  }
  return results;
}

/** Unit names and globs for `args`, submitting the ones that are files first, in one batch (with --replace when asked). */
export async function resolveUnitArgs(c: ApiClient, io: CliIO, args: string[], replace: boolean): Promise<string[]> {
  const files = new Map(args.filter((a) => isFileArg(a, io.cwd)).map((a) => [a, readUnitFileArg(a, io.cwd)]));
  if (files.size > 0) await submitFiles(c, io, [...files.values()], replace);
  return [...new Set(args.map((a) => files.get(a)?.name ?? a))];
}
