import t from 'tap';
import { FILTERS, conflictsFilter, machineIdFilter, machineOfFilter, metadataFilter, replacesFilter, resourcesFilter } from '../../src/constraints/filters';
import { compileUnits } from '../../src/engine/plan-units';
import { PlanState } from '../../src/engine/plan-state';
import { machine, unit, type UnitOpts } from '../fakes/units';
import type { MachineSpec } from '../../src/constraints/types';

/** A working state with units placed as given; returns it and a filter runner. */
function setup(units: [string, UnitOpts][], machines: MachineSpec[], placed: Record<string, string> = {}) {
  const compiled = compileUnits(units.map(([n, o]) => unit(n, o)), 'least-loaded');
  const state = new PlanState(machines, compiled);
  for (const [n, m] of Object.entries(placed)) state.add(compiled.get(n)!, state.machine(m)!);
  return { state, run: (f: typeof FILTERS[number], name: string, m: string) => f.filter(compiled.get(name)!, state.machine(m)!, state) };
}

t.test('filters run in a fixed, documented order', async (t) => {
  t.same(FILTERS.map((f) => f.name), ['held', 'cordon', 'batch-retry', 'machine-id', 'metadata', 'machine-of', 'replaces', 'conflicts', 'resources']);
});

t.test('machine-id: full id or prefix; candidates narrow to matches', async (t) => {
  const { state, run } = setup([['a.service', { machineId: 'abcd' }]], [machine('abcdef'), machine('bbbb')]);
  t.equal(run(machineIdFilter, 'a.service', 'abcdef'), null);
  t.match(run(machineIdFilter, 'a.service', 'bbbb'), /MachineID=abcd does not match bbbb/);
  t.same(machineIdFilter.candidates!(state.unit('a.service')!, state)!.map((m) => m.id), ['abcdef']);
});

t.test('metadata: AND across keys, OR within; unset key refused', async (t) => {
  const { run } = setup([['a.service', { machineMetadata: { r: ['x', 'y'], d: ['ssd'] } }]],
    [machine('m1', { r: 'y', d: 'ssd' }), machine('m2', { r: 'x' }), machine('m3', { r: 'z', d: 'ssd' })]);
  t.equal(run(metadataFilter, 'a.service', 'm1'), null);
  t.match(run(metadataFilter, 'a.service', 'm2'), /d=\(unset\)/);
  t.match(run(metadataFilter, 'a.service', 'm3'), /r=z not in \{x,y\}/);
});

t.test('machine-of: target must be here; a global target must run here', async (t) => {
  const { run } = setup([['t.service', {}], ['f.service', { machineOf: ['t.service'] }],
    ['g.service', { global: true, machineMetadata: { r: ['x'] } }], ['h.service', { machineOf: ['g.service'] }]],
  [machine('m1', { r: 'x' }), machine('m2')], { 't.service': 'm2' });
  t.equal(run(machineOfFilter, 'f.service', 'm2'), null);
  t.match(run(machineOfFilter, 'f.service', 'm1'), /target t.service is not on this machine/);
  t.equal(run(machineOfFilter, 'h.service', 'm1'), null);
  t.match(run(machineOfFilter, 'h.service', 'm2'), /global g.service does not run here/);
});

t.test('conflicts: both directions, globals included, a replaced unit does not count', async (t) => {
  const { run } = setup([['a.service', { conflicts: ['b*'] }], ['b.service', {}], ['c.service', { conflicts: ['a.service'] }],
    ['g.service', { global: true, conflicts: ['d.service'] }], ['d.service', {}],
    ['x.service', { replaces: ['b.service'], conflicts: ['b.service'] }]],
  [machine('m1'), machine('m2')], { 'b.service': 'm1', 'a.service': 'm2' });
  t.match(run(conflictsFilter, 'a.service', 'm1'), /conflicts with b.service/);
  t.match(run(conflictsFilter, 'b.service', 'm2'), /conflicts with a.service/);
  t.match(run(conflictsFilter, 'c.service', 'm2'), /conflicts with a.service/);
  t.equal(run(conflictsFilter, 'c.service', 'm1'), null);
  t.match(run(conflictsFilter, 'd.service', 'm1'), /conflicts with global g.service/);
  t.equal(run(conflictsFilter, 'x.service', 'm1'), null, 'x displaces b, so b does not block it');
});

