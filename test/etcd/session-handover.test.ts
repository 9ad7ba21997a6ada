/**
 * A shoald restart hands its machine over with the restart grace: handOver() moves the record and its
 * states onto a lease of RESTART_GRACE_S, so the restarted agent has that long (a cold start under load
 * took longer than the TTL) to take the record over before the engine moves any unit.
 * Real etcd; the lease's remaining time is read with the real etcdctl.
 */
import t from 'tap';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { RESTART_GRACE_S } from '../../src/etcd/session-etcd';
import type { MachineRecord } from '../../src/etcd/registry';
import { startEtcd } from '../helpers/etcd-server';
import { etcdctl, type EtcdTarget } from './etcdctl';

const machine = (id: string): MachineRecord => ({ id, metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'test', startedAt: '' });

/** Seconds etcd says the lease of `key` has left. */
function remaining(endpoint: EtcdTarget, key: string): number {
  // the lease id is an int64: read its digits from the text (JSON.parse would round it)
  const id = /"lease":(\d+)/.exec(etcdctl(endpoint, 'get', key, '-w', 'json'))?.[1];
  if (!id) throw new Error(`${key} has no lease`);
  const out = etcdctl(endpoint, 'lease', 'timetolive', BigInt(id).toString(16));
  const m = /remaining\((-?\d+)s\)/.exec(out);
  if (!m) throw new Error(`cannot read the remaining time: ${out}`);
  return Number(m[1]);
}

t.test('handOver moves the machine onto the restart grace; detach leaves what was left; the next agent takes over', async (t) => {
  const etcd = await startEtcd({ tls: true, auth: true });
  t.teardown(() => etcd.close());
  const reg = new EtcdRegistry({ ...etcd.connection, prefix: '/t/', callTimeoutMs: 2000 });
  t.teardown(() => reg.close());
  const TTL = 9;
  // keep-alives go every TTL/3 = 3 s; 2.7 s after the grant the lease has about TTL - 2.7 s left
  const a = await reg.register({ ...machine('a'), session: 'tok-a' }, TTL);
  const b = await reg.register(machine('b'), TTL);
  await a.reportState('u.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: '' });
  await new Promise((r) => setTimeout(r, 2700));
  await a.handOver();
  b.detach();
  const ra = remaining(etcd, '/t/machines/a');
  const rs = remaining(etcd, '/t/states/u.service/a');
  const rb = remaining(etcd, '/t/machines/b');
  t.ok(ra >= RESTART_GRACE_S - 1, `handed over: ${ra} s of the ${RESTART_GRACE_S} s restart grace left (TTL ${TTL} s)`);
  t.ok(rs >= RESTART_GRACE_S - 1, `its unit states too: ${rs} s left`);
  t.ok(rb <= TTL - 2, `detached without a last keep-alive: ${rb} s left`);
  t.equal(JSON.parse(etcdctl(etcd, 'get', '/t/machines/a', '--print-value-only')).session, 'tok-a', 'the record is unchanged');
  // and nobody keeps it alive any more: it runs out
  await new Promise((r) => setTimeout(r, 1500));
  t.ok(remaining(etcd, '/t/machines/a') < ra, 'no keep-alive after the hand-over');
  // the restarted agent (same session token) takes the record over onto its own lease; the grace lease goes
  const a2 = await reg.register({ ...machine('a'), session: 'tok-a' }, TTL);
  t.teardown(() => a2.detach());
  t.ok(remaining(etcd, '/t/machines/a') <= TTL, 'the record is on the new agent\'s lease');
  t.equal(etcdctl(etcd, 'get', '/t/states/u.service/a', '--print-value-only').trim(), '', 'the old states went with the grace lease (the new agent reports its own)');
  // a stop for good gives the lease up at once
  await a2.close();
  t.equal(etcdctl(etcd, 'get', '/t/machines/a', '--print-value-only').trim(), '', 'closed: the record is gone');
});
