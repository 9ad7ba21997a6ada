import t from 'tap';
import { explain } from '../../src/engine/plan-explain';
import { plan } from '../../src/engine/plan';
import { machine, snapshot, unit } from '../fakes/units';

const snap = snapshot([unit('a.service', { machineMetadata: { disk: ['ssd'] } }), unit('b.service', { conflicts: ['a.service'] }),
  unit('g.service', { global: true }), unit('t@.service')],
[machine('m1', { disk: 'ssd' }), machine('m2', { disk: 'hdd' }), machine('m3', { disk: 'ssd' })], { 'a.service': 'm1' });

t.test('explain shows every filter per machine and the score breakdown where all pass', async (t) => {
  const e = explain(snap, 'b.service');
  t.equal(e.status, 'placed');
  const d = plan(snap).decisions.find((x) => x.unit === 'b.service');
  t.equal(e.machine, d?.kind === 'place' ? d.machine : 'not placed');
  const m1 = e.machines.find((m) => m.machine === 'm1')!;
  t.equal(m1.passes, false);
  t.same(m1.filters.find((f) => f.plugin === 'conflicts'), { plugin: 'conflicts', ok: false, reason: 'conflicts with a.service' });
  t.equal(m1.scores, undefined);
  const chosen = e.machines.find((m) => m.chosen)!;
  t.equal(chosen.passes, true);
  t.same(chosen.scores!.map((s) => s.plugin), ['least-loaded']);
  t.ok(chosen.total! > 0 && chosen.total! <= 100);
  t.equal(e.machines[e.machines.length - 1].machine, 'm1', 'refusing machines sort last');
});

t.test('explain of a unit held at its machine lists the metadata refusals', async (t) => {
  const e = explain(snap, 'a.service');
  t.equal(e.machine, 'm1');
  t.match(e.machines.find((m) => m.machine === 'm2')!.filters.find((f) => !f.ok), { plugin: 'metadata' });
});

t.test('explain leaves plan state consistent and reports non-placed kinds', async (t) => {
  t.equal(explain(snap, 'g.service').status, 'global');
  t.equal(explain(snap, 't@.service').status, 'template');
  t.same(explain(snap, 'nope.service'), { unit: 'nope.service', status: 'unknown', machines: [] });
});
