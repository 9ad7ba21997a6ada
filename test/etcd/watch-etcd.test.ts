/** Watches against a real etcd: typed events, resume after a disconnect and an etcd restart, reset after compaction. */
import t from 'tap';
import { getEventListeners, getMaxListeners, setMaxListeners } from 'node:events';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { WatchBatch } from '../../src/etcd/registry';
import { startProxy, type TcpProxy } from './tcp-proxy';
import { etcdctl, revision } from './etcdctl';

let etcd: EtcdServer;
let proxy: TcpProxy;
const regs: EtcdRegistry[] = [];
const reg = (endpoint: string, prefix: string) => { const r = new EtcdRegistry({ endpoints: [endpoint], prefix, callTimeoutMs: 2000 }); regs.push(r); return r; };

t.before(async () => { etcd = await startEtcd(); proxy = await startProxy(etcd.endpoint); });
t.teardown(async () => { for (const r of regs) r.close(); await proxy.close(); await etcd.close(); });

/** Collects batches from a watch in the background until `signal` aborts. */
function collect(it: AsyncIterable<WatchBatch>): WatchBatch[] {
  const got: WatchBatch[] = [];
  void (async () => { for await (const b of it) got.push(b); })();
  return got;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('typed events for the scopes asked, nothing else', async (t) => {
  const writer = reg(etcd.endpoint, '/w1/');
  const watcher = reg(etcd.endpoint, '/w1/');
  const ac = new AbortController();
  const got = collect(watcher.watch([{ kind: 'units' }, { kind: 'desired' }, { kind: 'assigned', machine: 'm1' }], { signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 200));
  await writer.submitUnit({ name: 'a.service', text: 'x', hash: 'h' }, { desired: 'launched' });
  await writer.setMetadata('m1', 'k', 'v'); // not watched
  const l = await writer.campaign('e', 5, new AbortController().signal);
  await writer.applySchedule(l!.guard, [{ kind: 'place', unit: 'a.service', machine: 'm1' }, { kind: 'place', unit: 'b.service', machine: 'm2' }]);
  await writer.destroyUnit('a.service');
  await until(() => got.flatMap((b) => b.events).length >= 5, 3000, '5 events');
  const events = got.flatMap((b) => b.events);
  t.same([...events].sort(byJson), [
    { type: 'unit', unit: 'a.service', value: { name: 'a.service', text: 'x', hash: 'h' } },
    { type: 'desired', unit: 'a.service', value: 'launched' },
    { type: 'assigned', machine: 'm1', unit: 'a.service', value: true },
    { type: 'unit', unit: 'a.service', value: null },
    { type: 'desired', unit: 'a.service', value: null },
  ].sort(byJson), 'only the watched prefixes; m2 assignment and metadata are not seen');
  ac.abort();
  await l!.resign();
});

t.test('a watch on a signal without a listener limit (setMaxListeners(0)) works and keeps it unlimited', async (t) => {
  const writer = reg(etcd.endpoint, '/w0/');
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // bench:scale's 1,000 simulated agents share one signal like this; Node 20 then threw in getMaxListeners
  const got = collect(reg(etcd.endpoint, '/w0/').watch([{ kind: 'units' }], { signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 200));
  await writer.submitUnit({ name: 'z.service', text: 'x', hash: 'h' });
  await until(() => got.some((b) => b.events.length > 0), 3000, 'the unit event');
  t.same(got.flatMap((b) => b.events), [{ type: 'unit', unit: 'z.service', value: { name: 'z.service', text: 'x', hash: 'h' } }]);
  // Node 20 reads a limit of 0 as none set (getMaxListeners throws): either way it must still be 0, not 23
  let limit: number;
  try { limit = getMaxListeners(ac.signal); } catch { limit = 0; }
  t.equal(limit, 0, 'the signal keeps no listener limit');
  ac.abort();
});

function byJson(a: unknown, b: unknown): number { return JSON.stringify(a) < JSON.stringify(b) ? -1 : 1; }

t.test('a watch resumes from its last revision after a disconnect: changes made meanwhile arrive', async (t) => {
  const writer = reg(etcd.endpoint, '/w2/');
  const watcher = reg(proxy.endpoint, '/w2/');
  const ac = new AbortController();
  const got = collect(watcher.watch([{ kind: 'desired' }], { signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 200));
  await writer.submitUnit({ name: 'u0.service', text: 'x', hash: 'h' }, { desired: 'loaded' });
  await until(() => got.length >= 1, 3000, 'first event');
  await proxy.cut();
  for (let i = 1; i <= 5; i++) await writer.submitUnit({ name: `u${i}.service`, text: 'x', hash: 'h' }, { desired: 'launched' });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(got.flatMap((b) => b.events).length, 1, 'nothing arrives while cut');
  await proxy.heal();
  await until(() => got.flatMap((b) => b.events).length >= 6, 15000, 'missed events after heal');
  const names = got.flatMap((b) => b.events).map((e) => (e.type === 'desired' ? e.unit : '?'));
  t.same(names, ['u0.service', 'u1.service', 'u2.service', 'u3.service', 'u4.service', 'u5.service'], 'every change once, in order');
  t.notOk(got.some((b) => b.reset), 'no reset when the revision was still there');
  ac.abort();
});

t.test('a watch survives an etcd restart', async (t) => {
  const w = reg(etcd.endpoint, '/w3/');
  const ac = new AbortController();
  const got = collect(w.watch([{ kind: 'units' }], { signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 200));
  await etcd.restart();
  const writer = reg(etcd.endpoint, '/w3/');
  await writer.submitUnit({ name: 'after.service', text: 'x', hash: 'h' });
  await until(() => got.length >= 1, 15000, 'event after restart');
  t.same(got[0].events, [{ type: 'unit', unit: 'after.service', value: { name: 'after.service', text: 'x', hash: 'h' } }]);
  ac.abort();
});

t.test('a compacted revision yields one reset, then events again', async (t) => {
  const writer = reg(etcd.endpoint, '/w4/');
  const watcher = reg(proxy.endpoint, '/w4/');
  const ac = new AbortController();
  const got = collect(watcher.watch([{ kind: 'desired' }], { signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 200));
  await writer.submitUnit({ name: 'c0.service', text: 'x', hash: 'h' }, { desired: 'loaded' });
  await until(() => got.length >= 1, 3000, 'first event');
  await proxy.cut();
  for (let i = 1; i <= 3; i++) await writer.submitUnit({ name: `c${i}.service`, text: 'x', hash: 'h' }, { desired: 'launched' });
  etcdctl(etcd.endpoint, 'compaction', String(revision(etcd.endpoint)));
  await proxy.heal();
  await until(() => got.some((b) => b.reset), 15000, 'reset');
  const reset = got.find((b) => b.reset)!;
  t.same(reset.events, [], 'a reset carries no events');
  t.ok(reset.revision >= revision(etcd.endpoint) - 1, 'reset names the revision to re-read from');
  await writer.submitUnit({ name: 'c9.service', text: 'x', hash: 'h' }, { desired: 'launched' });
  await until(() => got.flatMap((b) => b.events).some((e) => e.type === 'desired' && e.unit === 'c9.service'), 5000, 'event after reset');
  t.equal(got.filter((b) => b.reset).length, 1, 'exactly one reset');
  ac.abort();
});

t.test('retrying a watch against an unreachable etcd leaves no abort listener behind per attempt', async (t) => {
  // cut from the start: each watch create never settles and times out after 5 s, then is retried
  const cutOff = await startProxy(etcd.endpoint);
  t.teardown(() => cutOff.close());
  await cutOff.cut();
  const w = reg(cutOff.endpoint, '/w5/');
  const ac = new AbortController();
  collect(w.watch([{ kind: 'units' }], { signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 200));
  const base = getEventListeners(ac.signal, 'abort').length;
  await new Promise((r) => setTimeout(r, 11_500)); // at least two timed-out attempts
  // the watch's own listener and the attempt in flight: a leak adds one per timed-out attempt
  t.ok(getEventListeners(ac.signal, 'abort').length <= base, `abort listeners: ${getEventListeners(ac.signal, 'abort').length}, at start ${base}`);
  ac.abort();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(getEventListeners(ac.signal, 'abort').length, 0, 'none left after the watch ended');
  // reachable again, so the client's pending create settles and it can close (etcd3 retries it forever)
  await cutOff.heal();
  await new Promise((r) => setTimeout(r, 1000));
});
