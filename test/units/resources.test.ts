import t from 'tap';
import { ValidationError } from '../../src/errors';
import { parseCpu, parseCpuQuota, parseMemory, parseShoalOptions, parseUnitFile } from '../../src/units';
import type { ShoalOptions } from '../../src/units';

const opts = (text: string): ShoalOptions => parseShoalOptions(parseUnitFile(text), { file: 'r.service' });

t.test('CPU values', async (t) => {
  const ok: Array<[string, number]> = [['500m', 500], ['1.5', 1500], ['2', 2000], ['0', 0], ['0.001', 1], ['0.25', 250], ['1.500000', 1500], ['1000m', 1000], ['3.0', 3000]];
  for (const [v, want] of ok) t.equal(parseCpu(v), want, v);
  for (const v of ['', '-1', '1.5m', '0.0001', 'abc', '1 ', '+1', '1e3', '2000000', '.5', '1.']) t.throws(() => parseCpu(v), { message: /^CPU / }, JSON.stringify(v));
});

t.test('memory sizes are 1024-based like systemd', async (t) => {
  const ok: Array<[string, number]> = [['512M', 512 * 2 ** 20], ['1G', 2 ** 30], ['1024', 1024], ['1K', 1024], ['2T', 2 * 2 ** 40], ['1.5G', 1.5 * 2 ** 30], ['0', 0], ['100B', 100]];
  for (const [v, want] of ok) t.equal(parseMemory(v), want, v);
  for (const v of ['', '1g', '1GB', '1Gi', '-1', 'lots', '1 G', '2000T']) t.throws(() => parseMemory(v), { message: /^size / }, JSON.stringify(v));
});

t.test('CPUQuota percentages', async (t) => {
  const ok: Array<[string, number]> = [['150%', 1500], ['100%', 1000], ['12.5%', 125], ['1%', 10], ['0.01%', 1], ['12.34%', 124]];
  for (const [v, want] of ok) t.equal(parseCpuQuota(v), want, v);
  for (const v of ['150', '0%', '%', 'x%', '-5%']) t.throws(() => parseCpuQuota(v), { message: /^CPUQuota / }, JSON.stringify(v));
});

const cases: Array<{ name: string; text: string; want: ShoalOptions }> = [
  { name: 'nothing requested', text: '[Service]\nExecStart=/bin/true\n', want: { resources: { cpuMillis: 0, memoryBytes: 0 } } },
  { name: 'X-Shoal only', text: '[X-Shoal]\nCPU=500m\nMemory=256M\n', want: { resources: { cpuMillis: 500, memoryBytes: 256 * 2 ** 20 } } },
  { name: 'Service limits only', text: '[Service]\nCPUQuota=150%\nMemoryMax=1G\n', want: { resources: { cpuMillis: 1500, memoryBytes: 2 ** 30 } } },
  { name: 'X-Shoal wins over Service, per resource', text: '[Service]\nCPUQuota=400%\nMemoryMax=4G\n[X-Shoal]\nCPU=1\n', want: { resources: { cpuMillis: 1000, memoryBytes: 4 * 2 ** 30 } } },
  { name: 'MemoryMax wins over MemoryLimit', text: '[Service]\nMemoryLimit=2G\nMemoryMax=1G\n', want: { resources: { cpuMillis: 0, memoryBytes: 2 ** 30 } } },
  { name: 'MemoryMax=infinity leaves MemoryLimit in force (systemd 252 cgroup.c)', text: '[Service]\nMemoryLimit=2G\nMemoryMax=infinity\n', want: { resources: { cpuMillis: 0, memoryBytes: 2 * 2 ** 30 } } },
  { name: 'MemoryMax= (reset) leaves MemoryLimit in force', text: '[Service]\nMemoryLimit=2G\nMemoryMax=1G\nMemoryMax=\n', want: { resources: { cpuMillis: 0, memoryBytes: 2 * 2 ** 30 } } },
  { name: 'MemoryLimit alone', text: '[Service]\nMemoryLimit=64M\n', want: { resources: { cpuMillis: 0, memoryBytes: 64 * 2 ** 20 } } },
  { name: 'MemoryMax=infinity reserves nothing', text: '[Service]\nMemoryMax=infinity\n', want: { resources: { cpuMillis: 0, memoryBytes: 0 } } },
  { name: 'MemoryMax=50% reserves nothing', text: '[Service]\nMemoryMax=50%\n', want: { resources: { cpuMillis: 0, memoryBytes: 0 } } },
  { name: 'last assignment wins', text: '[X-Shoal]\nCPU=1\nCPU=2\n', want: { resources: { cpuMillis: 2000, memoryBytes: 0 } } },
  { name: 'empty assignment resets to the fallback', text: '[Service]\nCPUQuota=50%\n[X-Shoal]\nCPU=2\nCPU=\n', want: { resources: { cpuMillis: 500, memoryBytes: 0 } } },
  { name: 'strategy', text: '[X-Shoal]\nStrategy=binpack\n', want: { resources: { cpuMillis: 0, memoryBytes: 0 }, strategy: 'binpack' } },
  { name: 'Disk= reserves disk', text: '[X-Shoal]\nDisk=10G\n', want: { resources: { cpuMillis: 0, memoryBytes: 0, diskBytes: 10 * 2 ** 30 } } },
  { name: 'every strategy', text: '[X-Shoal]\nStrategy=spread\nStrategy=epvm\n', want: { resources: { cpuMillis: 0, memoryBytes: 0 }, strategy: 'epvm' } },
];

