/**
 * The API's writes to units: validate everything with src/units first, write only then.
 * A bad name or a bad unit file is a ValidationError and nothing reaches etcd.
 */
import { instantiate, parseUnit, parseUnitName } from '../units';
import type { TargetState, UnitName } from '../units/types';
import { ValidationError } from '../errors';
import type { SubmitOutcome, UnitRecord } from '../etcd/registry';
import type { ApiRegistry } from './api-registry';
import { ConflictError, NotFoundError } from './grpc-errors';

/** What a submit did, with the stored hash. */
export interface SubmitResult {
  outcome: Exclude<SubmitOutcome, 'exists'>;
  hash: string;
}

function refuseTemplateStart(n: UnitName, state: TargetState | undefined): void {
  if (n.isTemplate && state !== undefined && state !== 'inactive') {
    throw new ValidationError('unit.template', `${n.name} is a template: it cannot be ${state}; start an instance instead, e.g. ${n.prefix}@1.${n.type}`);
  }
}

/**
 * Validates `name` + `text` and stores them. Without `replace`, a stored unit with a different
 * body is a ConflictError `unit.exists` that says to use --replace.
 */
export async function submitUnit(
  reg: ApiRegistry, name: string, text: string, opts: { replace?: boolean; desired?: TargetState } = {},
): Promise<SubmitResult> {
  const spec = parseUnit(name, text, { file: name });
  refuseTemplateStart(parseUnitName(name), opts.desired);
  const record: UnitRecord = { name: spec.name, text: spec.text, hash: spec.hash };
  const outcome = await reg.submitUnit(record, { replace: opts.replace, desired: opts.desired });
  if (outcome === 'exists') {
    throw new ConflictError('unit.exists', `unit ${name} already exists with a different body; use --replace to change it`);
  }
  return { outcome, hash: spec.hash };
}

type Step = { kind: 'set'; name: string } | { kind: 'create'; name: string; record: UnitRecord };

/** Works out, without writing, what setting `state` on `name` takes; throws when it cannot be done. */
async function stepFor(reg: ApiRegistry, name: string, state: TargetState): Promise<Step> {
  const n = parseUnitName(name);
  refuseTemplateStart(n, state);
  if (await reg.getUnit(name)) return { kind: 'set', name };
  const hint = `submit it first (shoalctl submit ${name})`;
  if (n.template === undefined) throw new NotFoundError('unit.not-found', `unit ${name} not found: ${hint}`);
  const tpl = await reg.getUnit(n.template);
  if (!tpl) throw new NotFoundError('unit.not-found', `unit ${name} not found, nor its template ${n.template}: submit one of them first`);
  const spec = instantiate(parseUnit(tpl.name, tpl.text, { file: tpl.name }), n.instance!);
  return { kind: 'create', name, record: { name, text: spec.text, hash: spec.hash } };
}

/**
 * Sets the desired state of every unit in `names`; an instance whose template is stored is created
 * from it. Every name is checked before anything is written. Returns the instances created.
 */
export async function setDesiredStates(reg: ApiRegistry, names: string[], state: TargetState): Promise<string[]> {
  if (names.length === 0) throw new ValidationError('api.no-units', 'no unit names given');
  const steps: Step[] = [];
  for (const name of [...new Set(names)]) steps.push(await stepFor(reg, name, state));
  const created: string[] = [];
  for (const s of steps) {
    if (s.kind === 'create') {
      const outcome = await reg.submitUnit(s.record, { desired: state });
      if (outcome === 'created') created.push(s.name);
      else if (!(await reg.setDesired(s.name, state))) throw new NotFoundError('unit.not-found', `unit ${s.name} vanished while being set`);
    } else if (!(await reg.setDesired(s.name, state))) {
      throw new NotFoundError('unit.not-found', `unit ${s.name} was destroyed meanwhile`);
    }
  }
  return created;
}

/** Destroys one unit after checking its name; false when there was none. */
export async function destroyUnit(reg: ApiRegistry, name: string): Promise<boolean> {
  parseUnitName(name);
  return reg.destroyUnit(name);
}
