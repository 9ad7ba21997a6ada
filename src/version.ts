/** shoal's version, read from the project's package.json (one source of truth), from src/ or dist/src/. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'shoal' && pkg.version) return pkg.version;
  }
  return 'unknown';
}

/** e.g. `0.1.0`. */
export const VERSION: string = findVersion();
