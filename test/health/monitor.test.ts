/**
 * The health monitor's verdicts on a driven clock with scripted check results (the checks themselves run
 * for real in checks.test.ts): MinHealthyTime, a restart resetting it, HealthRetries failures → a recorded
 * restart, and a hung check of one unit never delaying another's verdict.
 */
import t from 'tap';
import { HealthMonitor, type UnitHealth } from '../../src/health/monitor';
import { parseUnit } from '../../src/units';
import { silentLogger } from '../../src/log';
import type { Clock } from '../../src/agent/clock';

/** A clock whose timers fire when `advance` passes them. */
class TestClock implements Clock {
  t = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now() { return this.t; }
  setTimeout(fn: () => void, ms: number) { const id = this.next++; this.timers.set(id, { at: this.t + ms, fn }); return id; }
  clearTimeout(h: unknown) { this.timers.delete(h as number); }
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    this.t = end;
  }
}

function setup(checkResults: Record<string, () => Promise<{ ok: boolean; output: string }>>) {
  const clock = new TestClock();
  const restarts: string[] = [];
  const changes: string[] = [];
  const m = new HealthMonitor({
    clock, log: silentLogger, onChange: (u) => changes.push(u),
    restart: async (u) => { restarts.push(u); },
    checks: {
      command: (cmd) => checkResults[cmd](),
      http: async () => ({ ok: true, output: '' }),
      tcp: async () => ({ ok: true, output: '' }),
    },
  });
  return { clock, m, restarts, changes };
}

const unit = (name: string, shoal: string) => parseUnit(name, `[Service]\nExecStart=/bin/sleep 100\n[X-Shoal]\n${shoal}\n`);
const h = (m: HealthMonitor, u: string) => (m.of(u) as UnitHealth).health;

t.test('no check: healthy after MinHealthyTime of being active; a new main PID starts the time again', async (t) => {
  const { clock, m } = setup({});
  m.sync([unit('a.service', 'MinHealthyTime=1s')]);
  m.observe({ name: 'a.service', activeState: 'activating', unitHash: 'h1' });
  await clock.advance(5000);
  t.equal(h(m, 'a.service'), 'starting', 'not active: starting');
  m.observe({ name: 'a.service', activeState: 'active', mainPid: 10, unitHash: 'h1' });
  await clock.advance(900);
  t.equal(h(m, 'a.service'), 'starting');
  await clock.advance(200);
  t.equal(h(m, 'a.service'), 'healthy', 'healthy once MinHealthyTime passed');
  m.observe({ name: 'a.service', activeState: 'active', mainPid: 11, unitHash: 'h1' });
  t.equal(h(m, 'a.service'), 'starting', 'restarted (new PID): MinHealthyTime again');
  await clock.advance(1100);
  t.equal(h(m, 'a.service'), 'healthy');
  m.observe({ name: 'a.service', activeState: 'active', mainPid: 11, unitHash: 'h2' });
  t.equal(h(m, 'a.service'), 'starting', 'a new body counts as a restart');
  m.observe({ name: 'a.service', activeState: 'failed', unitHash: 'h2' });
  t.equal(h(m, 'a.service'), 'unhealthy', 'failed: unhealthy');
});

t.test('a restarted agent: a unit active since before keeps its MinHealthyTime (systemd ActiveEnterTimestamp)', async (t) => {
  const { clock, m } = setup({});
  m.sync([unit('c.service', 'MinHealthyTime=10s'), unit('d.service', 'MinHealthyTime=10s')]);
  m.observe({ name: 'c.service', activeState: 'active', mainPid: 7, unitHash: 'h', activeEnterMs: clock.now() - 60_000 });
  m.observe({ name: 'd.service', activeState: 'active', mainPid: 8, unitHash: 'h', activeEnterMs: clock.now() - 2_000 });
  await clock.advance(10);
  t.equal(h(m, 'c.service'), 'healthy', 'active for a minute already: healthy at once');
  t.equal(h(m, 'd.service'), 'starting', 'active for 2 s: 8 s to go');
  await clock.advance(8100);
  t.equal(h(m, 'd.service'), 'healthy');
});

