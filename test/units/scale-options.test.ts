/** [X-Shoal] autoscaling options (src/units/scale-options.ts): values, defaults, bad input located at file, line and key. */
import t from 'tap';
import { parseUnit } from '../../src/units';
import { ValidationError } from '../../src/errors';
import { DEFAULT_DOWN_WINDOW_MS } from '../../src/units/scale-options';

const svc = (shoal: string) => `[Service]\nExecStart=/bin/sleep 100\n[X-Shoal]\n${shoal}\n`;

t.test('options, defaults, and an autoscaled template is a group of ScaleMin', async (t) => {
  const s = parseUnit('web@.service', svc('ScaleMin=2\nScaleMax=6\nScaleCPU=70%\nCPU=500m\nScaleDownWindow=30s'));
  t.same(s.autoscale, { min: 2, max: 6, cpuPercent: 70, cpuBaseMillis: 500, memoryBaseBytes: 0, upWindowMs: 0, downWindowMs: 30_000 });
  t.equal(s.group?.instances, 2);
  const m = parseUnit('w@.service', svc('Instances=3\nScaleMax=5\nScaleMemory=80%\nMemory=256M'));
  t.same(m.autoscale, { min: 1, max: 5, memoryPercent: 80, cpuBaseMillis: 1000, memoryBaseBytes: 256 * 1024 ** 2, upWindowMs: 0, downWindowMs: DEFAULT_DOWN_WINDOW_MS });
  t.equal(m.group?.instances, 3, 'Instances= stays the starting count');
  t.equal(parseUnit('w@4.service', svc('ScaleMax=5\nScaleCPU=50%')).autoscale, undefined, 'an instance carries the group\'s options, unchecked');
});

t.test('bad input names file, line and key, and is refused', async (t) => {
  const cases: [string, string, string, number, string, RegExp][] = [
    ['ScaleMin > ScaleMax', 'web@.service', 'ScaleMin=5\nScaleMax=3\nScaleCPU=70%', 4, 'ScaleMin', /ScaleMin=5 is more than ScaleMax=3/],
    ['a percentage without %', 'web@.service', 'ScaleMax=3\nScaleCPU=70', 5, 'ScaleCPU', /"70" is not a percentage/],
    ['a percentage out of range', 'web@.service', 'ScaleMax=3\nScaleCPU=0%', 5, 'ScaleCPU', /out of range/],
    ['a word for a percentage', 'web@.service', 'ScaleMax=3\nScaleMemory=lots\nMemory=1G', 5, 'ScaleMemory', /not a percentage/],
    ['Scale* on a single unit', 'one.service', 'ScaleMax=3\nScaleCPU=70%', 4, 'ScaleMax', /only for groups.*one\.service is a single unit/],
    ['no ScaleMax', 'web@.service', 'ScaleMin=2\nScaleCPU=70%', 4, 'ScaleMin', /ScaleMax= is required/],
    ['no target', 'web@.service', 'ScaleMax=4', 4, 'ScaleMax', /needs a target: ScaleCPU= or ScaleMemory=/],
    ['ScaleMemory without a memory reservation', 'web@.service', 'ScaleMax=4\nScaleMemory=80%', 5, 'ScaleMemory', /set Memory=/],
    ['ScaleMin=0', 'web@.service', 'ScaleMin=0\nScaleMax=4\nScaleCPU=50%', 4, 'ScaleMin', /at least 1/],
    ['a bad window', 'web@.service', 'ScaleMax=4\nScaleCPU=50%\nScaleDownWindow=soon', 6, 'ScaleDownWindow', /not a time span/],
    ['a misspelt key', 'web@.service', 'ScaleMax=4\nScaleCpu=50%', 5, 'ScaleCpu', /did you mean ScaleCPU/],
  ];
  for (const [name, unit, shoal, line, key, msg] of cases) {
    const err = (() => { try { parseUnit(unit, svc(shoal), { file: `units/${unit}` }); } catch (e) { return e; } return undefined; })();
    t.ok(err instanceof ValidationError, `${name}: refused`);
    const e = err as ValidationError;
    t.match(e.message, msg, `${name}: says what`);
    t.match(e.location, { file: `units/${unit}`, line, key }, `${name}: says where`);
  }
});
