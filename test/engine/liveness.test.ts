/** LivenessWitness (pure): which absent machines the engine may take for dead, and for how long it holds the others. */
import t from 'tap';
import { LivenessWitness } from '../../src/engine/liveness';
import type { MachineRecord } from '../../src/etcd/registry';

const rec = (id: string, leaving = false): MachineRecord => ({ id, metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 't', startedAt: '', leaving: leaving || undefined });
const G = 8000;
const witness = () => new LivenessWitness({ graceMs: G, staleMs: 3000 });

t.test('a death seen with a fresh view is trusted at once, even right after the engine started', async (t) => {
  const w = witness();
  w.contact(0);
  w.sawAlive(rec('a'), 0);
  w.contact(1000);
  w.sawGone('a', 1500);
  t.notOk(w.held('a', 1500));
});

t.test('deaths seen when etcd comes back after a gap are held for the grace from its return', async (t) => {
  const w = witness();
  w.contact(0);
  w.sawAlive(rec('a'), 0);
  w.contact(1000);
  // etcd paused from 1 s to 29 s: no contact; on resume the lease expiry is delivered with the first contact
  w.contact(29_000);
  w.sawGone('a', 29_000);
  t.ok(w.held('a', 29_000 + G - 1), 'held within the grace');
  t.notOk(w.held('a', 29_000 + G), 'released when the grace ends');
  t.equal(w.heldUntil('a'), 29_000 + G);
});

t.test('a death delivered before the engine heard from etcd again is held until the grace after its return', async (t) => {
  const w = witness();
  w.contact(0);
  w.sawAlive(rec('a'), 0);
  w.sawGone('a', 20_000); // stale view: no contact for 20 s
  t.ok(w.held('a', 1_000_000), 'held while etcd has not answered since');
  w.contact(21_000);
  t.ok(w.held('a', 21_000 + G - 1));
  t.notOk(w.held('a', 21_000 + G));
});

t.test('a leaving machine is never held; a machine never seen is held from the view start', async (t) => {
  const w = witness();
  w.contact(0);
  w.sawAlive(rec('l', true), 0);
  t.ok(w.held('never', G - 1));
  t.notOk(w.held('never', G));
  w.contact(30_000);
  w.sawGone('l', 30_000); // even right after a recovery
  t.notOk(w.held('l', 30_000));
  w.rebuilt(50_000);
  t.ok(w.held('never', 50_000 + G - 1), 'a watch reset starts the view again');
});

t.test('an absent machine the witness last saw alive counts as seen gone at the read; one it never saw does not', async (t) => {
  const w = witness();
  w.contact(0);
  w.sawAlive(rec('a'), 0);
  for (let at = 1000; at <= 20_000; at += 1000) w.contact(at); // answered every second: no gap
  w.sawAbsent('a', 20_000);
  w.sawAbsent('b', 20_000);
  t.notOk(w.held('a', 20_000), 'a: gone, seen with a fresh view');
  t.notOk(w.held('b', 20_000), 'b: never seen, view older than the grace');
  t.equal(w.heldUntil('b'), G);
});

t.test('a machine never seen (alive and unchanged since the engine started) is held for the grace after an etcd outage', async (t) => {
  // CI, etcd-pause: a new leader's first read after the outage missed node1 (it re-registered 70 ms later); this
  // engine had never seen node1 change, so it had no fate for it, and its units moved at once
  const w = witness();
  w.contact(0);
  for (let at = 1000; at <= 60_000; at += 1000) w.contact(at);
  t.notOk(w.held('n1', 60_000), 'long after the start, with no outage: not held');
  w.contact(90_000); // etcd answers again after 30 s
  t.ok(w.held('n1', 90_100), 'held right after the outage');
  t.equal(w.heldUntil('n1'), 90_000 + G);
  t.notOk(w.held('n1', 90_000 + G), 'and not after its grace');
});

t.test('a machine the witness saw alive is held while the model has not caught up (two watches, one ahead)', async (t) => {
  // chaos seed 5 round 4: after an etcd pause the new leader read the cluster (revision 895) before node3
  // re-registered; the witness's own watch then saw node3's record (revision 897) before the model did
  const w = witness();
  w.contact(0);
  w.sawAlive(rec('n3'), 0, 10);
  w.contact(40_000); // etcd back after a pause: a recovery
  w.sawGone('n3', 40_000, 890); // its lease revoked on resume
  w.sawAlive(rec('n3'), 40_100, 897); // re-registered, seen by the witness's watch
  w.sawAbsent('n3', 40_200, 895); // the term's read, older than that
  t.ok(w.held('n3', 40_300), 'absent from the model but alive: its units stay');
  t.ok(w.held('n3', 40_000 + G + 1), 'also after the grace: it is alive');
  t.equal(w.heldUntil('n3'), Infinity, 'no timer: the model catching up re-plans');
  // older news never replaces newer
  w.sawGone('n3', 40_300, 896);
  t.ok(w.held('n3', 40_000 + G + 1), 'a delete older than the put it saw is ignored');
  // and a real death after that is seen as usual
  for (let at = 41_000; at <= 60_000; at += 1000) w.contact(at); // the engine's pings, every second
  w.sawGone('n3', 60_000, 900);
  t.notOk(w.held('n3', 60_000), 'gone at a later revision, with a fresh view long after the outage: trusted');
});
