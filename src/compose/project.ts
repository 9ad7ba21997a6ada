/** The I/O around the converter: find the compose file, read `.env` and env_files, convert. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError } from '../cli/cli-error';
import { convertCompose, type ConvertResult } from './convert';
import { DotEnvError, parseDotEnv } from './interpolate';

/** Compose's default file names, in the order it tries them. */
export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

/** Options shared by every `shoalctl compose` verb. */
export interface ProjectFlags {
  file?: string;
  projectName?: string;
  spread?: boolean;
  ignoreUnsupported?: boolean;
}

/** Largest compose or env file read (1 MiB): beyond is surely not a compose file. */
const MAX_BYTES = 1024 * 1024;

function readText(path: string): string {
  const st = statSync(path);
  if (st.isDirectory()) throw new Error('is a directory');
  if (st.size > MAX_BYTES) throw new Error(`${st.size} bytes is too large`);
  return readFileSync(path, 'utf8');
}

/**
 * Reads and converts the project: `-f FILE` or the first default file in `cwd`; `.env` beside it.
 * Throws CliError (no file, unreadable) or ComposeError (every problem, located).
 */
export function loadProject(flags: ProjectFlags, cwd: string, env: Record<string, string | undefined>): ConvertResult & { file: string } {
  const file = flags.file ?? DEFAULT_FILES.find((f) => existsSync(resolve(cwd, f)));
  if (!file) throw new CliError(`no compose file: none of ${DEFAULT_FILES.join(', ')} in ${cwd}; give -f FILE`);
  const abs = resolve(cwd, file);
  let text: string;
  try {
    text = readText(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const dir = dirname(abs);
  let dotEnv: Record<string, string> | undefined;
  const envPath = resolve(dir, '.env');
  if (existsSync(envPath)) {
    try {
      dotEnv = parseDotEnv(readText(envPath), env);
    } catch (e) {
      if (e instanceof DotEnvError) throw new CliError(`${envPath}:${e.line}: ${e.message}`);
      throw new CliError(`${envPath}: ${(e as Error).message}`);
    }
  }
  const r = convertCompose({
    file, text, dir, env, dotEnv, project: flags.projectName, spread: flags.spread, ignoreUnsupported: flags.ignoreUnsupported,
    readFile: readText,
  });
  return { ...r, file };
}
