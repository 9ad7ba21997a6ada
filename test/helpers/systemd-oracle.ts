/**
 * `systemd-analyze verify` as the oracle for systemd's own keys that shoal reads (issue 10 item 10).
 * CASES are the names and values checked; `runOracle` asks the installed systemd (252 on this machine and
 * in the testbed image) which lines it refuses ("…, ignoring."). The recorded table
 * test/units/systemd-keys.table.json was generated once with:
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/helpers/systemd-oracle.ts --write
 * systemd-keys.test.ts checks shoal against the table; systemd-keys-live.test.ts re-checks a sample live.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One line of a [Service] section. */
export interface KeyCase {
  key: string;
  value: string;
}

/** A case with systemd's verdict: accepted (applied) or refused (logged and ignored), with its message. */
export interface Verdict extends KeyCase {
  systemd: 'accepted' | 'refused';
  message?: string;
}

const SIZES = ['10.M', '1G 512M', '512M 1G', '1.5G', '1 G', '+5M', '-1', '0', '1', '1B', '1K', '1T', '1P', '1E', '1X', '1.5', '.5G',
  '5.G', '1G512M', '1G 1G', '1g', '1KB', '1 2', '0x10', '1e3', '18446744073709551615', '17179869184G', 'infinity', 'Infinity',
  '50%', '12.5%', '12.34%', '12.345%', '100%', '101%', '0%', '5‰', '0‰', '5‱', '512M ', '2.5K 3B'];
const QUOTAS = ['150%', '12.5%', '12.34%', '12.345%', '0%', '0.01%', '5‰', '5.5‰', '5.55‰', '50‱', '5.5‱', '100', '1.5', '50 %',
  '+50%', '-50%', '100000%', '50%%', '5O%', '.5%', '5.%', '0.0%', '1e2%', '0x10%', '010%', '08%', '2147483647%'];
const NAMES: KeyCase[] = ['memorymax', 'Memorymax', 'MEMORYMAX', 'memorylimit', 'cpuquota', 'CPUquota', 'Cpuquota']
  .map((key) => ({ key, value: key.toLowerCase().startsWith('cpu') ? '50%' : '1G' }));

/** Every case in the table. */
export const CASES: KeyCase[] = [
  ...SIZES.map((value) => ({ key: 'MemoryMax', value })),
  ...SIZES.map((value) => ({ key: 'MemoryLimit', value })),
  ...QUOTAS.map((value) => ({ key: 'CPUQuota', value })),
  ...NAMES,
];

/** The unit file a case is checked in (the case on line 3). */
export function caseUnit(c: KeyCase): string {
  return `[Service]\nExecStart=/bin/true\n${c.key}=${c.value}\n`;
}

/** Runs `systemd-analyze verify` on every case (one file each, one call, 60 s deadline). */
export async function runOracle(cases: readonly KeyCase[]): Promise<Verdict[]> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-oracle-'));
  try {
    const files = cases.map((c, i) => {
      const f = join(dir, `case${i}.service`);
      writeFileSync(f, caseUnit(c));
      return f;
    });
    const out = await new Promise<string>((resolve, reject) => {
      execFile('systemd-analyze', ['verify', '--man=no', ...files], { timeout: 60_000, cwd: dir, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        // verify exits 0 when only settings are ignored; a missing binary or a timeout is an error.
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('systemd-analyze is not installed'));
        else if (err && err.killed) reject(new Error('systemd-analyze verify timed out'));
        else resolve(`${stdout}\n${stderr}`);
      });
    });
    return cases.map((c, i) => {
      const line = out.split('\n').find((l) => l.includes(`/case${i}.service:3:`) && l.includes('ignoring'));
      return line ? { ...c, systemd: 'refused', message: line.slice(line.indexOf(':3:') + 4) } : { ...c, systemd: 'accepted' };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module && process.argv.includes('--write')) {
  void runOracle(CASES).then((v) => {
    writeFileSync(join(__dirname, '../units/systemd-keys.table.json'), `${JSON.stringify(v, null, 1)}\n`);
    console.log(`${v.length} cases written (${v.filter((x) => x.systemd === 'refused').length} refused by systemd)`);
  });
}
