import t from 'tap';
import { plan } from '../../src/engine/plan';
import type { PlanResult } from '../../src/engine/types';
import { machine, snapshot, unit } from '../fakes/units';
import type { Snapshot } from '../../src/engine/types';

/** Decisions as short strings: `place a m1`, `move a m1>m2`, `unschedule a m1`. */
function brief(r: PlanResult): string[] {
  return r.decisions.map((d) =>
    d.kind === 'place' ? `place ${d.unit} ${d.machine}` : d.kind === 'move' ? `move ${d.unit} ${d.from}>${d.to}` : `unschedule ${d.unit} ${d.from}`);
}

interface Case {
  name: string;
  snap: Snapshot;
  decisions: string[];
  unplaceable?: string[];
  /** Substrings that must appear in the reason of the decision / unplaceable entry for these units. */
  reasons?: Record<string, string>;
}

const m3 = [machine('m1'), machine('m2'), machine('m3')];

const cases: Case[] = [
  {
    name: 'new units spread over the least-loaded machines, ties by machine id',
    snap: snapshot([unit('a.service'), unit('b.service'), unit('c.service'), unit('d.service')], m3),
    decisions: ['place a.service m1', 'place b.service m2', 'place c.service m3', 'place d.service m1'],
  },
  {
    name: 'stable: units that still fit stay, even when the load is uneven',
    snap: snapshot([unit('a.service'), unit('b.service'), unit('c.service')], m3, { 'a.service': 'm1', 'b.service': 'm1', 'c.service': 'm1' }),
    decisions: [],
  },
  {
    name: 'desired inactive: a scheduled unit is unscheduled, an unscheduled one is left alone',
    snap: snapshot([unit('a.service', { desired: 'inactive' }), unit('b.service', { desired: 'inactive' })], m3, { 'a.service': 'm2' }),
    decisions: ['unschedule a.service m2'],
    reasons: { 'a.service': 'inactive' },
  },
  {
    name: 'loaded units are placed like launched ones',
    snap: snapshot([unit('a.service', { desired: 'loaded' })], m3),
    decisions: ['place a.service m1'],
  },
  {
    name: 'machine gone: its units move to live machines',
    snap: snapshot([unit('a.service'), unit('b.service')], [machine('m2'), machine('m3')], { 'a.service': 'm1', 'b.service': 'm1' }),
    decisions: ['move a.service m1>m2', 'move b.service m1>m3'],
    reasons: { 'a.service': 'machine m1 is gone' },
  },
  {
    name: 'machine gone and nothing fits: unscheduled and reported unplaceable',
    snap: snapshot([unit('a.service', { machineMetadata: { disk: ['ssd'] } })], [machine('m2', { disk: 'hdd' })], { 'a.service': 'm1' }),
    decisions: ['unschedule a.service m1'],
    unplaceable: ['a.service'],
    reasons: { 'a.service': 'machine m1 is gone; no machine fits' },
  },
  {
    name: 'metadata changed: the unit moves to a machine that matches',
    snap: snapshot([unit('a.service', { machineMetadata: { region: ['eu'] } })],
      [machine('m1', { region: 'us' }), machine('m2', { region: 'eu' })], { 'a.service': 'm1' }),
    decisions: ['move a.service m1>m2'],
    reasons: { 'a.service': 'no longer fits on m1: metadata' },
  },
  {
    name: 'metadata: AND across keys, OR within a key',
    snap: snapshot([unit('a.service', { machineMetadata: { region: ['eu', 'us'], disk: ['ssd'] } })],
      [machine('m1', { region: 'eu', disk: 'hdd' }), machine('m2', { region: 'ap', disk: 'ssd' }), machine('m3', { region: 'us', disk: 'ssd' })]),
    decisions: ['place a.service m3'],
  },
  {
    name: 'MachineID: full id or prefix; a changed id moves the unit',
    snap: snapshot([unit('a.service', { machineId: 'abcd' }), unit('b.service', { machineId: 'ffff0000' })],
      [machine('abcd1234'), machine('ffff0000'), machine('ffff1111')], { 'b.service': 'ffff1111' }),
    decisions: ['move b.service ffff1111>ffff0000', 'place a.service abcd1234'],
  },
  {
    name: 'conflict appeared: the later name moves off the shared machine',
    snap: snapshot([unit('a.service', { conflicts: ['b.service'] }), unit('b.service')], m3, { 'a.service': 'm1', 'b.service': 'm1' }),
    decisions: ['move b.service m1>m2'],
    reasons: { 'b.service': 'conflicts: conflicts with a.service' },
  },
  {
    name: 'conflicts are symmetric: a glob on either side keeps them apart',
    snap: snapshot([unit('web@1.service'), unit('web@2.service'), unit('lb.service', { conflicts: ['web@*.service'] })], [machine('m1'), machine('m2')],
      { 'web@1.service': 'm1', 'web@2.service': 'm1' }),
    decisions: ['place lb.service m2'],
  },
  {
    name: 'a unit never conflicts with itself',
    snap: snapshot([unit('web@1.service', { conflicts: ['web@*.service'] })], [machine('m1')]),
    decisions: ['place web@1.service m1'],
  },
  {
    name: 'more conflicting units than machines: the extras (by name) are unplaceable',
    snap: snapshot(['w@4', 'w@2', 'w@3', 'w@1'].map((n) => unit(`${n}.service`, { conflicts: ['w@*.service'] })), [machine('m1'), machine('m2')]),
    decisions: ['place w@1.service m1', 'place w@2.service m2'],
    unplaceable: ['w@3.service', 'w@4.service'],
    reasons: { 'w@3.service': 'conflicts on 2' },
  },
  {
    name: 'global units are not placed but count toward conflicts where they run',
    snap: snapshot([unit('mon.service', { global: true, machineMetadata: { role: ['edge'] } }), unit('a.service', { conflicts: ['mon.service'] })],
      [machine('m1', { role: 'edge' }), machine('m2', { role: 'edge' }), machine('m3', { role: 'core' })]),
    decisions: ['place a.service m3'],
  },
  {
    name: 'a global conflicting with a placed unit pushes it off the machines it runs on',
    snap: snapshot([unit('mon.service', { global: true, conflicts: ['a.service'], machineMetadata: { role: ['edge'] } }), unit('a.service')],
      [machine('m1', { role: 'edge' }), machine('m2', { role: 'core' })], { 'a.service': 'm1', 'mon.service': 'm1' }),
    decisions: ['unschedule mon.service m1', 'move a.service m1>m2'],
    reasons: { 'mon.service': 'global', 'a.service': 'conflicts with global mon.service' },
  },
  {
    name: 'global units count toward load: new units avoid machines running them',
    snap: snapshot([unit('g1.service', { global: true, machineMetadata: { r: ['x'] } }), unit('a.service')],
      [machine('m1', { r: 'x' }), machine('m2', { r: 'y' })]),
    decisions: ['place a.service m2'],
  },
  {
    name: 'templates are never placed, instances are',
    snap: snapshot([unit('web@.service'), unit('web@1.service')], m3, { 'web@.service': 'm1' }),
    decisions: ['unschedule web@.service m1', 'place web@1.service m1'],
    reasons: { 'web@.service': 'template' },
  },
  {
    name: 'a scheduled unit that no longer exists is unscheduled',
    snap: snapshot([], m3, { 'gone.service': 'm2' }),
    decisions: ['unschedule gone.service m2'],
    reasons: { 'gone.service': 'no longer exists' },
  },
  {
    name: 'MachineOf: the follower goes where its target is',
    snap: snapshot([unit('app.service'), unit('side.service', { machineOf: ['app.service'] }), unit('x.service')], m3, { 'app.service': 'm2' }),
    decisions: ['place side.service m2', 'place x.service m1'],
  },
  {
    name: 'MachineOf: when the target moves, its followers move with it',
    snap: snapshot([unit('app.service', { machineMetadata: { ok: ['y'] } }), unit('side.service', { machineOf: ['app.service'] })],
      [machine('m1', { ok: 'n' }), machine('m2', { ok: 'y' })], { 'app.service': 'm1', 'side.service': 'm1' }),
    decisions: ['move app.service m1>m2', 'move side.service m1>m2'],
  },
  {
    name: 'MachineOf chain: c of b, b of a all land together',
    snap: snapshot([unit('a.service'), unit('b.service', { machineOf: ['a.service'] }), unit('c.service', { machineOf: ['b.service'] }), unit('z.service')],
      [machine('m1'), machine('m2')], { 'z.service': 'm1' }),
    decisions: ['place a.service m2', 'place b.service m2', 'place c.service m2'],
  },
  {
    name: 'mutual MachineOf is one group placed together, no loop',
    snap: snapshot([unit('a.service', { machineOf: ['b.service'] }), unit('b.service', { machineOf: ['a.service'] })], [machine('m1'), machine('m2')]),
    decisions: ['place a.service m1', 'place b.service m1'],
  },
  {
    name: 'MachineOf target inactive: the follower is unplaceable with the reason and unscheduled',
    snap: snapshot([unit('app.service', { desired: 'inactive' }), unit('side.service', { machineOf: ['app.service'] }),
      unit('tail.service', { machineOf: ['side.service'] })], m3, { 'side.service': 'm1' }),
    decisions: ['unschedule side.service m1'],
    unplaceable: ['side.service', 'tail.service'],
    reasons: { 'side.service': 'MachineOf target app.service is inactive', 'tail.service': 'side.service cannot be placed' },
  },
  {
    name: 'MachineOf group that fits nowhere together: the target is placed, only the follower is unplaceable',
    snap: snapshot([unit('a.service', { cpu: 600 }), unit('b.service', { machineOf: ['a.service'], cpu: 600 })],
      [machine('m1', {}, 1000), machine('m2', {}, 1000)]),
    decisions: ['place a.service m1'],
    unplaceable: ['b.service'],
    reasons: { 'b.service': 'MachineOf a.service runs on m1, which refuses it: resources: cpu' },
  },
  {
    name: 'Replaces: the replacing unit takes the machine, the replaced one moves away',
    snap: snapshot([unit('new.service', { replaces: ['old.service'], machineId: 'm1' }), unit('old.service')], [machine('m1'), machine('m2')], { 'old.service': 'm1' }),
    decisions: ['move old.service m1>m2', 'place new.service m1'],
    reasons: { 'old.service': 'displaced from m1 by new.service' },
  },
  {
    name: 'Replaces: both already together, the replaced one moves',
    snap: snapshot([unit('a.service'), unit('b.service', { replaces: ['a.service'] })], [machine('m1'), machine('m2')], { 'a.service': 'm1', 'b.service': 'm1' }),
    decisions: ['move a.service m1>m2'],
  },
  {
    name: 'circular Replaces on one machine: exactly one wins (the smaller name)',
    snap: snapshot([unit('b.service', { replaces: ['a.service'] }), unit('a.service', { replaces: ['b.service'] })], [machine('m1')]),
    decisions: ['place a.service m1'],
    unplaceable: ['b.service'],
    reasons: { 'b.service': 'Replaces cycle a.service ↔ b.service: only a.service runs' },
  },
  {
    name: 'circular Replaces with free machines: still exactly one runs (fleet), whatever the machine count',
    snap: snapshot([unit('b.service', { replaces: ['a.service'] }), unit('a.service', { replaces: ['b.service'] })], m3),
    decisions: ['place a.service m1'],
    unplaceable: ['b.service'],
  },
  {
    name: 'circular Replaces already running apart: the loser is unscheduled, nobody loops',
    snap: snapshot([unit('b.service', { replaces: ['a.service'] }), unit('a.service', { replaces: ['b.service'] })], [machine('m1'), machine('m2')],
      { 'a.service': 'm1', 'b.service': 'm2' }),
    decisions: ['unschedule b.service m2'],
    unplaceable: ['b.service'],
    reasons: { 'b.service': 'Replaces cycle' },
  },
  {
    name: 'Replaces cycle of three: one unit placed (the first by name), on any number of machines',
    snap: snapshot([unit('a.service', { replaces: ['b.service'] }), unit('b.service', { replaces: ['c.service'] }), unit('c.service', { replaces: ['a.service'] })],
      m3),
    decisions: ['place a.service m1'],
    unplaceable: ['b.service', 'c.service'],
  },
  // Replaces= items are globs (docs/units.md, fleet): a glob must displace like an exact name, and close cycles.
  {
    name: 'Replaces glob: the replacing unit takes the machine, every unit the glob matches moves away',
    snap: snapshot([unit('new.service', { replaces: ['ol?.service', 'web@*.service'], machineMetadata: { r: ['a'] } }), unit('old.service'), unit('web@1.service')],
      [machine('m1', { r: 'a' }), machine('m2')], { 'old.service': 'm1', 'web@1.service': 'm1' }),
    decisions: ['move old.service m1>m2', 'move web@1.service m1>m2', 'place new.service m1'],
    reasons: { 'old.service': 'displaced from m1 by new.service', 'web@1.service': 'displaced from m1 by new.service' },
  },
  {
    name: 'Replaces cycle through a glob: exactly one runs',
    snap: snapshot([unit('a.service', { replaces: ['b@*.service'] }), unit('b@1.service', { replaces: ['a.service'] })], m3),
    decisions: ['place a.service m1'],
    unplaceable: ['b@1.service'],
    reasons: { 'b@1.service': 'Replaces cycle a.service ↔ b@1.service' },
  },
  {
    name: 'Replaces glob matching the unit itself is not a cycle',
    snap: snapshot([unit('a@1.service', { replaces: ['a@*.service'] })], m3),
    decisions: ['place a@1.service m1'],
  },
  // Issue 10 item 1: a sidekick that fits nowhere never takes its target down, whatever way it fails.
  {
    name: 'sidekick with metadata no machine has: the target is placed, only the sidekick is unplaceable',
    snap: snapshot([unit('db.service'), unit('picky.service', { machineOf: ['db.service'], machineMetadata: { role: ['nonexistent'] } })], m3),
    decisions: ['place db.service m1'],
    unplaceable: ['picky.service'],
    reasons: { 'picky.service': 'MachineOf db.service runs on m1, which refuses it: metadata: metadata role=(unset) not in {nonexistent}' },
  },
  {
    name: 'sidekick with metadata no machine has: a running target stays where it runs',
    snap: snapshot([unit('db.service'), unit('picky.service', { machineOf: ['db.service'], machineMetadata: { role: ['nonexistent'] } })], m3,
      { 'db.service': 'm2' }),
    decisions: [],
    unplaceable: ['picky.service'],
    reasons: { 'picky.service': 'runs on m2, which refuses it: metadata' },
  },
  {
    name: 'sidekick that only fits elsewhere: the running target does not move for it',
    snap: snapshot([unit('db.service'), unit('picky.service', { machineOf: ['db.service'], machineMetadata: { role: ['x'] } })],
      [machine('m1'), machine('m2'), machine('m3', { role: 'x' })], { 'db.service': 'm2' }),
    decisions: [],
    unplaceable: ['picky.service'],
  },
  {
    name: 'new pair: placed together where both fit, when a machine takes both',
    snap: snapshot([unit('db.service'), unit('picky.service', { machineOf: ['db.service'], machineMetadata: { role: ['x'] } })],
      [machine('m1'), machine('m2'), machine('m3', { role: 'x' })]),
    decisions: ['place db.service m3', 'place picky.service m3'],
  },
  {
    name: 'sidekick reserving more CPU than any machine has: the running target stays',
    snap: snapshot([unit('db.service'), unit('big.service', { machineOf: ['db.service'], cpu: 64000 })],
      [machine('m1', {}, 4000), machine('m2', {}, 4000)], { 'db.service': 'm2' }),
    decisions: [],
    unplaceable: ['big.service'],
    reasons: { 'big.service': 'runs on m2, which refuses it: resources: cpu' },
  },
  {
    name: 'sidekick of two targets that conflict: both targets run apart, only the sidekick is unplaceable',
    snap: snapshot([unit('db.service'), unit('cache2.service', { conflicts: ['db.service'] }),
      unit('app2.service', { machineOf: ['db.service', 'cache2.service'] })], m3, { 'db.service': 'm2' }),
    decisions: ['place cache2.service m1'],
    unplaceable: ['app2.service'],
    reasons: { 'app2.service': 'MachineOf targets are on different machines (cache2.service on m1, db.service on m2)' },
  },
  {
    name: 'sidekick of two conflicting targets, none running: the targets are placed, the sidekick is not',
    snap: snapshot([unit('db.service'), unit('cache2.service', { conflicts: ['db.service'] }),
      unit('app2.service', { machineOf: ['db.service', 'cache2.service'] })], m3),
    decisions: ['place cache2.service m1', 'place db.service m2'],
    unplaceable: ['app2.service'],
  },
  {
    name: 'sidekick that conflicts with its own group: the target stays, the sidekick is unplaceable',
    snap: snapshot([unit('db.service'), unit('side.service', { machineOf: ['db.service'] }),
      unit('bad.service', { machineOf: ['db.service'], conflicts: ['side.service'] })], m3, { 'db.service': 'm1', 'side.service': 'm1' }),
    decisions: [],
    unplaceable: ['bad.service'],
    reasons: { 'bad.service': 'conflicts: conflicts with side.service' },
  },
  {
    name: 'a running sidekick that no longer fits leaves alone; its target stays',
    snap: snapshot([unit('db.service'), unit('side.service', { machineOf: ['db.service'], machineMetadata: { ok: ['y'] } })],
      [machine('m1', { ok: 'n' }), machine('m2', { ok: 'y' })], { 'db.service': 'm1', 'side.service': 'm1' }),
    decisions: ['unschedule side.service m1'],
    unplaceable: ['side.service'],
    reasons: { 'side.service': 'no longer fits on m1: metadata' },
  },
  {
    name: 'chain: the follower of an unplaceable sidekick is unplaceable too, the target placed',
    snap: snapshot([unit('a.service'), unit('b.service', { machineOf: ['a.service'], machineMetadata: { r: ['none'] } }),
      unit('c.service', { machineOf: ['b.service'] })], m3),
    decisions: ['place a.service m1'],
    unplaceable: ['b.service', 'c.service'],
    reasons: { 'c.service': 'MachineOf target b.service is not placed' },
  },
  // Issue 10 item 2: placements that exist are found (repair search), never moving a running unit.
  {
    name: 'amq master/slave: the repair search finds the complete placement greedy misses',
    snap: snapshot([
      ...[1, 2, 3].map((i) => unit(`amq-master@${i}.service`, { conflicts: ['amq-master@*.service', `amq-slave1@${i}.service`, `amq-slave2@${i}.service`] })),
      ...[1, 2, 3].map((i) => unit(`amq-slave1@${i}.service`, { conflicts: ['amq-slave1@*.service', `amq-master@${i}.service`, `amq-slave2@${i}.service`] })),
    ], m3),
    decisions: ['place amq-master@1.service m1', 'place amq-master@2.service m2', 'place amq-master@3.service m3',
      'place amq-slave1@1.service m2', 'place amq-slave1@2.service m3', 'place amq-slave1@3.service m1'],
    reasons: { 'amq-slave1@3.service': 'repair search', 'amq-slave1@2.service': 'make room for amq-slave1@3.service' },
  },
  {
    name: 'repair never moves a running unit: with slave1@2 running on m1 the last slave stays unplaceable',
    snap: snapshot([
      ...[1, 2, 3].map((i) => unit(`amq-master@${i}.service`, { conflicts: ['amq-master@*.service', `amq-slave1@${i}.service`] })),
      ...[1, 2, 3].map((i) => unit(`amq-slave1@${i}.service`, { conflicts: ['amq-slave1@*.service', `amq-master@${i}.service`] })),
    ], m3, { 'amq-master@1.service': 'm1', 'amq-master@2.service': 'm2', 'amq-master@3.service': 'm3', 'amq-slave1@1.service': 'm2', 'amq-slave1@2.service': 'm1' }),
    decisions: [],
    unplaceable: ['amq-slave1@3.service'],
  },
  {
    name: 'resources: reserved + request never exceeds capacity; the rest is unplaceable',
    snap: snapshot([unit('a.service', { cpu: 600 }), unit('b.service', { cpu: 600 }), unit('c.service', { cpu: 600 })],
      [machine('m1', {}, 1000), machine('m2', {}, 1000)]),
    decisions: ['place a.service m1', 'place b.service m2'],
    unplaceable: ['c.service'],
    reasons: { 'c.service': 'resources on 2' },
  },
  {
    name: 'resources: capacity 0 means unknown/unlimited',
    snap: snapshot([unit('a.service', { cpu: 5000, mem: 1e12 })], [machine('m1', {}, 0, 0)]),
    decisions: ['place a.service m1'],
  },
  {
    name: 'no machines: everything is unplaceable',
    snap: snapshot([unit('a.service')], []),
    decisions: [],
    unplaceable: ['a.service'],
    reasons: { 'a.service': 'no live machines' },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = plan(c.snap);
    t.same(brief(r), c.decisions, 'decisions');
    t.same(r.unplaceable.map((u) => u.unit), c.unplaceable ?? [], 'unplaceable');
    for (const [name, text] of Object.entries(c.reasons ?? {})) {
      const d = r.decisions.find((x) => x.unit === name);
      const u = r.unplaceable.find((x) => x.unit === name);
      const reason = [d?.reason, u?.reason, ...(u?.rejections.map((x) => `${x.plugin}: ${x.reason}`) ?? [])].join(' | ');
      t.match(reason, text, `reason for ${name}`);
    }
  });
}

