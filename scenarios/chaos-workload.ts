/**
 * The chaos campaign's workload, pure: a model of what has been submitted (units, texts, desired
 * states) and a seeded generator of operations on it (submit, start, stop, unload, replace,
 * destroy) over every kind of unit: plain, Conflicts= sets, MachineOf= pairs, globals (one on
 * every machine, one on a metadata subset), template instances, container units and resource
 * reservations. The generator only makes states that can be placed on the base nodes minus one
 * (the checker may then demand every unit runs), so a unit that is not running is a fault.
 */
import { seededRandom } from '../src/seeded-random';
import type { TargetState } from '../src/units/types';
import { UNIT_PREFIX, type ScenarioUnit } from './units';

/**
 * The campaign's PRNG for `seed`. mulberry32's first draws for neighbouring small seeds are alike
 * (seeds 1, 2, 3 and 5 all opened with the same fault), so the seed goes through murmur3's
 * finaliser first.
 */
export function campaignRandom(seed: number): () => number {
  let h = seed >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return seededRandom((h ^ (h >>> 16)) >>> 0);
}

/** The kinds of unit the workload makes. */
export type UnitKind = 'plain' | 'conflict' | 'pair' | 'global' | 'instance' | 'container' | 'reserve' | 'template';
/** The kinds the generator submits groups of (the one template comes with the initial ops). */
export const UNIT_KINDS: UnitKind[] = ['plain', 'conflict', 'pair', 'global', 'instance', 'container', 'reserve'];

/** A unit as the workload submitted it. */
export interface ModelUnit extends ScenarioUnit {
  kind: UnitKind;
  /** Bumped by each replace; part of the text. */
  version: number;
  /** For an instance: its template's name. */
  template?: string;
}

/** What has been submitted: unit name → unit (templates included). */
export interface WorkloadState {
  units: Map<string, ModelUnit>;
  /** Next number for a new unit's name. */
  next: number;
  /** The base nodes (node1..nodeK): capacity limits are computed for K - 1 of them. */
  nodes: string[];
}

/** One operation on the registry, as shoalctl would do it. */
export type WorkloadOp =
  | { type: 'submit'; units: { name: string; text: string; desired: TargetState }[] }
  | { type: 'set'; names: string[]; desired: TargetState }
  | { type: 'replace'; units: { name: string; text: string }[] }
  | { type: 'destroy'; names: string[] };

/** The template every instance comes from (submitted by `initialOps`). */
export const TEMPLATE = `${UNIT_PREFIX}tpl@.service`;
/** The Conflicts= set every `conflict` unit belongs to. */
export const CONFLICT_GLOB = `${UNIT_PREFIX}cf-*.service`;
/** The container image (testbed/up imports it). */
export const IMAGE = 'localbusybox:latest';

/** Caps per kind (units, not groups), so the cluster stays small enough to observe quickly. */
const CAP: Record<UnitKind, number> = { plain: 4, conflict: 2, pair: 4, global: 2, instance: 3, container: 2, reserve: 3, template: 1 };

/** A new, empty workload over `nodes` (the base nodes). */
export function newWorkload(nodes: string[]): WorkloadState {
  return { units: new Map(), next: 1, nodes: [...nodes] };
}

/** The text of a workload unit; `version` makes a replace change it (and its hash). */
export function chaosUnitText(name: string, kind: UnitKind, version: number, fleet: string[] = []): string {
  const lines = ['[Unit]', `Description=shoal chaos ${kind} unit ${name} v${version}`, ''];
  if (kind === 'container') {
    lines.push('[Service]', 'Restart=always', 'RestartSec=1', '', '[X-Container]', `Image=${IMAGE}`, 'Command=sleep 1000000', '');
  } else {
    lines.push('[Service]', 'ExecStart=/usr/bin/sleep infinity', '');
  }
  if (kind === 'reserve') lines.push('[X-Shoal]', 'CPU=100m', 'Memory=32M', '');
  if (fleet.length) lines.push('[X-Fleet]', ...fleet, '');
  return lines.join('\n');
}

