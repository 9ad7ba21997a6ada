/**
 * The deployment state machine: step(deployment, instances, now) → the next deployment and the unit
 * bodies to write. Pure: the engine's driver (src/engine/deployer.ts) feeds it the watch-fed model and
 * writes its output in one guarded transaction, so a new leader continues from the stored state.
 *
 * A step replaces at most `parallel` launched instances (the first step `canary` when Canary= is set);
 * the next step starts only when every instance of this one reports healthy at the target hash. A step
 * that is not healthy within `healthyDeadlineMs` fails the deployment; with AutoRevert it then rolls
 * back to `from` the same way (at most `parallel` at a time, the broken ones first).
 * Rules after Nomad's update block (max_parallel, healthy_deadline, auto_revert, canary) and
 * Kubernetes' RollingUpdate (maxUnavailable); docs/groups.md compares them.
 */
import { shortHash } from '../units/unit-hash';
import { isFinished, type Deployment } from './types';

/** One instance of the rolled-out group (or the single unit itself), as the leader sees it now. */
export interface InstanceView {
  name: string;
  /** Hash of the body stored at units/<name>. */
  hash: string;
  /** Desired state is launched: only those count and are health-gated. */
  launched: boolean;
  /** An agent reports it healthy running the body with `hash`. */
  healthy: boolean;
}

/** A unit body to store: `name` gets the version with `hash` (deployment.to or .from). */
export interface BodyWrite {
  name: string;
  hash: string;
}

/** What a step decided. */
export interface StepResult {
  deployment: Deployment;
  writes: BodyWrite[];
  /** True when the deployment record changed and must be stored. */
  changed: boolean;
}

/** Rollout settings of a new deployment (from the new version's [X-Shoal] options). */
export interface RolloutSettings {
  parallel: number;
  canary: number;
  autoRevert: boolean;
  healthyDeadlineMs: number;
}

/**
 * A new deployment of `unit` from `from` to `to`. `single`: the unit is its own instance and was already
 * replaced by the submit, so the first step is in flight from `now`.
 */
export function newDeployment(
  unit: string, from: Deployment['from'], to: Deployment['to'], s: RolloutSettings, total: number, now: number, single = false,
): Deployment {
  const canary = single ? 0 : Math.min(s.canary, total);
  const parallel = Math.max(1, s.parallel);
  const steps = single ? 1 : Math.ceil(canary / parallel) + Math.ceil(Math.max(0, total - canary) / parallel);
  return {
    unit, id: `${shortHash(to.hash)}-${now}`, from, to, target: to.hash, status: 'running',
    parallel, canary, autoRevert: s.autoRevert && from !== null, healthyDeadlineMs: s.healthyDeadlineMs,
    promoted: canary === 0, step: single ? 1 : 0, steps, inFlight: single ? [unit] : [], stepStartedAt: now, healthy: 0, total,
    maxInFlight: single ? 1 : 0, startedAt: now, updatedAt: now,
    message: single ? 'replaced; waiting for it to be healthy' : 'started',
  };
}

/**
 * Advances `dep` as far as `instances` allow at `now` (ms since the epoch). `promoted`: `shoalctl promote`
 * named this deployment. Deterministic; never writes more than `parallel` launched instances that are
 * not yet healthy, counting the ones already in flight.
 */
