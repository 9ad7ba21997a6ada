/**
 * CLI start-up bench: whole-process wall time of `shoalctl version` and `shoalctl verify units-examples/*`
 * beside a bare `node -e 0`, run alternately in one run (so machine load hits all three alike); prints
 * each one's median and its ratio to node's.  Target: ≤ 1.5× `node -e 0`.
 * Usage: npm run bench:cli [-- ROUNDS]   (default 21)
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const ROUNDS = Number(process.argv[2] ?? 21);
const SHOALCTL = join(ROOT, 'bin', 'shoalctl');
const EXAMPLES = readdirSync(join(ROOT, 'units-examples')).map((f) => join('units-examples', f));

const cases: [string, string[]][] = [
  ['node -e 0', ['-e', '0']],
  ['shoalctl version', [SHOALCTL, 'version']],
  [`shoalctl verify units-examples/* (${EXAMPLES.length} files)`, [SHOALCTL, 'verify', ...EXAMPLES]],
];

function wallMs(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

function main(): void {
  const times = cases.map(() => [] as number[]);
  for (const [, args] of cases) wallMs(args); // warm the page cache once
  for (let r = 0; r < ROUNDS; r++) cases.forEach(([, args], i) => times[i].push(wallMs(args)));
  const base = median(times[0]);
  console.log(`CLI start-up, ${ROUNDS} alternating rounds, medians (whole process, spawn to exit):`);
  cases.forEach(([name], i) => {
    const m = median(times[i]);
    const ratio = m / base;
    console.log(`  ${name.padEnd(44)} ${m.toFixed(1).padStart(7)} ms  ${ratio.toFixed(2)}× node${i > 0 ? `  [target ≤ 1.50×: ${ratio <= 1.5 ? 'met' : 'MISSED'}]` : ''}`);
  });
}

main();
