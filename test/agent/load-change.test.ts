/** The significant-change rule of load reports (src/agent/load-change.ts). Pure. */
import t from 'tap';
import { LOAD_THRESHOLDS, loadChange, significantChange } from '../../src/agent/load-change';
import type { MachineLoad } from '../../src/etcd/registry';
import { seededRandom } from '../../src/seeded-random';

const GiB = 1024 ** 3;
const base: MachineLoad = {
  at: '', cpuMillis: 500, cpuTotalMillis: 2000, memAvailableBytes: 4 * GiB, memTotalBytes: 8 * GiB,
  diskFreeBytes: 50 * GiB, diskTotalBytes: 100 * GiB, units: { 'a.service': { cpuMillis: 200, memoryBytes: 100 * 1024 ** 2 } },
};
const withUnit = (u: Partial<MachineLoad['units'][string]>): MachineLoad => ({ ...base, units: { 'a.service': { ...base.units['a.service'], ...u } } });

t.test('cases', async (t) => {
  const cases: [string, MachineLoad | null, MachineLoad, boolean][] = [
    ['nothing written yet', null, base, true],
    ['identical', base, { ...base, at: 'later' }, false],
    ['machine cpu +150m of 2000m (7.5 points)', base, { ...base, cpuMillis: 650 }, false],
    ['machine cpu +200m of 2000m (10 points)', base, { ...base, cpuMillis: 700 }, true],
    ['memory available -300 MiB of 8 GiB', base, { ...base, memAvailableBytes: 4 * GiB - 300 * 1024 ** 2 }, false],
    ['memory available -500 MiB of 8 GiB', base, { ...base, memAvailableBytes: 4 * GiB - 500 * 1024 ** 2 }, true],
    ['disk free -1.5 GiB of 100 GiB', base, { ...base, diskFreeBytes: 48.5 * GiB }, true],
    ['a unit appears', base, { ...base, units: { ...base.units, 'b.service': { cpuMillis: 0 } } }, true],
    ['a unit goes', base, { ...base, units: {} }, true],
    ['unit cpu 200m → 240m (20 % but < 50m)', base, withUnit({ cpuMillis: 240 }), false],
    ['unit cpu 200m → 260m', base, withUnit({ cpuMillis: 260 }), true],
    ['unit cpu 2000m → 2060m (< 20 %)', { ...base, units: { 'a.service': { cpuMillis: 2000 } } }, { ...base, units: { 'a.service': { cpuMillis: 2060 } } }, false],
    ['unit memory +10 MiB', base, withUnit({ memoryBytes: 110 * 1024 ** 2 }), false],
    ['unit memory +30 MiB', base, withUnit({ memoryBytes: 130 * 1024 ** 2 }), true],
  ];
  for (const [name, prev, next, want] of cases) t.equal(significantChange(prev, next) !== null, want, name);
});

t.test('a slow drift is written once it adds up (compared with the last write, not the last sample)', async (t) => {
  let written = base;
  let writes = 0;
  for (let cpu = 200; cpu <= 400; cpu += 10) {
    const next = withUnit({ cpuMillis: cpu });
    if (significantChange(written, next)) { written = next; writes++; }
  }
  t.ok(writes >= 2 && writes <= 4, `200m → 400m in steps of 10m: ${writes} writes`);
});

t.test('noise below the thresholds is never written (property, seeded)', async (t) => {
  const seed = Number(process.env.SEED ?? 12);
  const rnd = seededRandom(seed);
  const wrongly: string[] = [];
  for (let i = 0; i < 500; i++) {
    const cpu = 100 + Math.floor(rnd() * 1000);
    const written: MachineLoad = { ...base, units: { 'a.service': { cpuMillis: cpu } } };
    // within ±min(49m, 19 %) of the written value, and machine cpu within ±9 points
    const d = Math.floor((rnd() * 2 - 1) * Math.min(LOAD_THRESHOLDS.unitCpuMillis - 1, 0.19 * cpu));
    const next: MachineLoad = { ...written, cpuMillis: written.cpuMillis + Math.floor((rnd() * 2 - 1) * 180), units: { 'a.service': { cpuMillis: cpu + d } } };
    if (significantChange(written, next) !== null) wrongly.push(`seed ${seed} case ${i}: ${cpu}m → ${cpu + d}m`);
  }
  t.same(wrongly, [], 'no write for noise');
});

t.test('major changes are written at once, minor ones wait (the levels)', async (t) => {
  t.equal(loadChange(null, base)?.level, 'major', 'first report');
  t.equal(loadChange(base, withUnit({ cpuMillis: 260 }))?.level, 'minor', 'unit +60m: minor');
  t.equal(loadChange(base, withUnit({ cpuMillis: 80 }))?.level, 'major', 'unit 200m → 80m (-60 %, -120m): major');
  t.equal(loadChange(base, withUnit({ cpuMillis: 120 }))?.level, 'minor', 'unit 200m → 120m (-40 %): minor');
  t.equal(loadChange(base, withUnit({ cpuMillis: 1000 }))?.level, 'major', 'unit 200m → 1000m (a CPU burn starts): major');
  t.equal(loadChange(base, { ...base, units: {} })?.level, 'major', 'a unit went: major');
  t.equal(loadChange(base, { ...base, cpuMillis: 1100 })?.level, 'major', 'machine +30 points: major');
  t.equal(loadChange(base, base), null);
});
