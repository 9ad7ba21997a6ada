/**
 * The drain planner: which units on a draining machine move now. Pure and deterministic.
 *
 * A group (a template's instances, or a single unit on its own) loses an instance's capacity from the
 * moment the instance is moved until it is healthy on its new machine, so a group may only have
 * `UpdateParallel` instances down at once, like a deployment step (docs/groups.md): an instance moves
 * only while `healthy − 1 ≥ count − UpdateParallel`. Instances that are not healthy where they are cost
 * nothing to move and go first. Past the deadline everything still on the machine moves at once
 * (Nomad's drain deadline). Units the planner cannot place elsewhere stay (`stuck`) and are tried again
 * last in every pass, so a unit that fits nowhere never holds its group's other instances back.
 */
import { byIndex } from '../deploy/deployment';

/** A non-global unit scheduled on the draining machine. */
export interface DrainUnit {
  name: string;
  /** Its group: the template of a group's instance, else the unit's own name (a group of one). */
  group: string;
  /** Healthy (or active, without checks) on the draining machine at its current version. */
  healthy: boolean;
}

/** A group's capacity, cluster-wide. */
export interface DrainGroup {
  /** Instances the group should have (1 for a single unit). */
  count: number;
  /** `UpdateParallel=`: instances that may be down at once (≥ 1). */
  parallel: number;
  /** Instances healthy on the machine they are scheduled on now (the draining one included). */
  healthy: number;
}

/** The planner's input for one machine at one moment. */
export interface DrainInput {
  onMachine: readonly DrainUnit[];
  /** Every group a unit in `onMachine` belongs to. A missing group counts as a single unit. */
  groups: ReadonlyMap<string, DrainGroup>;
  /** Units found to fit on no other machine in an earlier pass: tried last. */
  stuck: ReadonlySet<string>;
  /** The deadline passed: move everything now. */
  force: boolean;
}

/** What to do now. */
export interface DrainStep {
  /** Units to move off the machine in this pass (the engine re-places them on other machines). */
  evict: string[];
  /** Units that must wait for their group's moved instances to become healthy, with why. */
  waiting: { unit: string; reason: string }[];
}

/**
 * One pass of a drain. Guarantees (test/drain/drain-plan.test.ts, over generated drains): a group
 * with at least `count − parallel` healthy instances never drops below that by what is evicted here,
 * unless `force`; every unit on the machine is either evicted or waiting.
 */
export function planDrain(input: DrainInput): DrainStep {
  const byGroup = new Map<string, DrainUnit[]>();
  for (const u of input.onMachine) (byGroup.get(u.group) ?? byGroup.set(u.group, []).get(u.group)!).push(u);
  const evict: string[] = [];
  const waiting: DrainStep['waiting'] = [];
  for (const key of [...byGroup.keys()].sort()) {
    const units = byGroup.get(key)!;
    const g = input.groups.get(key) ?? { count: 1, parallel: 1, healthy: units.filter((u) => u.healthy).length };
    const floor = g.count - Math.max(1, g.parallel);
    let budget = g.healthy - floor;
    // the unhealthy first (free), the stuck last (they would take a slot and stay), then by instance number
    const rank = (u: DrainUnit) => (input.stuck.has(u.name) ? 2 : u.healthy ? 1 : 0);
    units.sort((a, b) => rank(a) - rank(b) || byIndex(a.name, b.name));
    for (const u of units) {
      if (input.force || !u.healthy) { evict.push(u.name); continue; }
      if (budget > 0) { evict.push(u.name); budget--; continue; }
      waiting.push({ unit: u.name, reason: `${key}: ${g.healthy} of ${g.count} healthy, at most ${Math.max(1, g.parallel)} down at once (UpdateParallel)` });
    }
  }
  return { evict: evict.sort(byIndex), waiting };
}
