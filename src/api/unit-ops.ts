/**
 * The API's writes to units: validate everything with src/units first, write only then.
 * A bad name or a bad unit file is a ValidationError and nothing reaches etcd.
 */
import { parseUnit, parseUnitName } from '../units';
import { checkSubmit } from '../units/unit-check';
import type { TargetState, UnitName } from '../units/types';
import { applyBatch, isNameGlob } from './batch-ops';
import { ValidationError } from '../errors';
import type { SubmitOutcome, UnitRecord } from '../etcd/registry';
import type { ApiRegistry } from './api-registry';
import { ConflictError, NotFoundError } from './grpc-errors';
import { groupCountOf, instancesOf } from './group-ops';
import { ownsInstances } from './batch-ops';

/** What a submit did, with the stored hash. */
export interface SubmitResult {
  outcome: Exclude<SubmitOutcome, 'exists'>;
  hash: string;
}

function refuseTemplateStart(n: UnitName, state: TargetState | undefined, group = false): void {
  if (n.isTemplate && !group && state !== undefined && state !== 'inactive') {
    throw new ValidationError('unit.template', `${n.name} is a template: it cannot be ${state}; start an instance instead, e.g. ${n.prefix}@1.${n.type} (or make it a group with [X-Shoal] Instances=N)`);
  }
}

/** True when `name` is a stored group template (Instances= or a scale count): its state applies to its instances. */
async function isGroup(reg: ApiRegistry, name: string): Promise<boolean> {
  const tpl = await reg.getUnit(name);
  if (tpl === null) return false;
  if ((await groupCountOf(reg, tpl)) !== null) return true;
  try { return ownsInstances(parseUnit(name, tpl.text)); } catch { return false; }
}

/**
 * Validates `name` + `text` as `shoalctl verify` does (checkSubmit: also a service systemd would refuse
 * to load, a misspelt section) and stores them. Without `replace`, a stored unit with a different
 * body is a ConflictError `unit.exists` that says to use --replace.
 */
export async function submitUnit(
  reg: ApiRegistry, name: string, text: string, opts: { replace?: boolean; desired?: TargetState } = {},
): Promise<SubmitResult> {
  const spec = checkSubmit(name, text, { file: name });
  refuseTemplateStart(parseUnitName(name), opts.desired, spec.group?.instances !== undefined || ownsInstances(spec));
  const record: UnitRecord = { name: spec.name, text: spec.text, hash: spec.hash };
  const outcome = await reg.submitUnit(record, { replace: opts.replace, desired: opts.desired });
  if (outcome === 'exists') {
    throw new ConflictError('unit.exists', `unit ${name} already exists with a different body; use --replace to change it`);
  }
  return { outcome, hash: spec.hash };
}

/**
 * Sets the desired state of every unit in `names`; an instance whose template is stored is created
 * from it. Every name is checked before anything is written (see batch-ops.ts). Returns the instances created.
 */
export async function setDesiredStates(reg: ApiRegistry, names: string[], state: TargetState): Promise<string[]> {
  if (names.length === 0) throw new ValidationError('api.no-units', 'no unit names given');
  for (const n of names) if (isNameGlob(n)) parseUnitName(n); // the unary call takes names only
  const results = await applyBatch(reg, { action: 'set-state', units: names.map((name) => ({ name })), state });
  const gone = results.find((r) => r.outcome === 'not-found');
  if (gone) throw new NotFoundError('unit.not-found', `unit ${gone.name} was destroyed meanwhile`);
  return results.filter((r) => r.outcome === 'created').map((r) => r.name);
}

/** Destroys one unit after checking its name; a group's template takes its instances along. False when there was none. */
export async function destroyUnit(reg: ApiRegistry, name: string): Promise<boolean> {
  const n = parseUnitName(name);
  const members = n.isTemplate && (await isGroup(reg, name)) ? await instancesOf(reg, name) : [];
  const existed = await reg.destroyUnit(name); // the template first: the engine then creates no new instance
  for (const m of members) await reg.destroyUnit(m);
  return existed;
}