t.test('a unit that fits nowhere carries one rejection per machine with plugin and reason', async (t) => {
  const r = plan(snapshot([unit('a.service', { machineMetadata: { disk: ['ssd'] }, cpu: 2000 })],
    [machine('m2', { disk: 'ssd' }, 1000), machine('m1', { disk: 'hdd' }, 4000)]));
  t.same(r.unplaceable, [{
    unit: 'a.service',
    rejections: [
      { machine: 'm1', plugin: 'metadata', reason: 'metadata disk=hdd not in {ssd}' },
      { machine: 'm2', plugin: 'resources', reason: 'cpu: 0m reserved + 2000m requested > 1000m capacity' },
    ],
    reason: 'none of 2 machine(s) passes the filters: metadata on 1, resources on 1',
  }]);
});

t.test('decision order: unschedules, then moves, then places, each by unit name', async (t) => {
  const r = plan(snapshot([unit('z.service', { desired: 'inactive' }), unit('y.service'), unit('a.service', { desired: 'inactive' }),
    unit('b.service'), unit('c.service'), unit('x.service')], [machine('m2')], { 'z.service': 'm2', 'a.service': 'm2', 'y.service': 'm1', 'c.service': 'm9' }));
  t.same(brief(r), ['unschedule a.service m2', 'unschedule z.service m2', 'move c.service m9>m2', 'move y.service m1>m2', 'place b.service m2', 'place x.service m2']);
});