export function step(dep: Deployment, instances: InstanceView[], now: number, promoted: boolean): StepResult {
  if (isFinished(dep)) return { deployment: dep, writes: [], changed: false };
  const d: Deployment = { ...dep, inFlight: [...dep.inFlight] };
  const writes: BodyWrite[] = [];
  const byName = new Map(instances.map((i) => [i.name, i]));
  const atTarget = (i: InstanceView) => i.hash === d.target;
  const launched = instances.filter((i) => i.launched);
  d.total = launched.length;
  d.healthy = launched.filter((i) => atTarget(i) && i.healthy).length;

  // the current step: drop what became healthy (or went away); a step past its deadline fails
  d.inFlight = d.inFlight.filter((n) => { const i = byName.get(n); return i !== undefined && i.launched && !(atTarget(i) && i.healthy); });
  if (d.inFlight.length > 0) {
    if (now - d.stepStartedAt <= d.healthyDeadlineMs) return finish(dep, d, writes, now);
    const late = d.inFlight.join(', ');
    if (d.status === 'reverting' || !d.autoRevert || !d.from) {
      d.status = 'failed';
      d.message = `${late} not healthy within ${d.healthyDeadlineMs / 1000}s${dep.status === 'reverting' ? ` while reverting (${d.failure})` : ''}`;
      d.inFlight = [];
      return finish(dep, d, writes, now);
    }
    d.status = 'reverting';
    d.target = d.from.hash;
    d.failure = `${late} not healthy within ${d.healthyDeadlineMs / 1000}s`;
    d.message = `${d.failure}: reverting to ${shortHash(d.from.hash)}`;
    d.step = 0;
    d.steps = Math.ceil(launched.filter((i) => !atTarget(i)).length / d.parallel);
    writes.push({ name: d.unit, hash: d.from.hash }); // the template (or the unit) goes back too
    // the broken ones are already down: replace them first, still at most `parallel` at a time
    const broken = d.inFlight;
    d.inFlight = [];
    return launchStep(dep, d, instances, writes, now, broken);
  }
  if (promoted && !d.promoted) d.promoted = true;
  if (d.status === 'paused') {
    if (!d.promoted) return finish(dep, d, writes, now);
    d.status = 'running';
    d.message = 'promoted';
  }
  return launchStep(dep, d, instances, writes, now, []);
}

/** Starts the next step (or ends the deployment when nothing is left). */
function launchStep(dep: Deployment, d: Deployment, instances: InstanceView[], writes: BodyWrite[], now: number, first: string[]): StepResult {
  const put = (name: string) => { if (!writes.some((w) => w.name === name)) writes.push({ name, hash: d.target }); };
  const pendingAll = instances.filter((i) => i.hash !== d.target);
  // instances not launched need no health: they get the new body at once
  for (const i of pendingAll) if (!i.launched) put(i.name);
  const order = (i: InstanceView) => (first.includes(i.name) ? 0 : i.healthy ? 2 : 1); // broken first, then the down ones
  const pending = pendingAll.filter((i) => i.launched).sort((a, b) => order(a) - order(b) || byIndex(a.name, b.name));
  if (pending.length === 0) {
    d.status = d.status === 'reverting' ? 'reverted' : 'succeeded';
    d.message = d.status === 'reverted' ? `${d.failure}: every instance back at ${shortHash(d.target)}` : `every instance healthy at ${shortHash(d.target)}`;
    return finish(dep, d, writes, now);
  }
  // canaries: the first `canary` instances, still at most `parallel` at a time, then wait for promote
  const canaryLeft = d.status === 'running' && !d.promoted ? d.canary - instances.filter((i) => i.launched && i.hash === d.target).length : 0;
  if (d.status === 'running' && !d.promoted && canaryLeft <= 0) {
    d.status = 'paused';
    d.message = `${d.canary} canary instance(s) healthy; waiting for shoalctl promote ${d.unit}`;
    return finish(dep, d, writes, now);
  }
  const size = canaryLeft > 0 ? Math.min(d.parallel, canaryLeft) : d.parallel;
  const batch = pending.slice(0, size);
  for (const i of batch) put(i.name);
  d.inFlight = batch.map((i) => i.name);
  d.step++;
  d.steps = Math.max(d.steps, d.step);
  d.stepStartedAt = now;
  d.maxInFlight = Math.max(d.maxInFlight, d.inFlight.length);
  d.message = `${d.status === 'reverting' ? `${d.failure}: reverting, ` : ''}step ${d.step}/${d.steps}: ${d.inFlight.join(', ')}`;
  return finish(dep, d, writes, now);
}

function finish(before: Deployment, d: Deployment, writes: BodyWrite[], now: number): StepResult {
  const changed = writes.length > 0 || JSON.stringify({ ...before, updatedAt: 0 }) !== JSON.stringify({ ...d, updatedAt: 0 });
  if (changed) d.updatedAt = now;
  return { deployment: changed ? d : before, writes, changed };
}

/** Instances in numeric order (`web@2` before `web@10`), others by name. */
export function byIndex(a: string, b: string): number {
  const na = instanceIndex(a);
  const nb = instanceIndex(b);
  if (na !== null && nb !== null) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The number of `web@7.service` (7); null when the instance string is not a number. */
export function instanceIndex(name: string): number | null {
  const m = /@(\d{1,9})\.[a-z]+$/.exec(name);
  return m ? Number(m[1]) : null;
}