function fleetOf(u: Pick<ModelUnit, 'global' | 'machineOf' | 'conflicts' | 'onlyNodes'>): string[] {
  const f: string[] = [];
  if (u.global) f.push('Global=true');
  if (u.onlyNodes) f.push(`MachineMetadata=${u.onlyNodes.map((n) => `node=${n}`).join(' ')}`);
  if (u.machineOf) f.push(`MachineOf=${u.machineOf}`);
  if (u.conflicts) f.push(`Conflicts=${u.conflicts}`);
  return f;
}

function make(kind: UnitKind, name: string, desired: TargetState, extra: Partial<ModelUnit> = {}): ModelUnit {
  const u: ModelUnit = { name, kind, desired, version: 1, global: false, text: '', ...extra };
  u.text = chaosUnitText(name, kind, u.version, fleetOf(u));
  return u;
}

/** The ops every campaign starts with: the template and one group of every kind (both globals), launched. */
export function initialOps(state: WorkloadState): WorkloadOp[] {
  const ops: WorkloadOp[] = [{ type: 'submit', units: [{ name: TEMPLATE, text: chaosUnitText(TEMPLATE, 'template', 1), desired: 'inactive' }] }];
  applyOp(state, ops[0]);
  for (const kind of [...UNIT_KINDS, 'global' as const]) {
    const op = newGroupOp(state, kind, 'launched');
    if (op) { applyOp(state, op); ops.push(op); }
  }
  return ops;
}

/** The units of the group `name` belongs to (a MachineOf pair moves as one). */
function groupOf(state: WorkloadState, name: string): ModelUnit[] {
  const u = state.units.get(name)!;
  if (u.kind !== 'pair') return [u];
  const lead = u.machineOf ?? u.name;
  return [...state.units.values()].filter((o) => o.name === lead || o.machineOf === lead);
}

const count = (state: WorkloadState, kind: UnitKind) => [...state.units.values()].filter((u) => u.kind === kind).length;
const placedConflicts = (state: WorkloadState) =>
  [...state.units.values()].filter((u) => u.kind === 'conflict' && u.desired !== 'inactive').length;
/** Conflicting units that fit after one base node is lost. */
const conflictRoom = (state: WorkloadState) => Math.max(0, state.nodes.length - 1 - placedConflicts(state));

/** An op that submits a new group of `kind`, or null when the kind is at its cap. */
function newGroupOp(state: WorkloadState, kind: UnitKind, desired: TargetState): WorkloadOp | null {
  if (count(state, kind) >= CAP[kind]) return null;
  const n = state.next;
  const P = UNIT_PREFIX;
  switch (kind) {
    case 'instance':
      return { type: 'set', names: [TEMPLATE.replace('@.', `@${n}.`)], desired };
    case 'pair': {
      const a = make('pair', `${P}pa-${n}.service`, desired);
      const b = make('pair', `${P}pb-${n}.service`, desired, { machineOf: a.name });
      return { type: 'submit', units: [a, b].map(({ name, text }) => ({ name, text, desired })) };
    }
    case 'conflict':
      if (desired !== 'inactive' && conflictRoom(state) === 0) return null;
      return submitOne(make('conflict', `${P}cf-${n}.service`, desired, { conflicts: CONFLICT_GLOB }));
    case 'global': {
      // the first global runs everywhere, the second only on a metadata subset of the base nodes
      const only = [...state.units.values()].some((u) => u.kind === 'global' && !u.onlyNodes);
      return submitOne(make('global', `${P}gl-${n}.service`, desired, only ? { global: true, onlyNodes: state.nodes.slice(0, 2) } : { global: true }));
    }
    default:
      return submitOne(make(kind, `${P}${kind.slice(0, 2)}-${n}.service`, desired));
  }
}

function submitOne(u: ModelUnit): WorkloadOp {
  return { type: 'submit', units: [{ name: u.name, text: u.text, desired: u.desired }] };
}

