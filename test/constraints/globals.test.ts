/**
 * One model of where global units run (issue 10 item 4): the engine's reservations and conflict checks and
 * the agent's wanted units come from src/constraints/globals.ts, so they agree on every machine.
 */
import t from 'tap';
import { seededRandom as rng } from '../../src/seeded-random';
import { runPlan } from '../../src/engine/plan';
import { wantedUnits } from '../../src/agent/desired';
import type { SnapshotUnit } from '../../src/engine/types';
import { machine, snapshot, unit } from '../fakes/units';

t.test('a global that loses a conflict to another global neither runs nor reserves there', async (t) => {
  const s = snapshot([
    unit('a-mon.service', { global: true, cpu: 100, conflicts: ['b-mon.service'] }),
    unit('b-mon.service', { global: true, cpu: 900 }),
    unit('x.service', { cpu: 900, conflicts: ['b-mon.service'] }),
  ], [machine('m1', {}, 1000)]);
  const { state, result } = runPlan(s);
  const m = state.machine('m1')!;
  t.equal(state.globalRunsOn('a-mon.service', m), true, 'a-mon wins (first by name)');
  t.equal(state.globalRunsOn('b-mon.service', m), false, 'b-mon is kept off');
  t.equal(m.reservedCpu, 100 + 900, 'only a-mon (100m) is reserved, plus x placed (900m)');
  t.same(result.decisions.map((d) => d.unit), ['x.service'], 'x, in conflict with b-mon, may run where b-mon does not');
});

t.test('engine and agent agree on which globals run on each machine (random clusters)', async (t) => {
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed * 31);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
    const machines = Array.from({ length: 2 + Math.floor(r() * 4) }, (_, i) => machine(`m${i}`, { role: pick(['a', 'b']) }));
    const units: SnapshotUnit[] = Array.from({ length: 4 + Math.floor(r() * 8) }, (_, i) => {
      const global = r() < 0.5;
      return unit(global ? `g${i}.service` : `u${i}.service`, {
        global,
        conflicts: r() < 0.5 ? [pick(['g*.service', 'u*.service', `g${Math.floor(r() * 12)}.service`])] : [],
        machineMetadata: r() < 0.3 ? { role: [pick(['a', 'b'])] } : {},
      });
    });
    const s = snapshot(units, machines);
    const { state } = runPlan(s);
    for (const m of state.machines) {
      const assigned = new Set([...state.placements()].filter(([, id]) => id === m.id).map(([n]) => n));
      const { wanted } = wantedUnits({
        units: new Map(units.map((u) => [u.spec.name, u.spec])),
        desired: new Map(units.map((u) => [u.spec.name, u.desired])),
        assigned, metadata: m.spec.metadata,
      });
      const agent = wanted.filter((w) => w.source === 'global').map((w) => w.spec.name);
      const engine = units.filter((u) => u.spec.options.global && state.globalRunsOn(u.spec.name, m)).map((u) => u.spec.name).sort();
      if (JSON.stringify(agent) !== JSON.stringify(engine)) t.fail(`seed ${seed} ${m.id}: agent runs ${agent}, engine reserves ${engine}`);
    }
  }
  t.pass('60 random clusters checked');
});
