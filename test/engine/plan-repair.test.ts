/**
 * Repair search (issue 10 item 2) as invariants over generated small clusters: whenever a complete
 * placement exists (brute force over every assignment of the units not yet running), the plan finds one;
 * plans are deterministic; the indexed plan equals the full-scan plan. A failing seed replays alone:
 * SEED=n npx tap test/engine/plan-repair.test.ts
 */
import t from 'tap';
import { seededRandom as rng } from '../../src/seeded-random';
import { plan, runPlan } from '../../src/engine/plan';
import type { Snapshot, SnapshotUnit } from '../../src/engine/types';
import { matchUnitGlob } from '../../src/units/unit-glob';
import { machine, snapshot, unit } from '../fakes/units';

function instance(seed: number): Snapshot {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const machines = Array.from({ length: 2 + Math.floor(r() * 2) }, (_, i) => machine(`m${i}`, { r: pick(['a', 'b']) }, pick([0, 0, 1000])));
  const n = 3 + Math.floor(r() * 4);
  const names = Array.from({ length: n }, (_, i) => (r() < 0.5 ? `g@${i}.service` : `u${i}.service`));
  const units: SnapshotUnit[] = names.map((name, i) => unit(name, {
    conflicts: r() < 0.6 ? [pick([...names.filter((x) => x !== name), 'g@*.service'])] : [],
    cpu: r() < 0.4 ? pick([400, 700]) : 0,
    machineMetadata: r() < 0.2 ? { r: [pick(['a', 'b'])] } : {},
    machineOf: i > 0 && r() < 0.15 ? [names[Math.floor(r() * i)]] : [],
  }));
  // Some units already run: plan a prefix first, so running placements are valid ones.
  const k = Math.floor(r() * n);
  const first = plan(snapshot(units.slice(0, k), machines));
  const schedule: Record<string, string> = {};
  for (const d of first.decisions) if (d.kind === 'place') schedule[d.unit] = d.machine;
  return snapshot(units, machines, schedule);
}

function valid(s: Snapshot, sched: Record<string, string>): boolean {
  const units = new Map(s.units.map((u) => [u.spec.name, u.spec]));
  for (const m of s.machines) {
    const here = Object.keys(sched).filter((n) => sched[n] === m.id).map((n) => units.get(n)!);
    const cpu = here.reduce((a, u) => a + u.resources.cpuMillis, 0);
    if (m.capacity.cpuMillis > 0 && cpu > m.capacity.cpuMillis) return false;
    for (const a of here) {
      for (const [k, v] of Object.entries(a.options.machineMetadata)) if (!v.includes(m.metadata[k])) return false;
      for (const b of here) {
        if (a !== b && a.options.conflicts.some((p) => matchUnitGlob(p, b.name))) return false;
      }
    }
  }
  for (const [name, mid] of Object.entries(sched)) {
    for (const target of units.get(name)!.options.machineOf) if (sched[target] !== mid) return false;
  }
  return true;
}

/** True when some assignment of the units not yet running places every unit (running ones stay). */
function completeExists(s: Snapshot): boolean {
  const free = s.units.map((u) => u.spec.name).filter((n) => s.schedule[n] === undefined);
  const sched = { ...s.schedule };
  const go = (i: number): boolean => {
    if (i === free.length) return valid(s, sched);
    for (const m of s.machines) {
      sched[free[i]] = m.id;
      if (go(i + 1)) return true;
    }
    delete sched[free[i]];
    return false;
  };
  return go(0);
}

function applied(s: Snapshot, r: ReturnType<typeof plan>): Record<string, string> {
  const out = { ...s.schedule };
  for (const d of r.decisions) {
    if (d.kind === 'unschedule') delete out[d.unit];
    else out[d.unit] = d.kind === 'place' ? d.machine : d.to;
  }
  return out;
}

