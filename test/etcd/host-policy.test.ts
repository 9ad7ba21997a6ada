/**
 * The etcd client's per-host policy (src/etcd/client.ts hostPolicies), on an injected clock: a member
 * that fails is skipped for 2 s, doubling with each failure in a row up to 30 s, while another member is
 * usable; a success resets it; with every member skipped, calls go through. Pure logic.
 */
import t from 'tap';
import { BROKEN_MS, hostPolicies, MAX_BROKEN_MS } from '../../src/etcd/client';

const DEAD = new Error('14 UNAVAILABLE: No connection established');
const LATE = new Error('4 DEADLINE_EXCEEDED: Deadline exceeded');
const BAD_KEY = new Error('3 INVALID_ARGUMENT: etcdserver: key is not provided');

type Policy = ReturnType<ReturnType<typeof hostPolicies>>;
const ok = (p: Policy) => p.execute(async () => 'ok').then(() => 'called', (e: Error) => (/skipped/.test(e.message) ? 'skipped' : 'called'));
const fail = (p: Policy, err: Error) => p.execute(async () => { throw err; }).then(() => 'called', (e: Error) => (/skipped/.test(e.message) ? 'skipped' : 'called'));

/** After `n` failures in a row of host a (each when it was usable again): how long a is skipped, ms. */
async function windowAfter(n: number, errs: Error[] = [LATE, DEAD]): Promise<number> {
  let clock = 0;
  const a = hostPolicies(['a:2379', 'b:2379', 'c:2379'], () => clock)('a:2379');
  for (let i = 0; i < n; i++) {
    while ((await fail(a, errs[i % errs.length])) === 'skipped') clock += 100;
  }
  const failedAt = clock;
  do clock += 100; while ((await ok(a)) === 'skipped');
  return clock - failedAt;
}

t.test('a failing member is skipped for a window that doubles per failure in a row, up to MAX_BROKEN_MS', async (t) => {
  const windows: number[] = [];
  for (let n = 1; n <= 7; n++) windows.push(await windowAfter(n));
  t.same(windows, [BROKEN_MS, 2 * BROKEN_MS, 4 * BROKEN_MS, 8 * BROKEN_MS, MAX_BROKEN_MS, MAX_BROKEN_MS, MAX_BROKEN_MS]);
  t.equal(await windowAfter(3, [BAD_KEY]), 100, 'an error that is not connection-shaped skips nothing');
});

t.test('a success resets the doubling; with every member skipped, calls go through', async (t) => {
  let clock = 0;
  const policy = hostPolicies(['a:2379', 'b:2379'], () => clock);
  const a = policy('a:2379');
  const b = policy('b:2379');
  await fail(a, LATE);
  clock += BROKEN_MS;
  await fail(a, LATE); // second in a row: 4 s
  clock += 2 * BROKEN_MS;
  t.equal(await ok(a), 'called', 'tried again after 4 s, and it answers');
  await fail(a, LATE);
  clock += BROKEN_MS - 1;
  t.equal(await ok(a), 'skipped', 'skipped after the next failure');
  clock += 1;
  t.equal(await ok(a), 'called', 'for BROKEN_MS only: the success reset the doubling');
  await fail(a, DEAD);
  await fail(b, DEAD);
  t.equal(await ok(a), 'called', 'both members failed: a call still goes through');
  const only = hostPolicies(['a:2379'], () => clock)('a:2379');
  await fail(only, DEAD);
  t.equal(await ok(only), 'called', 'one endpoint: never skipped');
});