t.test('replaces: refused where a replacer runs; allowed to displace once', async (t) => {
  const { state, run } = setup([['x.service', { replaces: ['y.service'] }], ['y.service', {}]], [machine('m1'), machine('m2')], { 'x.service': 'm1' });
  t.match(run(replacesFilter, 'y.service', 'm1'), /replaced by x.service/);
  t.equal(run(replacesFilter, 'y.service', 'm2'), null);
  state.remove(state.unit('x.service')!);
  state.add(state.unit('y.service')!, state.machine('m2')!);
  t.equal(run(replacesFilter, 'x.service', 'm2'), null);
  state.markDisplaced('y.service');
  t.match(run(replacesFilter, 'x.service', 'm2'), /would displace y.service again/);
});

t.test('resources: reserved + request ≤ capacity, 0 capacity = unlimited, globals reserve too', async (t) => {
  const { run } = setup([['a.service', { cpu: 500, mem: 100 }], ['b.service', { cpu: 600 }], ['c.service', { mem: 2000 }],
    ['g.service', { global: true, mem: 500 }]],
  [machine('m1', {}, 1000, 1000), machine('m2', {}, 0, 0)], { 'a.service': 'm1' });
  t.match(run(resourcesFilter, 'b.service', 'm1'), /cpu: 500m reserved \+ 600m requested > 1000m capacity/);
  t.match(run(resourcesFilter, 'c.service', 'm1'), /memory: 600 B reserved \+ 2 KiB requested > 1000 B capacity/);
  t.equal(run(resourcesFilter, 'b.service', 'm2'), null);
  t.equal(run(resourcesFilter, 'c.service', 'm2'), null);
});

t.test('cordon: a cordoned machine takes no new unit but keeps what it runs', async (t) => {
  const machines = [{ id: 'a', metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, cordoned: true }, { id: 'b', metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 } }];
  const compiled = compileUnits([unit('x.service', {})], 'least-loaded');
  const state = new PlanState(machines, compiled);
  const f = FILTERS.find((x) => x.name === 'cordon')!;
  t.match(f.filter(compiled.get('x.service')!, state.machine('a')!, state), /machine a is cordoned \(shoalctl uncordon a\)/);
  t.equal(f.filter(compiled.get('x.service')!, state.machine('b')!, state), null);
  state.keeping = true;
  t.equal(f.filter(compiled.get('x.service')!, state.machine('a')!, state), null, 'a unit re-checked where it runs stays');
});

t.test('resources: Disk= joins CPU and memory (issue 12)', async (t) => {
  const m1: MachineSpec = { id: 'm1', metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0, diskBytes: 10_000 } };
  const m2: MachineSpec = { id: 'm2', metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 } };
  const { run } = setup([['a.service', { disk: 6000 }], ['b.service', { disk: 5000 }], ['c.service', { disk: 4000 }], ['g.service', { global: true, disk: 1000 }]],
    [m1, m2], { 'a.service': 'm1' });
  t.match(run(resourcesFilter, 'b.service', 'm1'), /disk: 6.8 KiB reserved \+ 4.9 KiB requested > 9.8 KiB capacity/, 'the global reserves too');
  t.match(run(resourcesFilter, 'c.service', 'm1'), /disk: /, '6000 + 1000 + 4000 > 10000');
  t.equal(run(resourcesFilter, 'b.service', 'm2'), null, 'unknown disk capacity: unlimited');
});