t.test('whenever a complete placement exists the plan finds it; deterministic; indexed = full scan', async (t) => {
  const only = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 400 }, (_, i) => i + 1);
  let complete = 0;
  let repaired = 0;
  for (const seed of only) {
    const s = instance(seed);
    const run = runPlan(s);
    const r = run.result;
    const sched = applied(s, r);
    if (!valid(s, sched)) t.fail(`seed ${seed}: plan breaks a constraint: ${JSON.stringify(sched)}`);
    for (const [n, m] of Object.entries(s.schedule)) if (sched[n] !== m) t.fail(`seed ${seed}: running ${n} moved off ${m}`);
    if (completeExists(s)) {
      complete++;
      if (r.unplaceable.length) t.fail(`seed ${seed}: a complete placement exists, plan left ${r.unplaceable.map((u) => u.unit).join(', ')}`);
      if (plan(s, { repair: false }).unplaceable.length) repaired++;
    }
    if (JSON.stringify(plan(s)) !== JSON.stringify(r)) t.fail(`seed ${seed}: not deterministic`);
    if (JSON.stringify(applied(s, plan(s, { indexed: false }))) !== JSON.stringify(sched)) t.fail(`seed ${seed}: indexed plan differs from the full scan`);
  }
  t.ok(complete > 100, `${complete} instances have a complete placement`);
  t.ok(only.length === 1 || repaired > 5, `the repair search was needed in ${repaired} of them (greedy alone left units unplaced)`);
});

// A new sidekick of a running unit can only join it there; the search must still move units that are not
// yet running out of its way (greedy put one in conflict with it on that machine).
function sidekickInstance(seed: number): Snapshot {
  const r = rng(seed * 7919 + 13);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const machines = Array.from({ length: 2 + Math.floor(r() * 2) }, (_, i) => machine(`m${i}`, {}, pick([0, 1000])));
  const running = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => `run${i}.service`);
  const schedule: Record<string, string> = {};
  for (const n of running) schedule[n] = pick(machines).id;
  const side = running.map((t, i) => unit(`side${i}.service`, { machineOf: [t], cpu: pick([0, 0, 400]) }));
  const free = Array.from({ length: 1 + Math.floor(r() * 4) }, (_, i) => unit(`a${i}.service`, {
    conflicts: r() < 0.7 ? [pick(side.map((s) => s.spec.name).concat('side*.service'))] : [],
    cpu: pick([0, 400, 700]),
  }));
  return snapshot([...running.map((n) => unit(n)), ...side, ...free], machines, schedule);
}

t.test('a new sidekick of a running unit: units not yet running move out of its way (never a running one)', async (t) => {
  const only = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 300 }, (_, i) => i + 1);
  let repaired = 0;
  for (const seed of only) {
    const s = sidekickInstance(seed);
    const r = plan(s);
    const sched = applied(s, r);
    if (!valid(s, sched)) t.fail(`seed ${seed}: plan breaks a constraint: ${JSON.stringify(sched)}`);
    for (const [n, m] of Object.entries(s.schedule)) if (sched[n] !== m) t.fail(`seed ${seed}: running ${n} moved off ${m}`);
    if (completeExists(s)) {
      if (r.unplaceable.length) t.fail(`seed ${seed}: a complete placement exists, plan left ${r.unplaceable.map((u) => u.unit).join(', ')}`);
      if (plan(s, { repair: false }).unplaceable.length) repaired++;
    }
    if (JSON.stringify(plan(s)) !== JSON.stringify(r)) t.fail(`seed ${seed}: not deterministic`);
  }
  t.ok(only.length === 1 || repaired > 5, `the repair search was needed in ${repaired} instances`);
});

t.test('example: a conflicting unit greedy put beside a running target moves so its new sidekick fits', async (t) => {
  const s = snapshot([unit('db.service'), unit('r1.service'), unit('r2.service'), unit('aaa.service', { conflicts: ['side.service'] }), unit('side.service', { machineOf: ['db.service'] })],
    [machine('node1'), machine('node2')], { 'db.service': 'node1', 'r1.service': 'node2', 'r2.service': 'node2' });
  t.same(plan(s, { repair: false }).unplaceable.map((u) => u.unit), ['side.service'], 'greedy alone leaves the sidekick out');
  const r = plan(s);
  t.same(r.decisions.map((d) => `${d.kind} ${d.unit} ${d.kind === 'place' ? d.machine : ''}`), ['place aaa.service node2', 'place side.service node1']);
  t.same(r.unplaceable, []);
  t.match(r.decisions[0].reason, 'to make room for side.service');
});
