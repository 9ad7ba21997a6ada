/**
 * Groups and their deployments, as one pure pass of the leader: keep instances 1..N of every group
 * (a template with `Instances=` or a count from `shoalctl scale`), start a deployment when a group's
 * template or a launched single unit changed version, and advance every deployment by one step.
 * Returns the unit and deployment writes; the engine stores them in one guarded transaction.
 */
import type { UnitChange, UnitRecord, UnitStateRecord } from '../etcd/registry';
import { instanceName, parseUnitName } from '../units/unit-name';
import type { TargetState, UnitSpec } from '../units/types';
import { UPDATE_DEFAULTS } from '../units/group-options';
import { byIndex, instanceIndex, newDeployment, step, type InstanceView } from './deployment';
import { isFinished, type Deployment } from './types';

/** The leader's view, from its watch-fed model. */
export interface GroupsInput {
  units: ReadonlyMap<string, UnitRecord>;
  /** The parsed unit (null when it does not parse). */
  spec(name: string): UnitSpec | null;
  desired: ReadonlyMap<string, TargetState>;
  /** template → count from `shoalctl scale` (wins over Instances=). */
  scale: ReadonlyMap<string, number>;
  deployments: ReadonlyMap<string, Deployment>;
  /** unit → deployment id released by `shoalctl promote`. */
  promotions: ReadonlyMap<string, string>;
  states: ReadonlyMap<string, ReadonlyMap<string, UnitStateRecord>>;
  /** Group templates whose desired state changed: every stored instance takes it. */
  retarget: ReadonlySet<string>;
  /** Single units whose body was replaced while this leader watched (their new version is gated). */
  replaced: ReadonlySet<string>;
  /** The previous version of a single unit (from its history), when the driver looked it up; null = none. */
  previous: ReadonlyMap<string, { hash: string; text: string } | null>;
  /** ms since the epoch. */
  now: number;
}

/** What a pass decided. */
export interface GroupsOutput {
  changes: UnitChange[];
  /** Single units whose previous version the driver must look up (history/) before they can be deployed. */
  needPrevious: string[];
  /** True while some deployment is not finished (the driver re-runs the pass on a timer for deadlines). */
  active: boolean;
}

/** The instance count of `template` (scale count, else Instances=, else ScaleMin= of an autoscaled one), or null when it is not a group. */
export function groupCount(template: string, spec: UnitSpec | null, scale: ReadonlyMap<string, number>): number | null {
  return scale.get(template) ?? spec?.group?.instances ?? spec?.autoscale?.min ?? null;
}

/**
 * True when an agent reports `unit` healthy running the body with `hash`. An agent that judges no health
 * (one older than health checks) counts a unit active at that hash as healthy.
 */
export function isHealthy(states: GroupsInput['states'], unit: string, hash: string): boolean {
  for (const s of states.get(unit)?.values() ?? []) {
    if (s.hash === hash && (s.health === 'healthy' || (s.health === undefined && s.activeState === 'active'))) return true;
  }
  return false;
}

/** One pass over every group and launched single unit. Deterministic for a given input. */
export function planGroups(input: GroupsInput): GroupsOutput {
  const out: GroupsOutput = { changes: [], needPrevious: [], active: false };
  const members = new Map<string, string[]>(); // template → its stored instances
  for (const name of input.units.keys()) {
    const n = safeName(name);
    if (n?.template) (members.get(n.template) ?? members.set(n.template, []).get(n.template)!).push(name);
  }
  const grouped = new Set<string>();
  for (const [name, rec] of input.units) {
    const n = safeName(name);
    if (!n?.isTemplate) continue;
    const count = groupCount(name, input.spec(name), input.scale);
    if (count === null) continue;
    for (const m of members.get(name) ?? []) grouped.add(m);
    planGroup(input, rec, count, members.get(name) ?? [], out);
  }
  for (const [name, rec] of input.units) {
    if (grouped.has(name) || safeName(name)?.isTemplate) continue;
    planSingle(input, rec, out);
  }
  return out;
}

