/**
 * Node settings take the syntax unit files take (SHOAL_CAPACITY_MEMORY=1G, SHOAL_CAPACITY_CPU=2 = 2 cores),
 * and a bad one stops `testbed/up` at once with the key, instead of a 30 s wait on a crash-looping shoald.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { up } from '../helpers/testbed';

t.test('SHOAL_CAPACITY_MEMORY=1G and SHOAL_CAPACITY_CPU=2 reach the machine record', async (t) => {
  const tb = await up({ nodes: 1, daemon: true, t, env: { SHOAL_CAPACITY_MEMORY: '1G', SHOAL_CAPACITY_CPU: '2' } });
  const key = `/shoal/machines/${tb.machineId('node1')}`;
  const out = execFileSync('etcdctl', ['--endpoints=http://127.0.0.1:2379', 'get', '--print-value-only', key],
    { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8', timeout: 10_000 });
  t.same(JSON.parse(out).capacity, { cpuMillis: 2000, memoryBytes: 2 ** 30 });
  await tb.down();
});

t.test('a bad setting fails testbed/up fast, naming the key', async (t) => {
  const t0 = Date.now();
  const err = await up({ nodes: 1, daemon: true, env: { SHOAL_CAPACITY_MEMORY_node1: 'lots', SHOAL_REGISTER_TIMEOUT: '30' } })
    .then((tb) => tb.down().then(() => null), (e: Error) => e);
  const ms = Date.now() - t0;
  t.ok(err, 'up fails');
  t.match(err?.message ?? '', /SHOAL_CAPACITY_MEMORY: size "lots" is not bytes/, 'the error names the key and the value');
  t.match(err?.message ?? '', /node1: shoald is failed/);
  t.ok(ms < 15_000, `failed after ${ms} ms, not the 30 s register timeout`);
});
