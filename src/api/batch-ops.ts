/**
 * The API's batch writes: many units in one call (submit, set a desired state, destroy).
 *
 * A batch is all-or-nothing for bad input: every name, glob and unit file is checked (unit files as
 * `shoalctl verify` checks them: unit-check.ts), and every unit a state is set on must exist (or be an
 * instance of a stored template), before anything is written; one bad entry is a ValidationError /
 * NotFoundError that names it (bad unit files: all of them), and nothing changes. The writes then go
 * in chunks of 64 units (one etcd transaction each, see src/etcd/unit-batch-etcd.ts); each unit gets its
 * own result (created, unchanged, exists, skipped, not-found...). Chunks are atomic, the batch is not:
 * when etcd fails midway the results already streamed are written, the rest is not.
 */
import { instantiate, matchUnitGlob, parseUnit, parseUnitName } from '../units';
import { compileGlob, GlobError } from '../units/unit-glob';
import type { TargetState, UnitName, UnitSpec } from '../units/types';
import { checkSubmit } from '../units/unit-check';
import { ValidationError } from '../errors';
import type { GroupStore, UnitBatchOp, UnitBatchResult, UnitBatchWriter, UnitReader, UnitRecord } from '../etcd/registry';
import { NotFoundError } from './grpc-errors';

/** What a batch does to each of its units. */
export type BatchAction = 'submit' | 'set-state' | 'destroy';

/** One batch call. */
export interface BatchRequest {
  action: BatchAction;
  /** submit: name + text of each file; set-state/destroy: names or globs (text unused). */
  units: { name: string; text?: string }[];
  /** submit: overwrite stored units whose body differs (else their outcome is 'exists'). */
  replace?: boolean;
  /** set-state: the desired state (required); submit: written with the units when given. */
  state?: TargetState;
  /** set-state: leave alone units whose desired state is one of these (outcome 'skipped'). */
  skipFrom?: TargetState[];
}

/** The registry a batch needs. */
export type BatchRegistry = UnitBatchWriter & Pick<UnitReader, 'listUnits'> & Partial<Pick<GroupStore, 'getScale'>>;

/**
 * Group templates among `names` (a stored template with Instances= or a scale count) with their stored
 * instances: a group's template takes a state (or a destroy) for all of them (docs/groups.md).
 */
async function groupMembers(reg: BatchRegistry, names: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const templates = names.filter((n) => parseUnitName(n).isTemplate);
  if (templates.length === 0) return out;
  const stored = await reg.readUnits(templates);
  let all: string[] | null = null;
  for (const t of templates) {
    const u = stored.get(t)?.unit;
    if (!u) continue;
    let count: number | null | undefined = (await reg.getScale?.(t)) ?? null;
    if (count === null) { try { const spec = parseUnit(t, u.text, { file: t }); count = spec.group?.instances ?? (ownsInstances(spec) ? 0 : undefined); } catch { count = undefined; } }
    if (count === null || count === undefined) continue;
    all ??= (await reg.listUnits()).value.map((x) => x.name);
    out.set(t, all.filter((n) => parseUnitName(n).template === t).sort());
  }
  return out;
}

/** One unit's result, and whether it is a global unit (X-Fleet Global=true: runs on every matching machine). */
export interface BatchResult extends UnitBatchResult {
  global: boolean;
  /** Kind=batch: it runs to completion (docs/jobs.md). */
  batch: boolean;
}


/** Progress of a batch: `total` units, each result as its chunk is committed. */
export interface BatchProgress {
  total: number;
  results: BatchResult[];
}

/** A batch template with Completions= or Schedule=: the leader makes its instances, like a group's (docs/jobs.md). */
export function ownsInstances(spec: { job?: { completions?: number; schedule?: unknown } }): boolean {
  return spec.job !== undefined && (spec.job.completions !== undefined || spec.job.schedule !== undefined);
}

