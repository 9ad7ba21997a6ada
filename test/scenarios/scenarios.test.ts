/**
 * The failure-scenario suite on the local testbed (real systemd nodes, real etcd, shoald in every
 * node): every scenario must pass, with no unit lost and none doubled. SHOAL_SCENARIOS="a b"
 * runs only those. Then the 3-member etcd scenarios on a testbed of their own (`--etcd 3`). Needs root and the testbed's packages (it fails, never skips, without them).
 */
import t from 'tap';
import { etcdClusterScenarios, selectScenarios } from '../../scenarios/all';
import { TestbedPlatform } from '../../scenarios/platform-testbed';
import { formatTable, runScenarios } from '../../scenarios/runner';

t.test('failure scenarios on the testbed', { timeout: 900_000 }, async (t) => {
  const only = (process.env.SHOAL_SCENARIOS ?? '').split(/\s+/).filter(Boolean);
  const names = only.filter((n) => !etcdClusterScenarios.some((s) => s.name === n));
  if (only.length && names.length === 0) { t.comment('only 3-member etcd scenarios asked for'); return; }
  const scenarios = selectScenarios(names);
  const platform = new TestbedPlatform();
  t.teardown(() => platform.down());
  await platform.up();
  const rows = await runScenarios(platform, scenarios, { log: (l) => t.comment(l) });
  t.comment(`\n${formatTable(rows)}`);
  t.equal(rows.length, scenarios.length, 'every scenario ran');
  for (const r of rows) {
    if (r.notInjectable) {
      // only a fault the platform has no injector for (e.g. one etcd member of several) may be n/a
      t.ok(scenarios.find((s) => s.name === r.name)?.cannot?.(platform), `${r.name}: n/a on the testbed (${r.notInjectable})`);
      continue;
    }
    t.ok(r.passed, `${r.name} passed${r.error ? `: ${r.error}` : ''}`);
    t.equal(r.lost, 0, `${r.name}: no unit lost`);
    t.equal(r.doubled, 0, `${r.name}: no unit doubled`);
    if (r.passed) t.ok(r.recoveryMs !== null && r.recoveryMs >= 0, `${r.name}: recovery timed (${r.recoveryMs} ms)`);
  }
});

t.test('3-member etcd scenarios on the testbed (testbed/up --etcd 3)', { timeout: 600_000 }, async (t) => {
  const only = (process.env.SHOAL_SCENARIOS ?? '').split(/\s+/).filter(Boolean);
  const scenarios = only.length ? etcdClusterScenarios.filter((s) => only.includes(s.name)) : etcdClusterScenarios;
  if (only.length && scenarios.length === 0) { t.comment('none of SHOAL_SCENARIOS is a 3-member etcd scenario'); return; }
  const platform = new TestbedPlatform({ etcdMembers: 3 });
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
