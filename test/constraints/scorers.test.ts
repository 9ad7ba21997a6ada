import t from 'tap';
import { binpackScorer, epvmScorer, isUnitIndependent, leastLoadedScorer, realLoadScorer, spreadScorer, strategyScorers } from '../../src/constraints/scorers';
import { plan } from '../../src/engine/plan';
import { compileUnits } from '../../src/engine/plan-units';
import { PlanState } from '../../src/engine/plan-state';
import { machine, snapshot, unit } from '../fakes/units';
import type { PlacementStrategy } from '../../src/units/types';

const GiB = 1024 ** 3;

t.test('scores stay within 0..100', async (t) => {
  const units = compileUnits([unit('a.service', { cpu: 4000, mem: 8 * GiB }), unit('b.service', { cpu: 3000 })], 'least-loaded');
  const state = new PlanState([machine('m1', {}, 4000, 8 * GiB), machine('m2')], units);
  state.add(units.get('b.service')!, state.machine('m1')!);
  for (const s of [leastLoadedScorer, binpackScorer, spreadScorer, epvmScorer]) {
    for (const m of state.machines) {
      const v = s.score(units.get('a.service')!, m, state);
      t.ok(v >= 0 && v <= 100, `${s.name} on ${m.id} = ${v}`);
    }
  }
});

t.test('only least-loaded and binpack are unit-independent (ordered fast path)', async (t) => {
  t.same((['least-loaded', 'spread', 'binpack', 'epvm'] as PlacementStrategy[]).map(isUnitIndependent), [true, false, true, false]);
  t.same(strategyScorers('spread').map((s) => `${s.plugin.name}×${s.weight}`), ['spread×3', 'least-loaded×1']);
});

/** Place `name` into a cluster where m1 already runs `busy` and m2 is empty-ish; returns the chosen machine. */
function choose(strategy: PlacementStrategy, extra: Parameters<typeof unit>[1] = {}) {
  const r = plan(snapshot([unit('busy.service', { cpu: 2000, mem: 4 * GiB }), unit('web@1.service'), unit('new.service', { cpu: 500, mem: GiB, ...extra })],
    [machine('m1', {}, 4000, 8 * GiB), machine('m2', {}, 4000, 8 * GiB)], { 'busy.service': 'm1', 'web@1.service': 'm2' }, strategy));
  return r.decisions.find((d) => d.unit === 'new.service');
}

t.test('least-loaded prefers the machine with less reserved', async (t) => {
  t.match(choose('least-loaded'), { kind: 'place', machine: 'm2' });
});

t.test('binpack prefers the most-used machine that still fits', async (t) => {
  t.match(choose('binpack'), { kind: 'place', machine: 'm1' });
  t.match(choose('binpack', { cpu: 2500 }), { kind: 'place', machine: 'm2' }, 'falls back when the fullest does not fit');
});

t.test('epvm chooses the lowest marginal cost', async (t) => {
  t.match(choose('epvm'), { kind: 'place', machine: 'm2' });
});

t.test('a per-unit strategy overrides the cluster default', async (t) => {
  t.match(choose('least-loaded', { strategy: 'binpack' }), { kind: 'place', machine: 'm1' });
});

t.test('spread keeps units of the same prefix apart even against load', async (t) => {
  // m2 already has web@1 and m1 is loaded: least-loaded alone would pick m2, spread picks m1.
  const snap = (s: PlacementStrategy) => snapshot([unit('busy.service', { cpu: 2000 }), unit('web@1.service'), unit('web@2.service')],
    [machine('m1', {}, 4000), machine('m2', {}, 4000)], { 'busy.service': 'm1', 'web@1.service': 'm2' }, s);
  t.match(plan(snap('spread')).decisions, [{ unit: 'web@2.service', machine: 'm1' }]);
  t.match(plan(snap('least-loaded')).decisions, [{ unit: 'web@2.service', machine: 'm2' }]);
});

t.test('epvm weighs resources by utilisation: a big cpu request goes where cpu is free even if memory is used', async (t) => {
  const r = plan(snapshot([unit('cpuhog.service', { cpu: 3000 }), unit('memhog.service', { mem: 6 * GiB }), unit('new.service', { cpu: 2000 })],
    [machine('m1', {}, 4000, 8 * GiB), machine('m2', {}, 4000, 8 * GiB)], { 'cpuhog.service': 'm1', 'memhog.service': 'm2' }, 'epvm'));
  t.match(r.decisions, [{ unit: 'new.service', machine: 'm2' }]);
});

t.test('real-load: the machine its agent measures least busy wins; no report counts by reservations (issue 12)', async (t) => {
  const hot = { ...machine('m1', {}, 4000, 8 * GiB), load: { cpu: 0.9, mem: 0.7 } };
  const cool = { ...machine('m2', {}, 4000, 8 * GiB), load: { cpu: 0.1, mem: 0.2 } };
  const r = plan(snapshot([unit('a.service', { strategy: 'real-load' })], [hot, cool]));
  t.same(r.decisions.map((d) => d.kind === 'place' && d.machine), ['m2'], 'placed on the cool machine');
  // equal counts and reservations: without real load the tie goes by id (m1); with it, to m2
  const r2 = plan(snapshot([unit('a.service', { strategy: 'least-loaded' })], [hot, cool]));
  t.same(r2.decisions.map((d) => d.kind === 'place' && d.machine), ['m1'], 'least-loaded ignores real load');
  const units = compileUnits([unit('x.service')], 'real-load');
  const state = new PlanState([hot, machine('m3', {}, 4000, 8 * GiB)], units);
  for (const m of state.machines) {
    const v = realLoadScorer.score(units.get('x.service')!, m, state);
    t.ok(v >= 0 && v <= 100, `within 0..100 (${m.id}: ${v.toFixed(1)})`);
  }
  t.ok(isUnitIndependent('real-load'), 'unit-independent: the ordered fast path applies');
  // several units in one pass still spread (the count term moves while real load stays as reported)
  const r3 = plan(snapshot(['a', 'b', 'c', 'd'].map((n) => unit(`${n}.service`, { strategy: 'real-load' })), [{ ...cool }, { ...machine('m4', {}, 4000, 8 * GiB), load: { cpu: 0.15, mem: 0.2 } }]));
  const per = new Map<string, number>();
  for (const d of r3.decisions) if (d.kind === 'place') per.set(d.machine, (per.get(d.machine) ?? 0) + 1);
  t.same([...per.values()].sort(), [2, 2], 'spread over both cool machines');
});