function refuseTemplateState(n: UnitName, state: TargetState | undefined, where: string): void {
  if (n.isTemplate && state !== undefined && state !== 'inactive') {
    throw new ValidationError('unit.template', `${where}${n.name} is a template: it cannot be ${state}; start an instance instead, e.g. ${n.prefix}@1.${n.type}`);
  }
}

/** A glob has `*`, `?` or `[` (never in a unit name; `\` is, as systemd's escape, so it alone is no glob). */
export function isNameGlob(arg: string): boolean {
  return /[*?[]/.test(arg);
}

/** Names from names and globs: a glob matches stored units that are not templates; one matching nothing is an error. */
async function expandNames(reg: BatchRegistry, args: string[]): Promise<string[]> {
  const globs = args.filter(isNameGlob);
  for (const g of globs) {
    try { compileGlob(g); } catch (err) {
      if (err instanceof GlobError) throw new ValidationError('unit.bad-glob', `unit ${args.indexOf(g) + 1} (${JSON.stringify(g)}): ${err.message}`);
      throw err;
    }
  }
  let stored: string[] = [];
  if (globs.length > 0) stored = (await reg.listUnits()).value.map((u) => u.name).filter((n) => !parseUnitName(n).isTemplate);
  const out = new Set<string>();
  args.forEach((a) => {
    if (!isNameGlob(a)) { parseUnitName(a); out.add(a); return; }
    const matched = stored.filter((n) => matchUnitGlob(a, n));
    if (matched.length === 0) throw new NotFoundError('unit.not-found', `no submitted unit matches ${JSON.stringify(a)} (a glob matches stored units and instances, never templates)`);
    for (const n of matched) out.add(n);
  });
  return [...out];
}

/** At most this many bad files are listed in a batch's error (a gRPC status message must stay small). */
const MAX_LISTED = 20;

/**
 * Checks every file of a submit batch as `shoalctl verify` does (checkSubmit: parse errors, a service
 * systemd would refuse, a misspelt section) before anything is written. One bad file is thrown as it
 * is; several are one ValidationError (the first one's code) listing each, `file:line: key: what`.
 */
function submitOps(req: BatchRequest, globals: Set<string>, batch: Set<string>): UnitBatchOp[] {
  const byName = new Map<string, UnitRecord>();
  const bad: ValidationError[] = [];
  for (const u of req.units) {
    let spec: UnitSpec;
    try {
      spec = checkSubmit(u.name, u.text ?? '', { file: u.name });
      refuseTemplateState(parseUnitName(u.name), spec.group?.instances !== undefined || ownsInstances(spec) ? undefined : req.state, '');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      bad.push(err);
      continue;
    }
    const prev = byName.get(spec.name);
    if (prev && prev.hash !== spec.hash) throw new ValidationError('unit.duplicate', `unit ${spec.name} is given twice with different bodies`);
    byName.set(spec.name, { name: spec.name, text: spec.text, hash: spec.hash });
    if (spec.options.global) globals.add(spec.name);
    if (spec.job) batch.add(spec.name);
  }
  if (bad.length === 1) throw bad[0];
  if (bad.length > 1) {
    const listed = bad.slice(0, MAX_LISTED).map((e) => e.message);
    if (bad.length > MAX_LISTED) listed.push(`... and ${bad.length - MAX_LISTED} more`);
    throw new ValidationError(bad[0].code, `${bad.length} of ${req.units.length} unit files are invalid; nothing was changed:\n${listed.join('\n')}`);
  }
  return [...byName.values()].map((unit) => ({ kind: 'submit', unit, replace: req.replace, desired: req.state }));
}

function notFoundMessage(name: string): string {
  const t = parseUnitName(name).template;
  if (t === undefined) return `unit ${name} not found: submit it first (shoalctl submit ${name})`;
  return `unit ${name} not found, nor its template ${t}: submit one of them first`;
}

/** Set-state ops: every unit must exist or be an instance of a stored template. */
async function setStateOps(reg: BatchRegistry, req: BatchRequest, globals: Set<string>, batch: Set<string>): Promise<UnitBatchOp[]> {
  const state = req.state;
  if (state === undefined) throw new ValidationError('api.bad-state', 'a target state is required: inactive, loaded or launched');
  let names = await expandNames(reg, req.units.map((u) => u.name));
  const groups = await groupMembers(reg, names);
  for (const n of names) if (!groups.has(n)) refuseTemplateState(parseUnitName(n), state, '');
  // the template's state is what the leader gives new instances; the stored ones get it now
  names = [...new Set(names.flatMap((n) => [n, ...(groups.get(n) ?? [])]))];
  const stored = await reg.readUnits(names);
  const templates = new Set<string>();
  for (const n of names) {
    const t = parseUnitName(n).template;
    if (!stored.get(n)?.unit && t !== undefined) templates.add(t);
  }
  const tpl = templates.size > 0 ? await reg.readUnits([...templates]) : new Map();
  const missing: string[] = [];
  const ops: UnitBatchOp[] = names.map((name) => {
    const op: UnitBatchOp = { kind: 'desired', name, state, skipFrom: req.skipFrom };
    const u = stored.get(name)?.unit;
    if (u) {
      if (u.text.includes('Global') && parseUnit(name, u.text, { file: name }).options.global) globals.add(name);
      if (u.text.includes('Kind')) { try { if (parseUnit(name, u.text, { file: name }).job) batch.add(name); } catch { /* stored before a rule existed: not batch */ } }
      return op;
    }
    const n = parseUnitName(name);
    const t = n.template !== undefined ? tpl.get(n.template)?.unit : undefined;
    if (!t) { missing.push(name); return op; }
    const spec = instantiate(parseUnit(t.name, t.text, { file: t.name }), n.instance!);
    if (spec.options.global) globals.add(name);
    if (spec.job) batch.add(name);
    return { ...op, orCreate: { name, text: spec.text, hash: spec.hash } };
  });
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (${missing.length} units are missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}; nothing was changed)` : '';
    throw new NotFoundError('unit.not-found', notFoundMessage(missing[0]) + more);
  }
  return ops;
}

/**
 * Validates the whole batch, then applies it chunk by chunk. `onProgress` gets the total once
 * validation passed (results empty), then each chunk's results. Returns every result in order.
 * Throws ValidationError / NotFoundError for bad input (nothing written), UnavailableError when etcd fails.
 */
export async function applyBatch(reg: BatchRegistry, req: BatchRequest, onProgress?: (p: BatchProgress) => void): Promise<BatchResult[]> {
  if (req.units.length === 0) throw new ValidationError('api.no-units', 'no units given');
  let ops: UnitBatchOp[];
  const globals = new Set<string>();
  const batch = new Set<string>(); // Kind=batch units: clients wait for nothing
  switch (req.action) {
    case 'submit': ops = submitOps(req, globals, batch); break;
    case 'set-state': ops = await setStateOps(reg, req, globals, batch); break;
    case 'destroy': {
      const names = await expandNames(reg, req.units.map((u) => u.name));
      const groups = await groupMembers(reg, names);
      // a group's template goes first (the leader then creates no new instance), its instances with it
      ops = [...new Set(names.flatMap((n) => [n, ...(groups.get(n) ?? [])]))].map((name) => ({ kind: 'destroy', name }));
      break;
    }
    default: throw new ValidationError('api.bad-action', `unknown batch action ${JSON.stringify(req.action)}: submit, set-state or destroy`);
  }
  const total = ops.length;
  onProgress?.({ total, results: [] });
  const withGlobal = (rs: UnitBatchResult[]) => rs.map((r) => ({ ...r, global: globals.has(r.name), batch: batch.has(r.name) }));
  return withGlobal(await reg.applyUnitBatch(ops, (results) => onProgress?.({ total, results: withGlobal(results) })));
}