/** Parses the constraints back out of a workload unit's text (the op carries only name + text). */
function unitFromText(name: string, text: string, desired: TargetState, version: number): ModelUnit {
  const kind = (/^Description=shoal chaos (\S+) unit/m.exec(text)?.[1] ?? 'plain') as UnitKind;
  const get = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1];
  const meta = get('MachineMetadata');
  return {
    name, text, desired, version, kind,
    global: get('Global') === 'true',
    ...(get('MachineOf') ? { machineOf: get('MachineOf') } : {}),
    ...(get('Conflicts') ? { conflicts: get('Conflicts') } : {}),
    ...(meta ? { onlyNodes: meta.split(' ').map((m) => m.slice('node='.length)) } : {}),
  };
}

/** Applies `op` to the model (what the registry holds once the op succeeded). */
export function applyOp(state: WorkloadState, op: WorkloadOp): void {
  state.next++;
  switch (op.type) {
    case 'submit':
      for (const s of op.units) state.units.set(s.name, unitFromText(s.name, s.text, s.desired, 1));
      break;
    case 'set':
      for (const name of op.names) {
        const u = state.units.get(name);
        if (u) { u.desired = op.desired; continue; }
        // an instance made from its template by the first start/load, as the API does
        const tpl = state.units.get(TEMPLATE)!;
        state.units.set(name, { name, text: tpl.text, desired: op.desired, version: 1, kind: 'instance', global: false, template: TEMPLATE });
      }
      break;
    case 'replace':
      for (const s of op.units) {
        const u = state.units.get(s.name)!;
        state.units.set(s.name, { ...unitFromText(s.name, s.text, u.desired, u.version + 1), kind: u.kind, template: u.template });
      }
      break;
    case 'destroy':
      for (const name of op.names) state.units.delete(name);
      break;
  }
}

/** Names of the units `op` changes (their processes may restart: the checker does not count those). */
export function opUnits(op: WorkloadOp): string[] {
  return op.type === 'submit' || op.type === 'replace' ? op.units.map((u) => u.name) : op.names;
}

/**
 * A random op on `state` (not applied: call applyOp). Draws from `rnd` (uniform [0, 1)) only, so a
 * seed and the same earlier ops give the same op. Never returns an op that makes an unplaceable state.
 */
export function nextOp(state: WorkloadState, rnd: () => number): WorkloadOp {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const existing = [...state.units.values()].filter((u) => u.name !== TEMPLATE && !(u.kind === 'pair' && u.machineOf));
  for (let attempt = 0; attempt < 20; attempt++) {
    const action = pick(['submit', 'submit', 'start', 'start', 'stop', 'unload', 'replace', 'replace', 'destroy']);
    if (action === 'submit' || existing.length === 0) {
      const op = newGroupOp(state, pick(UNIT_KINDS), rnd() < 0.8 ? 'launched' : 'loaded');
      if (op) return op;
      continue;
    }
    const u = pick(existing);
    const group = groupOf(state, u.name);
    const names = group.map((g) => g.name);
    switch (action) {
      case 'start':
      case 'stop':
      case 'unload': {
        const desired: TargetState = action === 'start' ? 'launched' : action === 'stop' ? 'loaded' : 'inactive';
        if (u.desired === desired) continue;
        if (u.kind === 'conflict' && u.desired === 'inactive' && conflictRoom(state) === 0) continue;
        return { type: 'set', names, desired };
      }
      case 'replace':
        return replaceOp(state, u.name);
      default:
        return { type: 'destroy', names: [...names].reverse() };
    }
  }
  // nothing drawn was possible (every kind at its cap, every state already as drawn): a replace always is
  return existing[0] ? replaceOp(state, existing[0].name) : newGroupOp(state, 'plain', 'launched')!;
}

/** A new version of `name`'s group (a follower's text names its target: a pair is replaced whole). */
function replaceOp(state: WorkloadState, name: string): WorkloadOp {
  return {
    type: 'replace',
    units: groupOf(state, name).map((g) => ({ name: g.name, text: chaosUnitText(g.name, g.kind, g.version + 1, fleetOf(g)) })),
  };
}

/** The units the checker expects, with what it expects of each (the template: never active). */
export function expectedUnits(state: WorkloadState): ModelUnit[] {
  return [...state.units.values()].sort((a, b) => a.name.localeCompare(b.name));
}
