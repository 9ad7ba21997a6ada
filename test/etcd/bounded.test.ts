/**
 * issue 9, faults 3 and 6, on a real etcd: waits on an unreachable etcd end when asked to (a shutdown is
 * never held up by a watch being created), and waiting leaves nothing behind on a long-lived signal.
 */
import t from 'tap';
import { getEventListeners } from 'node:events';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';

let etcd: EtcdServer;
const regs: EtcdRegistry[] = [];
const reg = (prefix: string) => { const r = new EtcdRegistry({ ...etcd.connection, prefix, callTimeoutMs: 500 }); regs.push(r); return r; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.before(async () => { etcd = await startEtcd({ tls: true, auth: true }); });
t.teardown(async () => { etcd.resume(); for (const r of regs) r.close(); await etcd.close(); });

t.test('a watch started while etcd is unreachable ends within a second of its abort', async (t) => {
  const r = reg('/b1/');
  await r.listUnits(); // connected
  etcd.pause();
  t.teardown(() => etcd.resume());
  const ac = new AbortController();
  const watching = (async () => { for await (const _ of r.watch([{ kind: 'units' }, { kind: 'machines' }], { signal: ac.signal })) { /* none */ } })();
  await sleep(1500);
  const t0 = Date.now();
  ac.abort();
  await watching;
  const ms = Date.now() - t0;
  t.ok(ms < 1000, `the watch ended ${ms} ms after the abort (etcd paused)`);
  etcd.resume();
});

t.test('campaigning through an etcd outage and a lost election leaves no listener on the caller\'s signal', async (t) => {
  const P = '/b2/';
  const holder = reg(P);
  const candidate = reg(P);
  const life = new AbortController(); // a process-long signal, as shoald's
  const held = await holder.campaign('holder', 2, life.signal);
  t.ok(held, 'the holder leads');
  const term = candidate.campaign('candidate', 2, life.signal); // loses, waits for the key
  await sleep(300);
  etcd.pause(); // every campaign attempt now fails and backs off
  await sleep(4000);
  etcd.resume();
  await sleep(500);
  await held!.resign();
  const won = await term;
  t.ok(won, 'the candidate leads after the holder resigned');
  const left = getEventListeners(life.signal, 'abort').length;
  t.equal(left, 0, `listeners left on the long-lived signal: ${left}`);
  await won!.resign();
  life.abort();
});
