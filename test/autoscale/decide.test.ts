/** The autoscaler's pure decision (src/autoscale/decide.ts): cases, and properties over seeded runs. */
import t from 'tap';
import { decide, TOLERANCE, type Recommendation } from '../../src/autoscale/decide';
import type { ScaleOptions } from '../../src/units/scale-options';
import { seededRandom } from '../../src/seeded-random';

const opts = (o: Partial<ScaleOptions> = {}): ScaleOptions => ({
  min: 1, max: 10, cpuPercent: 70, cpuBaseMillis: 1000, memoryBaseBytes: 0, upWindowMs: 0, downWindowMs: 60_000, ...o,
});
const at = (now: number, current: number, cpu: number | undefined, history: Recommendation[] = [], o = opts()) =>
  decide({ current, options: o, observed: cpu === undefined ? {} : { cpu }, reporting: cpu === undefined ? 0 : current, now, history });

t.test('cases', async (t) => {
  t.equal(at(0, 2, 140).desired, 4, 'twice the target: twice the instances');
  t.equal(at(0, 3, 100).desired, 5, 'ceil(3 × 100/70) = 5');
  t.equal(at(0, 3, 75).desired, 3, 'within the 10 % tolerance: no change');
  t.equal(at(0, 4, 700).desired, 10, 'clamped to ScaleMax');
  t.match(at(0, 4, 700).reason, /clamped to ScaleMax=10/);
  t.equal(at(0, 4, undefined).desired, 4, 'no data: hold');
  t.equal(at(0, 0, undefined).desired, 1, 'an empty group gets ScaleMin');
  t.equal(at(0, 12, 70).desired, 10, 'a count above ScaleMax comes down at once');
  t.equal(at(0, 4, 10, [], opts({ downWindowMs: 0 })).desired, 1, 'no window: down at once');
  const o = opts({ memoryPercent: 50, memoryBaseBytes: 1 << 20 });
  t.equal(decide({ current: 2, options: o, observed: { cpu: 35, memory: 100 }, reporting: 2, now: 0, history: [] }).desired, 4,
    'the metric asking for most wins (memory 2× its target)');
});

t.test('the scale-down window keeps the highest recommendation', async (t) => {
  let h: Recommendation[] = [];
  let r = at(0, 4, 140, h); h = r.history;           // wants 8
  t.equal(r.desired, 8);
  r = at(10_000, 8, 10, h); h = r.history;             // load gone: wants 2, window holds 8
  t.equal(r.desired, 8, 'held');
  t.match(r.reason, /scale-down window 60s holds 8/);
  r = at(59_000, 8, 10, h); h = r.history;
  t.equal(r.desired, 8, 'still within the window of the 8');
  r = at(61_000, 8, 10, h); h = r.history;
  t.equal(r.desired, 2, 'the 8 left the window: down to what the window saw since');
});

t.test('the scale-up window keeps the lowest recommendation', async (t) => {
  const o = opts({ upWindowMs: 30_000 });
  let r = at(0, 2, 70, [], o);
  r = at(10_000, 2, 210, r.history, o);
  t.equal(r.desired, 2, 'a burst shorter than the up window moves nothing');
  r = at(31_000, 2, 210, r.history, o);
  t.equal(r.desired, 6, 'sustained past the window: up');
});

/** Runs `steps` evaluations 5 s apart with `load(step)` as total CPU demand (in % of one instance's base). */
function run(seed: number, o: ScaleOptions, load: (step: number, rnd: () => number) => number, steps = 400) {
  const rnd = seededRandom(seed);
  let current = o.min + Math.floor(rnd() * (o.max - o.min + 1));
  let history: Recommendation[] = [];
  const events: { at: number; from: number; to: number }[] = [];
  for (let s = 0; s < steps; s++) {
    const now = s * 5000;
    const demand = load(s, rnd);
    const r = decide({ current, options: o, observed: current > 0 ? { cpu: demand / current } : {}, reporting: current, now, history });
    history = r.history;
    if (r.desired !== current) events.push({ at: now, from: current, to: r.desired });
    if (r.desired < o.min || r.desired > o.max) throw new Error(`seed ${seed}: ${r.desired} outside [${o.min}, ${o.max}]`);
    current = r.desired;
  }
  return events;
}

t.test('properties over seeded runs (SEED=n replays one)', async (t) => {
  const first = Number(process.env.SEED ?? 1);
  const seeds = process.env.SEED ? [first] : Array.from({ length: 300 }, (_, i) => first + i);
  const bad: string[] = [];
  let ups = 0;
  let downs = 0;
  for (const seed of seeds) {
    const rnd = seededRandom(seed * 7919);
    const min = Math.floor(rnd() * 4);
    const o = opts({ min, max: min + 1 + Math.floor(rnd() * 12), downWindowMs: 5000 * (1 + Math.floor(rnd() * 24)), upWindowMs: 5000 * Math.floor(rnd() * 3) });
    // within [min, max] always (run throws otherwise), and no scale-down within the down window after a scale-up
    const target = o.cpuPercent!;
    const walk = run(seed, o, (s, r) => Math.max(0, target * 3 * (1 + Math.sin(s / 15)) + (r() - 0.5) * target * 4));
    let lastUp = -Infinity;
    for (const e of walk) {
      if (e.to > e.from) lastUp = e.at;
      else if (e.at - lastUp < o.downWindowMs) bad.push(`seed ${seed}: down ${e.from}→${e.to} at ${e.at} ms, ${e.at - lastUp} ms after an up (window ${o.downWindowMs})`);
    }
    ups += walk.filter((e) => e.to > e.from).length;
    downs += walk.filter((e) => e.to < e.from).length;
    // steady demand with noise inside the tolerance: the count never changes
    let current = Math.max(1, o.min + Math.floor(rnd() * (o.max - o.min + 1)));
    let history: Recommendation[] = [];
    const r2 = seededRandom(seed);
    for (let s = 0; s < 200; s++) {
      const obs = target * (1 + (r2() * 2 - 1) * TOLERANCE * 0.99);
      const d = decide({ current, options: { ...o, min: Math.min(o.min, current), max: Math.max(o.max, current) }, observed: { cpu: obs }, reporting: current, now: s * 5000, history });
      history = d.history;
      if (d.desired !== current) { bad.push(`seed ${seed}: noise within tolerance moved ${current}→${d.desired} at step ${s}`); break; }
    }
  }
  t.same(bad, [], `${seeds.length} runs: never outside [min, max], no flapping`);
  t.ok(ups > 0 && downs > 0, `the runs do scale both ways (${ups} ups, ${downs} downs)`);
});
