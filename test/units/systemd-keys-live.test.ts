/**
 * The recorded systemd table cannot rot: a sample of it (every 3rd case and the issue's examples) is
 * re-checked against the live `systemd-analyze verify` on this machine (systemd 252, as in the testbed
 * image). Fails, never skips, when systemd-analyze is missing.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOracle, type Verdict } from '../helpers/systemd-oracle';

const table: Verdict[] = JSON.parse(readFileSync(join(__dirname, 'systemd-keys.table.json'), 'utf8'));

t.test('the live systemd-analyze agrees with the recorded table', async (t) => {
  const sample = table.filter((v, i) => i % 3 === 0 || ['10.M', '1G 512M'].includes(v.value));
  const live = await runOracle(sample);
  for (let i = 0; i < sample.length; i++) {
    t.equal(live[i].systemd, sample[i].systemd, `${sample[i].key}=${sample[i].value}${live[i].message ? `: ${live[i].message}` : ''}`);
  }
  t.ok(sample.length >= 40, `${sample.length} cases re-checked`);
});
