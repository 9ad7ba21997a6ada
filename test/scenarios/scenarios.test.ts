/**
 * The failure-scenario suite on the local testbed (real systemd nodes, real etcd, shoald in every
 * node): every scenario must pass, with no unit lost and none doubled. SHOAL_SCENARIOS="a b"
 * runs only those. Needs root and the testbed's packages (it fails, never skips, without them).
 */
import t from 'tap';
import { selectScenarios } from '../../scenarios/all';
import { TestbedPlatform } from '../../scenarios/platform-testbed';
import { formatTable, runScenarios } from '../../scenarios/runner';

t.test('failure scenarios on the testbed', { timeout: 900_000 }, async (t) => {
  const scenarios = selectScenarios((process.env.SHOAL_SCENARIOS ?? '').split(/\s+/).filter(Boolean));
  const platform = new TestbedPlatform();
  t.teardown(() => platform.down());
  await platform.up();
  const rows = await runScenarios(platform, scenarios, { log: (l) => t.comment(l) });
  t.comment(`\n${formatTable(rows)}`);
  t.equal(rows.length, scenarios.length, 'every scenario ran');
  for (const r of rows) {
    t.ok(r.passed, `${r.name} passed${r.error ? `: ${r.error}` : ''}`);
    t.equal(r.lost, 0, `${r.name}: no unit lost`);
    t.equal(r.doubled, 0, `${r.name}: no unit doubled`);
    if (r.passed) t.ok(r.recoveryMs !== null && r.recoveryMs >= 0, `${r.name}: recovery timed (${r.recoveryMs} ms)`);
  }
});
