import t from 'tap';
import { globMatch, metadataMatches, wantedUnits, type AgentView } from '../../src/agent/desired';
import type { FleetOptions, TargetState, UnitSpec } from '../../src/units/types';

function spec(name: string, opts: Partial<FleetOptions> = {}): UnitSpec {
  return {
    name, text: `[Service]\nExecStart=/bin/true # ${name}\n`, hash: `hash-${name}`, file: { sections: [] },
    options: { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [], ...opts },
    resources: { cpuMillis: 0, memoryBytes: 0 },
  };
}

function view(specs: UnitSpec[], desired: Record<string, TargetState>, assigned: string[], metadata: Record<string, string> = {}): AgentView {
  return { units: new Map(specs.map((s) => [s.name, s])), desired: new Map(Object.entries(desired)), assigned: new Set(assigned), metadata };
}

const names = (v: AgentView) => wantedUnits(v).wanted.map((w) => `${w.spec.name}:${w.target}:${w.source}`);

t.test('assigned units follow their desired state; inactive or unknown ones are not wanted', async (t) => {
  const v = view([spec('a.service'), spec('b.service'), spec('c.service'), spec('d.service')],
    { 'a.service': 'launched', 'b.service': 'loaded', 'c.service': 'inactive' }, ['a.service', 'b.service', 'c.service', 'd.service', 'gone.service']);
  t.same(names(v), ['a.service:launched:assigned', 'b.service:loaded:assigned']);
});

t.test('units not assigned here are not wanted', async (t) => {
  t.same(names(view([spec('a.service')], { 'a.service': 'launched' }, [])), []);
});

t.test('global units run where metadata matches', async (t) => {
  const specs = [
    spec('all.service', { global: true }),
    spec('db.service', { global: true, machineMetadata: { role: ['db', 'cache'] } }),
    spec('web.service', { global: true, machineMetadata: { role: ['web'] } }),
    spec('two.service', { global: true, machineMetadata: { role: ['db'], disk: ['ssd'] } }),
  ];
  const desired: Record<string, TargetState> = { 'all.service': 'launched', 'db.service': 'launched', 'web.service': 'launched', 'two.service': 'loaded' };
  t.same(names(view(specs, desired, [], { role: 'db' })), ['all.service:launched:global', 'db.service:launched:global']);
  t.same(names(view(specs, desired, [], { role: 'db', disk: 'ssd' })), ['all.service:launched:global', 'db.service:launched:global', 'two.service:loaded:global']);
  const { skipped } = wantedUnits(view(specs, desired, [], { role: 'web' }));
  t.same(skipped.map((s) => s.unit).sort(), ['db.service', 'two.service']);
});

t.test('inactive globals and templates are not wanted', async (t) => {
  const v = view([spec('g.service', { global: true }), spec('t@.service', { global: true })],
    { 'g.service': 'inactive', 't@.service': 'launched' }, []);
  t.same(names(v), []);
});

t.test('conflicting globals: first by name wins, symmetric', async (t) => {
  const v = view([
    spec('b.service', { global: true, conflicts: ['a*.service'] }),
    spec('a.service', { global: true }),
    spec('c.service', { global: true }),
  ], { 'a.service': 'launched', 'b.service': 'launched', 'c.service': 'launched' }, []);
  t.same(names(v), ['a.service:launched:global', 'c.service:launched:global']);
  t.same(wantedUnits(v).skipped, [{ unit: 'b.service', reason: 'conflicts with global a.service, which runs here (the first by name wins)' }]);
});

t.test('a global that conflicts with an assigned unit is skipped', async (t) => {
  const v = view([spec('x.service'), spec('g.service', { global: true, conflicts: ['x.service'] })],
    { 'x.service': 'launched', 'g.service': 'launched' }, ['x.service']);
  t.same(names(v), ['x.service:launched:assigned']);
});

t.test('globMatch', async (t) => {
  const cases: [string, string, boolean][] = [
    ['*.service', 'a.service', true], ['a?.service', 'ab.service', true], ['a?.service', 'a.service', false],
    ['web@[12].service', 'web@2.service', true], ['web@[^12].service', 'web@2.service', false],
    ['a.service', 'aXservice', false], ['foo*', 'bar', false],
  ];
  for (const [g, n, want] of cases) t.equal(globMatch(g, n), want, `${g} ~ ${n}`);
});

t.test('metadataMatches: AND across keys, OR within', async (t) => {
  t.ok(metadataMatches({}, {}));
  t.ok(metadataMatches({ a: ['1', '2'] }, { a: '2' }));
  t.notOk(metadataMatches({ a: ['1'], b: ['x'] }, { a: '1' }));
  t.notOk(metadataMatches({ a: ['1'] }, {}));
});