t.test('resources and strategy from a unit', async (t) => {
  for (const c of cases) t.same(opts(c.text), c.want, c.name);
});

const bad: Array<{ name: string; text: string; code: string; section: string; key: string; line: number }> = [
  { name: 'bad CPU', text: '[X-Shoal]\nCPU=lots\n', code: 'unit.bad-cpu', section: 'X-Shoal', key: 'CPU', line: 2 },
  { name: 'bad Memory', text: '[X-Shoal]\n\nMemory=1gb\n', code: 'unit.bad-memory', section: 'X-Shoal', key: 'Memory', line: 3 },
  { name: 'bad CPUQuota', text: '[Service]\nCPUQuota=1.5\n', code: 'unit.bad-cpu', section: 'Service', key: 'CPUQuota', line: 2 },
  { name: 'bad MemoryMax', text: '[Service]\nMemoryMax=big\n', code: 'unit.bad-memory', section: 'Service', key: 'MemoryMax', line: 2 },
  { name: 'bad Disk', text: '[X-Shoal]\nDisk=10GB\n', code: 'unit.bad-disk', section: 'X-Shoal', key: 'Disk', line: 2 },
  { name: 'bad Disk (negative)', text: '[X-Shoal]\nCPU=1\nDisk=-1G\n', code: 'unit.bad-disk', section: 'X-Shoal', key: 'Disk', line: 3 },
  { name: 'bad strategy', text: '[X-Shoal]\nStrategy=random\n', code: 'unit.bad-strategy', section: 'X-Shoal', key: 'Strategy', line: 2 },
  { name: 'unknown X-Shoal key', text: '[X-Shoal]\nCpu=1\n', code: 'unit.unknown-key', section: 'X-Shoal', key: 'Cpu', line: 2 },
  { name: 'fleet key in X-Shoal', text: '[X-Shoal]\nGlobal=true\n', code: 'unit.unknown-key', section: 'X-Shoal', key: 'Global', line: 2 },
];

t.test('bad resource options are refused at their line', async (t) => {
  for (const c of bad) {
    try {
      opts(c.text);
      t.fail(`${c.name}: accepted`);
    } catch (e) {
      t.type(e, ValidationError, c.name);
      t.match(e, { code: c.code, location: { file: 'r.service', section: c.section, key: c.key, line: c.line } }, c.name);
      t.match((e as Error).message, `r.service:${c.line}: [${c.section}] ${c.key}:`, `${c.name}: message`);
    }
  }
  t.throws(() => opts('[X-Shoal]\nCpu=1\n'), { message: /did you mean CPU\?/ });
  t.throws(() => opts('[X-Shoal]\nGlobal=1\n'), { message: /belongs in \[X-Fleet\]/ });
});
