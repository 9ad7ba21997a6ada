/**
 * The machines file of `shoalctl plan --machines FILE`: a TOML list of machines for a scheduling dry run.
 *
 *   [[machine]]
 *   id = "node1"
 *   metadata = { region = "east", disk = "ssd" }
 *   cpu = "4"        # cores, or millicores like "500m"; omitted = unlimited
 *   memory = "8G"    # bytes or K/M/G/T; omitted = unlimited
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { MachineSpec } from '../constraints/types';
import { parseCpu, parseMemory } from '../units/resources';
import { CliError } from './cli-error';
import { metadataProblem } from '../units/metadata';

const KEYS = ['id', 'metadata', 'cpu', 'memory', 'address'];

/** Reads and validates a machines file; throws CliError naming the file, the machine and the key. */
export function readMachinesFile(path: string, cwd: string): MachineSpec[] {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${code})`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) throw new CliError(`${path}:${err.line}: ${err.message.split('\n')[0]}`);
    throw err;
  }
  const list = doc.machine;
  if (!Array.isArray(list) || list.length === 0) throw new CliError(`${path}: no [[machine]] tables (see shoalctl plan --help)`);
  const seen = new Set<string>();
  return list.map((m, i) => {
    const where = `${path}: machine #${i + 1}`;
    const table = m as Record<string, unknown>;
    for (const k of Object.keys(table)) if (!KEYS.includes(k)) throw new CliError(`${where}: unknown key "${k}" (known: ${KEYS.join(', ')})`);
    const id = table.id;
    if (typeof id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new CliError(`${where}: id must be a string of letters, digits, "_", "." or "-"`);
    if (seen.has(id)) throw new CliError(`${where}: duplicate id "${id}"`);
    seen.add(id);
    const metadata: Record<string, string> = {};
    if (table.metadata !== undefined) {
      if (typeof table.metadata !== 'object' || table.metadata === null || Array.isArray(table.metadata)) throw new CliError(`${where}: metadata must be a table of strings`);
      for (const [k, v] of Object.entries(table.metadata)) {
        if (typeof v !== 'string') throw new CliError(`${where}: metadata.${k} must be a string`);
        // the rule shoald and set-metadata apply: metadata no unit could match is refused
        const problem = metadataProblem(k, v);
        if (problem) throw new CliError(`${where}: ${problem}`);
        metadata[k] = v;
      }
    }
    const cpuMillis = resource(table.cpu, parseCpu, `${where}: cpu`);
    const memoryBytes = resource(table.memory, parseMemory, `${where}: memory`);
    return { id, metadata, capacity: { cpuMillis, memoryBytes }, address: typeof table.address === 'string' ? table.address : undefined };
  });
}

function resource(v: unknown, parse: (s: string) => number, where: string): number {
  if (v === undefined) return 0;
  try {
    return parse(typeof v === 'number' || typeof v === 'bigint' ? String(v) : (v as string));
  } catch (err) {
    throw new CliError(`${where}: ${(err as Error).message}`);
  }
}
