/**
 * A shoald restart hands its machine lease over with the whole TTL left: handOver() sends one last
 * keep-alive before letting go, so the restarted agent has TTL seconds (not what was left since the last
 * periodic keep-alive, TTL/3 ago at worst) to take the record over before the engine moves any unit.
 * Real etcd; the lease's remaining time is read with the real etcdctl.
 */
import t from 'tap';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord } from '../../src/etcd/registry';
import { startEtcd } from '../helpers/etcd-server';
import { etcdctl } from './etcdctl';

const machine = (id: string): MachineRecord => ({ id, metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'test', startedAt: '' });

/** Seconds etcd says the lease of `key` has left. */
function remaining(endpoint: string, key: string): number {
  // the lease id is an int64: read its digits from the text (JSON.parse would round it)
  const id = /"lease":(\d+)/.exec(etcdctl(endpoint, 'get', key, '-w', 'json'))?.[1];
  if (!id) throw new Error(`${key} has no lease`);
  const out = etcdctl(endpoint, 'lease', 'timetolive', BigInt(id).toString(16));
  const m = /remaining\((-?\d+)s\)/.exec(out);
  if (!m) throw new Error(`cannot read the remaining time: ${out}`);
  return Number(m[1]);
}

t.test('handOver leaves the whole TTL; detach leaves what was left', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.close());
  const reg = new EtcdRegistry({ endpoints: [etcd.endpoint], prefix: '/t/', callTimeoutMs: 2000 });
  t.teardown(() => reg.close());
  const TTL = 9;
  // keep-alives go every TTL/3 = 3 s; 2.7 s after the grant the lease has about TTL - 2.7 s left
  const a = await reg.register(machine('a'), TTL);
  const b = await reg.register(machine('b'), TTL);
  await new Promise((r) => setTimeout(r, 2700));
  await a.handOver();
  b.detach();
  const ra = remaining(etcd.endpoint, '/t/machines/a');
  const rb = remaining(etcd.endpoint, '/t/machines/b');
  t.ok(ra >= TTL - 1, `handed over: ${ra} s of ${TTL} left`);
  t.ok(rb <= TTL - 2, `detached without a last keep-alive: ${rb} s left`);
  // and nobody keeps it alive any more: it runs out
  await new Promise((r) => setTimeout(r, 1500));
  t.ok(remaining(etcd.endpoint, '/t/machines/a') < ra, 'no keep-alive after the hand-over');
});
