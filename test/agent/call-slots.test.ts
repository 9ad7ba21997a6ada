/**
 * The D-Bus driver's cap on calls in flight (src/agent/call-slots.ts): FIFO, deadlines, no slot lost, and
 * waiters failed at once when the connection closes. Pure logic (real timers, short deadlines).
 */
import t from 'tap';
import { CallSlots, SlotTimeout } from '../../src/agent/call-slots';

t.test('at most max in flight; a released slot goes to the longest waiting call', async (t) => {
  const s = new CallSlots(2);
  await s.acquire(1000);
  await s.acquire(1000);
  const order: number[] = [];
  const a = s.acquire(1000).then(() => order.push(1));
  const b = s.acquire(1000).then(() => order.push(2));
  t.equal(s.waiting, 2);
  s.release();
  await a;
  t.same(order, [1]);
  t.equal(s.used, 2);
  s.release();
  await b;
  t.same(order, [1, 2]);
  s.release();
  s.release();
  t.equal(s.used, 0);
});

t.test('a wait past its deadline fails alone and takes no slot', async (t) => {
  const s = new CallSlots(1);
  await s.acquire(1000);
  const err = await s.acquire(20).catch((e: unknown) => e);
  t.ok(err instanceof SlotTimeout, 'a SlotTimeout');
  t.equal(s.waiting, 0);
  t.equal(s.used, 1);
  s.release();
  t.equal(s.used, 0);
  await s.acquire(1000);
  t.equal(s.used, 1);
});

t.test('closing fails every waiting call at once, and every later one; calls in flight release as before', async (t) => {
  const s = new CallSlots(1);
  await s.acquire(10_000);
  const t0 = Date.now();
  const waiting = [s.acquire(10_000), s.acquire(10_000)];
  const gone = new Error('connection closed');
  s.close(gone);
  for (const w of waiting) await t.rejects(w, gone);
  t.ok(Date.now() - t0 < 1000, 'not after their 10 s deadline');
  await t.rejects(s.acquire(10_000), gone);
  s.release();
  t.equal(s.used, 0);
  t.equal(s.waiting, 0);
});