t.test('HealthRetries failed checks in a row: unhealthy, restarted once, the restart counted', async (t) => {
  let ok = true;
  const { clock, m, restarts } = setup({ probe: async () => ({ ok, output: ok ? 'fine' : 'down' }) });
  m.sync([unit('b.service', 'HealthCheck=probe\nHealthInterval=1s\nHealthRetries=3\nMinHealthyTime=0')]);
  m.observe({ name: 'b.service', activeState: 'active', mainPid: 5, unitHash: 'h' });
  await clock.advance(10);
  t.equal(h(m, 'b.service'), 'healthy', 'the first passing check');
  ok = false;
  await clock.advance(2100);
  t.equal(h(m, 'b.service'), 'healthy', 'two failures: still healthy (retries not reached)');
  t.same(restarts, []);
  await clock.advance(1000);
  t.same(restarts, ['b.service'], 'the third failure restarts it');
  t.match(m.of('b.service'), { health: 'unhealthy', healthRestarts: 1, healthOutput: 'down' });
  m.observe({ name: 'b.service', activeState: 'active', mainPid: 6, unitHash: 'h' });
  t.equal(h(m, 'b.service'), 'unhealthy', 'stays unhealthy until a check passes');
  ok = true;
  await clock.advance(1000);
  t.match(m.of('b.service'), { health: 'healthy', healthRestarts: 1 }, 'healthy again; the restart stays recorded');
});

t.test('a check that never returns delays no other unit', async (t) => {
  const { clock, m } = setup({ hang: () => new Promise(() => undefined), fine: async () => ({ ok: true, output: '' }) });
  m.sync([unit('slow.service', 'HealthCheck=hang\nMinHealthyTime=0'), unit('fast.service', 'HealthCheck=fine\nMinHealthyTime=0\nHealthInterval=1s')]);
  m.observe({ name: 'slow.service', activeState: 'active', mainPid: 1, unitHash: 'h' });
  m.observe({ name: 'fast.service', activeState: 'active', mainPid: 2, unitHash: 'h' });
  await clock.advance(3000);
  t.equal(h(m, 'fast.service'), 'healthy');
  t.equal(h(m, 'slow.service'), 'starting', 'the hung one has no verdict yet (its real runner ends it at HealthTimeout)');
  m.sync([unit('fast.service', 'HealthCheck=fine')]);
  t.equal(m.of('slow.service'), undefined, 'a unit no longer launched here is forgotten');
  m.close();
});

t.test('restarts back off: at once, then at least 1, 2, 4, 8 s apart (never more than 5 starts in 10 s); held restarts say so', async (t) => {
  const { clock, m, restarts } = setup({ probe: async () => ({ ok: false, output: 'exit 1' }) });
  const restartTimes: number[] = [];
  const t0 = clock.now();
  m.sync([unit('sick.service', 'HealthCheck=probe\nHealthInterval=100ms\nHealthRetries=1\nMinHealthyTime=0')]);
  let pid = 1;
  m.observe({ name: 'sick.service', activeState: 'active', mainPid: pid, unitHash: 'h' });
  for (let ms = 0; ms < 60_000; ms += 50) {
    const before = restarts.length;
    await clock.advance(50);
    if (restarts.length > before) {
      restartTimes.push(clock.now() - t0);
      m.observe({ name: 'sick.service', activeState: 'active', mainPid: ++pid, unitHash: 'h' }); // systemd restarted it
    }
  }
  const gaps = restartTimes.slice(1).map((x, i) => x - restartTimes[i]);
  t.ok(restartTimes[0] <= 200, `the first restart at once (after HealthRetries failures): ${restartTimes[0]} ms`);
  gaps.forEach((g, i) => t.ok(g >= 1000 * 2 ** i && g <= 2000 * 2 ** i + 200, `gap ${i + 1}: ${g} ms, in [${1000 * 2 ** i}, ${2000 * 2 ** i}]`));
  t.ok(restartTimes.length >= 5 && restartTimes.length <= 6, `${restartTimes.length} restarts in 60 s, not one per check (600)`);
  // systemd's default start limit: the user's start (t0) and the restarts, at most 5 in any 10 s
  const starts = [0, ...restartTimes];
  for (const s of starts) t.ok(starts.filter((x) => x >= s && x < s + 10_000).length <= 5, `starts in the 10 s from ${s} ms`);
  t.match(m.restartStatus('sick.service'), { restarts: restartTimes.length, retries: 1, output: 'exit 1', backoffMs: Number }, 'a due restart held back by the backoff');
  t.equal(h(m, 'sick.service'), 'unhealthy', 'unhealthy while its restart is held back (it passed through starting with the restart)');
  m.close();
});

