import t from 'tap';
import { seededRandom as rng } from '../../src/seeded-random';
import { matchUnitGlob as globMatch } from '../../src/units/unit-glob';
import { explain } from '../../src/engine/plan-explain';
import { globalsOn as globalsModel } from '../../src/constraints/globals';
import { plan } from '../../src/engine/plan';
import type { Snapshot, SnapshotUnit } from '../../src/engine/types';
import type { PlacementStrategy, TargetState } from '../../src/units/types';
import { machine, snapshot, unit } from '../fakes/units';

/** A random cluster exercising every option, with some units already scheduled (some on dead machines). */
function randomSnapshot(seed: number, strategy: PlacementStrategy): Snapshot {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const machines = Array.from({ length: 6 + Math.floor(r() * 6) }, (_, i) =>
    machine(`m${i.toString().padStart(2, '0')}`, { region: pick(['a', 'b']) }, pick([0, 2000, 4000]), pick([0, 4000, 8000])));
  const units: SnapshotUnit[] = [];
  const n = 30 + Math.floor(r() * 30);
  for (let i = 0; i < n; i++) {
    const name = r() < 0.4 ? `web@${i}.service` : `u${i}.service`;
    const desired: TargetState = r() < 0.1 ? 'inactive' : 'launched';
    units.push(unit(name, {
      desired,
      global: r() < 0.08,
      conflicts: r() < 0.3 ? [pick(['web@*.service', `u${Math.floor(r() * n)}.service`, 'u1*'])] : [],
      machineOf: r() < 0.15 && i > 0 ? [units[Math.floor(r() * i)].spec.name] : [],
      machineMetadata: r() < 0.2 ? { region: [pick(['a', 'b'])] } : {},
      replaces: r() < 0.08 ? [`u${Math.floor(r() * n)}.service`] : [],
      cpu: r() < 0.5 ? pick([100, 500, 1500]) : 0,
      mem: r() < 0.5 ? pick([500, 3000]) : 0,
    }));
  }
  const schedule: Record<string, string> = {};
  for (const u of units) if (r() < 0.3) schedule[u.spec.name] = r() < 0.2 ? 'dead' : pick(machines).id;
  return snapshot(units, machines, schedule, strategy);
}

