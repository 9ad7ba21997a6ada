/**
 * systemd's own keys are read as systemd reads them (issue 10 item 10): for every recorded case (generated
 * from `systemd-analyze verify`, see test/helpers/systemd-oracle.ts) shoal accepts the unit exactly when systemd
 * applies the line, and refuses it (with the line and key) when systemd would ignore it — a reservation
 * must not silently vanish. Values are the bytes/millicores systemd's rules give.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUnit } from '../../src/units';
import { ValidationError } from '../../src/errors';
import { caseUnit, CASES, type Verdict } from '../helpers/systemd-oracle';

const table: Verdict[] = JSON.parse(readFileSync(join(__dirname, 'systemd-keys.table.json'), 'utf8'));
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

t.test('the table covers every case (regenerate it when CASES change)', async (t) => {
  t.same(table.map((v) => `${v.key}=${v.value}`), CASES.map((c) => `${c.key}=${c.value}`));
});

t.test('shoal accepts exactly what systemd 252 accepts', async (t) => {
  for (const v of table) {
    let err: unknown;
    try {
      parseUnit('t.service', caseUnit(v), { file: 't.service' });
    } catch (e) {
      err = e;
    }
    const shoal = err === undefined ? 'accepted' : 'refused';
    t.equal(shoal, v.systemd, `${v.key}=${v.value}: systemd ${v.systemd}${v.message ? ` (${v.message})` : ''}${err ? `; shoal: ${(err as Error).message}` : ''}`);
    if (err) t.match(err, { constructor: ValidationError, location: { file: 't.service', line: 3, section: 'Service', key: v.key } }, `${v.key}=${v.value}: located`);
  }
});

t.test('values are systemd\'s', async (t) => {
  const mem: [string, number][] = [
    ['10.M', 10 * MiB], ['1G 512M', 1.5 * GiB], ['1.5G', 1.5 * GiB], ['1 G', GiB], ['+5M', 5 * MiB], ['1', 1], ['1.5', 1],
    ['5.G', 5 * GiB], ['2.5K 3B', 2563], ['1E', 2 ** 60], ['infinity', 0], ['50%', 0], ['5‰', 0],
  ];
  for (const [value, bytes] of mem) {
    t.equal(parseUnit('t.service', caseUnit({ key: 'MemoryMax', value })).resources.memoryBytes, bytes, `MemoryMax=${value}`);
  }
  const cpu: [string, number][] = [['150%', 1500], ['12.34%', 124], ['0.01%', 1], ['5.5‰', 6], ['50‱', 5], ['+50%', 500], ['0x10%', 160], ['100000%', 1_000_000]];
  for (const [value, millis] of cpu) {
    t.equal(parseUnit('t.service', caseUnit({ key: 'CPUQuota', value })).resources.cpuMillis, millis, `CPUQuota=${value}`);
  }
});