t.test('a restarted agent: a failing unit started moments ago is not restarted before systemd\'s start limit window is over', async (t) => {
  const { clock, m, restarts } = setup({ probe: async () => ({ ok: false, output: 'exit 1' }) });
  const opts = 'HealthCheck=probe\nHealthInterval=100ms\nHealthRetries=1\nMinHealthyTime=0';
  m.sync([unit('c.service', opts), unit('d.service', opts)]);
  // c: (re)started 2 s ago, maybe by the old agent's health restarts; d: running for a minute
  m.observe({ name: 'c.service', activeState: 'active', mainPid: 7, unitHash: 'h', activeEnterMs: clock.now() - 2_000 });
  m.observe({ name: 'd.service', activeState: 'active', mainPid: 8, unitHash: 'h', activeEnterMs: clock.now() - 60_000 });
  await clock.advance(150);
  t.same(restarts, ['d.service'], 'd: its last start is long past: restarted at once');
  // e: started by this agent (after it began), first seen active: its first restart comes at once, as always
  m.sync([unit('c.service', opts), unit('d.service', opts), unit('e.service', opts)]);
  m.observe({ name: 'e.service', activeState: 'active', mainPid: 9, unitHash: 'h', activeEnterMs: clock.now() - 100 });
  await clock.advance(50);
  t.equal(restarts.filter((u) => u === 'e.service').length, 1, 'e: restarted at once');
  t.match(m.restartStatus('c.service'), { restarts: 0, backoffMs: Number }, 'c: due, held');
  t.ok(m.restartStatus('c.service')!.backoffMs! >= 8_500, `held until 11 s after its last start (${m.restartStatus('c.service')!.backoffMs} ms)`);
  await clock.advance(8_650);
  t.equal(restarts.filter((u) => u === 'c.service').length, 0, 'c: not yet at 8.85 s');
  await clock.advance(300);
  t.equal(restarts.filter((u) => u === 'c.service').length, 1, 'c: restarted once 11 s after its last start');
});

t.test('the backoff is per unit, and starts over after 10 min healthy', async (t) => {
  let ok = false;
  const { clock, m, restarts } = setup({ flaky: async () => ({ ok, output: ok ? 'fine' : 'down' }), down: async () => ({ ok: false, output: 'down' }) });
  m.sync([unit('a.service', 'HealthCheck=flaky\nHealthInterval=100ms\nHealthRetries=1\nMinHealthyTime=0'), unit('b.service', 'HealthCheck=down\nHealthInterval=100ms\nHealthRetries=1\nMinHealthyTime=0')]);
  m.observe({ name: 'a.service', activeState: 'active', mainPid: 1, unitHash: 'h' });
  await clock.advance(20_000); // a: restarted 5 times or so, backing off
  const aBefore = restarts.filter((u) => u === 'a.service').length;
  t.ok(aBefore >= 4, `a restarted ${aBefore} times`);
  m.observe({ name: 'b.service', activeState: 'active', mainPid: 2, unitHash: 'h' });
  await clock.advance(150);
  t.equal(restarts.filter((u) => u === 'b.service').length, 1, 'b\'s first restart comes at once: a\'s backoff is not b\'s');
  ok = true;
  await clock.advance(1000);
  t.equal(h(m, 'a.service'), 'healthy');
  t.equal(m.restartStatus('a.service')!.backoffMs, undefined, 'healthy: nothing held');
  await clock.advance(600_000);
  ok = false;
  const n = restarts.length;
  await clock.advance(150);
  t.equal(restarts.filter((u) => u === 'a.service').length, aBefore + 1, 'after 10 min healthy a failing unit is restarted at once');
  t.ok(restarts.length > n);
  m.close();
});