function shuffled<T>(xs: T[], r: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function finalSchedule(s: Snapshot, result: ReturnType<typeof plan>): Record<string, string> {
  const out = { ...s.schedule };
  for (const d of result.decisions) {
    if (d.kind === 'unschedule') delete out[d.unit];
    else out[d.unit] = d.kind === 'place' ? d.machine : d.to;
  }
  return out;
}

/** Checks every hard constraint on a final schedule; returns the violations found. */
function violations(s: Snapshot, sched: Record<string, string>): string[] {
  const bad: string[] = [];
  const units = new Map(s.units.map((u) => [u.spec.name, u]));
  const live = new Map(s.machines.map((m) => [m.id, m]));
  const activeGlobals = s.units.filter((u) => u.spec.options.global && u.desired !== 'inactive');
  const globalsOn = (mid: string) => globalsModel(live.get(mid)!.metadata, activeGlobals.map((u) => u.spec)).runs.map((g) => units.get(g.name)!);
  for (const m of s.machines) {
    const here = Object.keys(sched).filter((n) => sched[n] === m.id).map((n) => units.get(n)!);
    const all = [...here, ...globalsOn(m.id)];
    const cpu = all.reduce((a, u) => a + u.spec.resources.cpuMillis, 0);
    const mem = all.reduce((a, u) => a + u.spec.resources.memoryBytes, 0);
    const gCpu = globalsOn(m.id).reduce((a, u) => a + u.spec.resources.cpuMillis, 0);
    const gMem = globalsOn(m.id).reduce((a, u) => a + u.spec.resources.memoryBytes, 0);
    // Globals alone may exceed capacity (the planner does not control them); placed units must not add to that.
    if (m.capacity.cpuMillis && cpu > Math.max(m.capacity.cpuMillis, gCpu) && here.some((u) => u.spec.resources.cpuMillis)) bad.push(`${m.id} cpu ${cpu}`);
    if (m.capacity.memoryBytes && mem > Math.max(m.capacity.memoryBytes, gMem) && here.some((u) => u.spec.resources.memoryBytes)) bad.push(`${m.id} mem ${mem}`);
    for (const a of here) {
      for (const b of all) {
        if (a === b) continue;
        const conflict = a.spec.options.conflicts.some((p) => globMatch(p, b.spec.name)) || b.spec.options.conflicts.some((p) => globMatch(p, a.spec.name));
        if (conflict) bad.push(`${a.spec.name} conflicts with ${b.spec.name} on ${m.id}`);
        if (b.spec.options.replaces.includes(a.spec.name) && !a.spec.options.replaces.includes(b.spec.name)) bad.push(`${b.spec.name} replaces ${a.spec.name} on ${m.id}`);
      }
    }
  }
  for (const [name, mid] of Object.entries(sched)) {
    const u = units.get(name);
    if (!u || u.desired === 'inactive' || u.spec.options.global || name.includes('@.')) { bad.push(`${name} should not be scheduled`); continue; }
    const m = live.get(mid);
    if (!m) { bad.push(`${name} on dead ${mid}`); continue; }
    for (const [k, v] of Object.entries(u.spec.options.machineMetadata)) if (!v.includes(m.metadata[k])) bad.push(`${name} metadata ${k}`);
    for (const target of u.spec.options.machineOf) {
      if (!units.get(target)?.spec.options.global && sched[target] !== mid) bad.push(`${name} not with ${target}`);
    }
  }
  return bad;
}

const strategies: PlacementStrategy[] = ['least-loaded', 'spread', 'binpack', 'epvm'];

for (const strategy of strategies) {
  t.test(`${strategy}: random clusters keep every constraint, are deterministic and stable`, async (t) => {
    for (let seed = 1; seed <= 40; seed++) {
      const s = randomSnapshot(seed * 7919, strategy);
      const r = plan(s);
      const sched = finalSchedule(s, r);
      const bad = violations(s, sched);
      if (bad.length) t.fail(`seed ${seed}: ${bad.join('; ')}`);
      const r2 = rng(seed);
      const shuffledSnap: Snapshot = {
        ...s, units: shuffled(s.units, r2), machines: shuffled(s.machines, r2),
        schedule: Object.fromEntries(shuffled(Object.entries(s.schedule), r2)),
      };
      if (JSON.stringify(plan(shuffledSnap)) !== JSON.stringify(r)) t.fail(`seed ${seed}: shuffled input gave a different plan`);
      const again = plan({ ...s, schedule: sched });
      if (again.decisions.length) t.fail(`seed ${seed}: re-plan is not stable: ${JSON.stringify(again.decisions[0])}`);
      for (const u of r.unplaceable) if (sched[u.unit] !== undefined) t.fail(`seed ${seed}: ${u.unit} both placed and unplaceable`);
    }
    t.pass('40 random clusters checked');
  });

  t.test(`${strategy}: the chosen machine is the best-scoring passing one (brute force via explain)`, async (t) => {
    let checked = 0;
    for (let seed = 1; seed <= 25; seed++) {
      const s = randomSnapshot(seed * 104729, strategy);
      const sched = finalSchedule(s, plan(s));
      const withNew: Snapshot = { ...s, schedule: sched, units: [...s.units, unit('zz-new.service', { cpu: 100, mem: 100 })] };
      const d = plan(withNew).decisions.find((x) => x.unit === 'zz-new.service');
      const e = explain(withNew, 'zz-new.service');
      const best = e.machines[0];
      if (!d) { t.equal(best?.passes ?? false, false, `seed ${seed}: unplaced only when nothing passes`); continue; }
      t.equal(d.kind === 'place' && d.machine, best.machine, `seed ${seed}: chosen = argmax`);
      checked++;
    }
    t.ok(checked >= 20, `${checked} placements compared`);
  });
}
