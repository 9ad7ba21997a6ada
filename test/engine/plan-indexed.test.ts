import t from 'tap';
import { seededRandom as rng } from '../../src/seeded-random';
import { plan } from '../../src/engine/plan';
import type { PlanResult, Snapshot, SnapshotUnit } from '../../src/engine/types';
import type { PlacementStrategy, TargetState } from '../../src/units/types';
import { machine, snapshot, unit } from '../fakes/units';

// The ordered indexes (least-loaded/binpack order, spread's bounded scan, epvm's per-request-key orders
// and threshold scan for MachineOf groups) must choose exactly what scoring every machine chooses.

/** Bigger than the property test's clusters (so narrowed lists exceed the scan cut-off), few distinct requests. */
function cluster(seed: number, strategy: PlacementStrategy): Snapshot {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const machines = Array.from({ length: 30 + Math.floor(r() * 40) }, (_, i) =>
    machine(`m${i.toString().padStart(3, '0')}`, { region: pick(['a', 'b']) }, pick([0, 2000, 4000, 8000]), pick([0, 4000, 8000, 16000])));
  const units: SnapshotUnit[] = [];
  const n = 150 + Math.floor(r() * 250);
  for (let i = 0; i < n; i++) {
    const name = r() < 0.4 ? `web${i % 7}@${i}.service` : `u${i}.service`;
    const desired: TargetState = r() < 0.05 ? 'inactive' : 'launched';
    // MachineOf chains of up to three (groups of 2 and 3), always to an earlier unit.
    const machineOf = r() < 0.2 && i > 0 ? [units[Math.max(0, i - 1 - Math.floor(r() * 3))].spec.name] : [];
    units.push(unit(name, {
      desired,
      global: r() < 0.05,
      conflicts: r() < 0.2 ? [pick([`web${i % 7}@*.service`, `u${Math.floor(r() * n)}.service`])] : [],
      machineOf,
      machineMetadata: r() < 0.2 ? { region: [pick(['a', 'b'])] } : {},
      replaces: r() < 0.03 ? [`u${Math.floor(r() * n)}.service`] : [],
      cpu: r() < 0.6 ? pick([100, 250, 500]) : 0,
      mem: r() < 0.6 ? pick([128, 512]) : 0,
      strategy: r() < 0.1 ? pick(['least-loaded', 'spread', 'binpack', 'epvm'] as const) : undefined,
    }));
  }
  const schedule: Record<string, string> = {};
  for (const u of units) if (r() < 0.2) schedule[u.spec.name] = r() < 0.2 ? 'gone' : pick(machines).id;
  return snapshot(units, machines, schedule, strategy);
}

/** Where each unit ends up and what stays unplaceable (reasons mention how many machines were examined). */
function outcome(r: PlanResult): string {
  const d = r.decisions.map((x) => `${x.kind} ${x.unit} ${x.kind === 'place' ? x.machine : x.kind === 'move' ? x.to : x.from}`);
  return JSON.stringify([d, r.unplaceable.map((u) => u.unit)]);
}

for (const strategy of ['least-loaded', 'spread', 'binpack', 'epvm'] as PlacementStrategy[]) {
  t.test(`${strategy}: indexed plan = full-scan plan on 30 random clusters`, async (t) => {
    let placed = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const s = cluster(seed * 6151, strategy);
      const fast = plan(s);
      const full = plan(s, { indexed: false });
      t.equal(outcome(fast), outcome(full), `seed ${seed}`);
      placed += fast.decisions.filter((d) => d.kind !== 'unschedule').length;
      // And again once the cluster lost a third of its machines (many moves at once).
      const fewer = { ...s, machines: s.machines.filter((_, i) => i % 3 !== 0) };
      t.equal(outcome(plan(fewer)), outcome(plan(fewer, { indexed: false })), `seed ${seed}, fewer machines`);
    }
    t.ok(placed > 1000, `${placed} placements compared`);
  });
}

t.test('epvm: units with the same requests reuse one order, and the scan stops early', async (t) => {
  const ms = Array.from({ length: 200 }, (_, i) => machine(`m${i.toString().padStart(3, '0')}`, {}, 4000, 8000));
  const us = Array.from({ length: 50 }, (_, i) => unit(`u${i}.service`, { cpu: 100, mem: 100 }));
  const r = plan(snapshot(us, ms, {}, 'epvm'));
  const examined = r.decisions.map((d) => Number(/(\d+) machine\(s\) examined/.exec(d.reason)![1]));
  t.equal(r.decisions.length, 50);
  t.ok(examined.every((n) => n === 1), 'each placement takes the first machine of its order');
  t.equal(outcome(r), outcome(plan(snapshot(us, ms, {}, 'epvm'), { indexed: false })));
});