function planGroup(input: GroupsInput, tpl: UnitRecord, count: number, existing: string[], out: GroupsOutput): void {
  const want = new Set<string>();
  for (let i = 1; i <= count; i++) want.add(instanceName(tpl.name, String(i)));
  const desired = input.desired.get(tpl.name) ?? 'inactive';
  const views: InstanceView[] = [];
  for (const name of want) {
    if (input.units.has(name)) continue;
    out.changes.push({ kind: 'put-unit', record: { name, text: tpl.text, hash: tpl.hash }, desired });
    views.push({ name, hash: tpl.hash, launched: desired === 'launched', healthy: false });
  }
  // scale down: numbered instances past the count go, highest first; instances named otherwise are the user's
  const extra = existing.filter((n) => !want.has(n) && instanceIndex(n) !== null).sort(byIndex).reverse();
  for (const name of extra) out.changes.push({ kind: 'delete-unit', unit: name });
  for (const name of existing) {
    if (!want.has(name)) continue;
    const rec = input.units.get(name)!;
    if (input.retarget.has(tpl.name) && input.desired.get(name) !== desired) out.changes.push({ kind: 'put-desired', unit: name, desired });
    views.push({ name, hash: rec.hash, launched: input.desired.get(name) === 'launched', healthy: isHealthy(input.states, name, rec.hash) });
  }
  views.sort((a, b) => byIndex(a.name, b.name));
  let dep = input.deployments.get(tpl.name);
  if (!dep || dep.target !== tpl.hash) {
    const stale = views.filter((v) => v.hash !== tpl.hash);
    if (stale.length === 0) return;
    const from = dep ? lastGood(dep) : commonVersion(input, stale);
    dep = newDeployment(tpl.name, from, { hash: tpl.hash, text: tpl.text }, rollout(input.spec(tpl.name)),
      views.filter((v) => v.launched).length, input.now);
    out.changes.push({ kind: 'put-deployment', deployment: dep });
  }
  advance(input, dep, views, out);
}

function planSingle(input: GroupsInput, rec: UnitRecord, out: GroupsOutput): void {
  const spec = input.spec(rec.name);
  if (!spec || spec.options.global || input.desired.get(rec.name) !== 'launched') return;
  let dep = input.deployments.get(rec.name);
  if (!dep || dep.target !== rec.hash) {
    let from: Deployment['from'];
    if (dep) from = lastGood(dep);
    else if (!input.replaced.has(rec.name)) return; // never seen replaced: nothing to gate
    else if (!input.previous.has(rec.name)) { out.needPrevious.push(rec.name); return; }
    else from = input.previous.get(rec.name) ?? null;
    if (!from || from.hash === rec.hash) return; // first version: nothing to gate
    dep = newDeployment(rec.name, from, { hash: rec.hash, text: rec.text }, rollout(spec), 1, input.now, true);
    out.changes.push({ kind: 'put-deployment', deployment: dep });
  }
  const view: InstanceView = { name: rec.name, hash: rec.hash, launched: true, healthy: isHealthy(input.states, rec.name, rec.hash) };
  advance(input, dep, [view], out);
}

/** Steps `dep` and turns its writes into unit puts (bodies come from the deployment's two versions). */
function advance(input: GroupsInput, dep: Deployment, views: InstanceView[], out: GroupsOutput): void {
  const r = step(dep, views, input.now, input.promotions.get(dep.unit) === dep.id);
  for (const w of r.writes) {
    const text = w.hash === dep.to.hash ? dep.to.text : dep.from?.hash === w.hash ? dep.from.text : null;
    if (text === null) continue; // cannot happen: step only writes to or from
    out.changes.push({ kind: 'put-unit', record: { name: w.name, text, hash: w.hash } });
  }
  if (r.changed) {
    const i = out.changes.findIndex((c) => c.kind === 'put-deployment' && c.deployment.unit === dep.unit);
    if (i >= 0) out.changes.splice(i, 1);
    out.changes.push({ kind: 'put-deployment', deployment: r.deployment });
  }
  if (!isFinished(r.deployment)) out.active = true;
}

/** The last version that was healthy everywhere, as far as `dep` knows. */
function lastGood(dep: Deployment): Deployment['from'] {
  if (dep.status === 'succeeded') return dep.to;
  if (dep.status === 'reverted' || dep.from) return dep.from;
  return null;
}

/** The version most stale instances run (the one rolled away from), with its body. */
function commonVersion(input: GroupsInput, stale: InstanceView[]): { hash: string; text: string } | null {
  const counts = new Map<string, number>();
  for (const v of stale) counts.set(v.hash, (counts.get(v.hash) ?? 0) + 1);
  const [hash] = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
  const holder = stale.find((v) => v.hash === hash && input.units.has(v.name));
  return holder ? { hash, text: input.units.get(holder.name)!.text } : null;
}

function rollout(spec: UnitSpec | null) {
  const u = spec?.group?.update ?? UPDATE_DEFAULTS;
  return { parallel: u.parallel, canary: u.canary, autoRevert: u.autoRevert, healthyDeadlineMs: u.healthyDeadlineMs };
}

function safeName(name: string) {
  try { return parseUnitName(name); } catch { return null; }
}
