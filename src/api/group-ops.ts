/**
 * The API's group, version and deployment operations (docs/groups.md): scale, history, rollback,
 * deployments, promote. Names and counts are checked before anything is written.
 */
import { MAX_INSTANCES, parseUnit, parseUnitName, shortHash, templateOf } from '../units';
import { ValidationError } from '../errors';
import type { Deployment } from '../deploy/types';
import type { UnitRecord } from '../etcd/registry';
import type { ApiRegistry } from './api-registry';
import type { DeploymentMsg, UnitVersionMsg } from './messages';
import { ConflictError, NotFoundError } from './grpc-errors';
import { submitUnit } from './unit-ops';

/** The group count of a stored template (scale count, else Instances=); null when it is not a group. */
export async function groupCountOf(reg: ApiRegistry, tpl: UnitRecord): Promise<number | null> {
  const scaled = await reg.getScale(tpl.name);
  if (scaled !== null) return scaled;
  try { return parseUnit(tpl.name, tpl.text).group?.instances ?? null; } catch { return null; }
}

/** The stored instances of `template` (any instance string), sorted by name. */
export async function instancesOf(reg: ApiRegistry, template: string): Promise<string[]> {
  return (await reg.listUnits()).value.map((u) => u.name).filter((n) => templateOf(n) === template).sort();
}

/**
 * Sets a group's instance count. ValidationError `group.not-template` / `group.bad-count` (a usage error:
 * nothing written); NotFoundError when the template is not stored. Returns the previous and new count.
 */
export async function scaleGroup(reg: ApiRegistry, name: string, count: number): Promise<{ previous: number; count: number }> {
  const n = parseUnitName(name);
  if (!n.isTemplate) {
    throw new ValidationError('group.not-template', `${name} is not a template: only a template (name@.${n.type}) has instances to scale`);
  }
  if (!Number.isInteger(count) || count < 0 || count > MAX_INSTANCES) {
    throw new ValidationError('group.bad-count', `count ${count} is not a whole number from 0 to ${MAX_INSTANCES}`);
  }
  const tpl = await reg.getUnit(name);
  if (!tpl) throw new NotFoundError('unit.not-found', `template ${name} not found: submit it first (shoalctl submit ${name})`);
  const previous = (await groupCountOf(reg, tpl)) ?? 0;
  if (!(await reg.setScale(name, count))) throw new NotFoundError('unit.not-found', `template ${name} was destroyed meanwhile`);
  return { previous, count };
}

/** The stored versions of a unit, oldest first; NotFoundError when the unit is not stored. */
export async function unitHistory(reg: ApiRegistry, name: string): Promise<UnitVersionMsg[]> {
  parseUnitName(name);
  const unit = await reg.getUnit(name);
  if (!unit) throw new NotFoundError('unit.not-found', `unit ${name} not found`);
  const versions = await reg.getHistory(name);
  if (!versions.some((v) => v.hash === unit.hash)) versions.push({ hash: unit.hash, text: unit.text, time: 0 });
  return versions.map((v) => ({ hash: v.hash, time: v.time, current: v.hash === unit.hash }));
}

/**
 * Stores an older version of `name` again, as `submit --replace` would (so a running group rolls to it
 * through a deployment). `to`: a hash or unique prefix; empty = the version before the current one.
 * NotFoundError `version.not-found` names the stored hashes; ConflictError when there is no older version.
 */
export async function rollback(reg: ApiRegistry, name: string, to: string): Promise<{ from: string; to: string }> {
  parseUnitName(name);
  const unit = await reg.getUnit(name);
  if (!unit) throw new NotFoundError('unit.not-found', `unit ${name} not found`);
  const versions = await reg.getHistory(name);
  const known = versions.map((v) => shortHash(v.hash)).join(', ') || 'none';
  let target;
  if (to === '') {
    const at = versions.findIndex((v) => v.hash === unit.hash);
    target = at > 0 ? versions[at - 1] : versions.filter((v) => v.hash !== unit.hash).at(-1);
    if (!target) throw new ConflictError('version.none-older', `${name} has no older version to roll back to (stored: ${known})`);
  } else {
    const hits = versions.filter((v) => v.hash.startsWith(to.toLowerCase()));
    if (hits.length !== 1 || to.length < 4) {
      const why = hits.length > 1 ? `is ambiguous` : to.length < 4 && hits.length ? 'is too short (give at least 4 characters)' : 'is not a stored version';
      throw new NotFoundError('version.not-found', `${to} ${why} of ${name}; stored versions: ${known}`);
    }
    target = hits[0];
  }
  if (target.hash === unit.hash) return { from: unit.hash, to: unit.hash };
  await submitUnit(reg, name, target.text, { replace: true });
  return { from: unit.hash, to: target.hash };
}

/** A deployment as a message. */
export function deploymentMsg(d: Deployment): DeploymentMsg {
  return {
    unit: d.unit, id: d.id, fromHash: d.from?.hash ?? '', toHash: d.to.hash, target: d.target, status: d.status,
    step: d.step, steps: d.steps, healthy: d.healthy, total: d.total, inFlight: d.inFlight, maxInFlight: d.maxInFlight ?? 0,
    parallel: d.parallel, canary: d.canary, startedAt: d.startedAt, updatedAt: d.updatedAt, message: d.message,
  };
}

/** The latest deployment of every unit (or of `name` only), sorted by unit. */
export async function listDeployments(reg: ApiRegistry, name: string): Promise<DeploymentMsg[]> {
  if (name) parseUnitName(name);
  return (await reg.listDeployments())
    .filter((d) => !name || d.unit === name)
    .sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0))
    .map(deploymentMsg);
}

/** Releases the deployment of `name` paused after its canaries; ConflictError when none is waiting. */
export async function promote(reg: ApiRegistry, name: string): Promise<string> {
  parseUnitName(name);
  const d = (await reg.listDeployments()).find((x) => x.unit === name);
  if (!d) throw new NotFoundError('deployment.not-found', `${name} has no deployment`);
  if (d.canary === 0 || (d.status !== 'paused' && d.status !== 'running')) {
    throw new ConflictError('deployment.not-paused', `deployment ${d.id} of ${name} is ${d.status}${d.canary ? '' : ' and has no canaries'}: nothing to promote`);
  }
  await reg.setPromote(name, d.id);
  return d.id;
}
