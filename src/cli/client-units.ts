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
 * Checks unit files as `shoalctl verify` does, printing every problem (`file:line: [Section] Key: what`)
 * and warning to stderr; a CliError when any file is bad: nothing is sent. shoald checks them again.
 */
export function checkFiles(io: CliIO, files: UnitFileArg[]): void {
  /* eslint-disable @typescript-eslint/no-require-imports */ // the unit parser loads only when files are submitted
  const { checkUnit } = require('../units/unit-check') as typeof import('../units/unit-check');
  const { formatWarning } = require('../units/systemd-sections') as typeof import('../units/systemd-sections');
  /* eslint-enable @typescript-eslint/no-require-imports */
  let bad = 0;
  for (const f of files) {
    const { problems, warnings } = checkUnit(f.name, f.text, { file: f.file });
    for (const w of warnings) io.stderr.write(`${formatWarning(w, f.file)}\n`);
    if (problems.length > 0) bad++;
    for (const p of problems) io.stderr.write(`${p.message.startsWith(f.file) ? p.message : `${f.file}: ${p.message}`}\n`);
  }
  if (bad > 0) throw new CliError(`${bad} of ${files.length} unit file(s) invalid: nothing was submitted`);
}

/**
 * Submits unit files in one batch: every file is read and checked (checkFiles; shoald checks the batch
 * again) before anything is stored. A stored unit with a different body, without `replace`, is a
 * CliError naming the files.
 */
export async function submitFiles(c: ApiClient, io: CliIO, files: UnitFileArg[], replace: boolean): Promise<BatchUnitResultMsg[]> {
  checkFiles(io, files);
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
