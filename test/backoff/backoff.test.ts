/** shoal's one backoff (src/backoff.ts): bounds of its two jitters. */
import t from 'tap';
import { Backoff } from '../../src/backoff';

t.test("'half' jitter: the n-th delay in [initial·2^n / 2, initial·2^n), capped; reset starts over", async (t) => {
  for (let run = 0; run < 200; run++) {
    const b = new Backoff({ initialMs: 2000, maxMs: 300_000, jitter: 'half' });
    for (let n = 0; n < 12; n++) {
      const nominal = Math.min(300_000, 2000 * 2 ** n);
      const d = b.next();
      if (d < nominal / 2 || d > nominal) { t.fail(`delay ${n}: ${d} ms, not in [${nominal / 2}, ${nominal}]`); return; }
    }
    b.reset();
    const d = b.next();
    if (d < 1000 || d >= 2000) { t.fail(`after reset: ${d} ms`); return; }
  }
  t.pass('200 schedules within their bounds');
});

t.test('the default (decorrelated) jitter stays within maxMs and grows', async (t) => {
  const b = new Backoff({ initialMs: 100, maxMs: 2000 });
  const ds = Array.from({ length: 20 }, () => b.next());
  t.ok(ds.every((d) => d >= 1 && d <= 2000), ds.join(' '));
  t.ok(ds.slice(10).some((d) => d > 500), 'reaches the upper range');
});
