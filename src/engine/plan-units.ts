/** Compiles a snapshot's units for the planner: conflicts, effective Replaces, MachineOf groups. Pure. */
import { matchAll, resolveConflicts } from '../constraints/conflict-index';
import type { SchedUnit } from '../constraints/view';
import type { PlacementStrategy } from '../units/types';
import type { SnapshotUnit } from './types';

const EMPTY: ReadonlySet<string> = new Set();

/** True for a template name such as `web@.service` (an `@` right before the type suffix). */
export function isTemplateName(name: string): boolean {
  return name.includes('@.');
}

/** `web` for `web@3.service` and `web.service`. */
export function unitPrefix(name: string): string {
  const at = name.indexOf('@');
  if (at >= 0) return name.slice(0, at);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/** Every snapshot unit compiled (first occurrence wins on duplicate names), keyed by name. */
export function compileUnits(units: readonly SnapshotUnit[], strategy: PlacementStrategy): Map<string, SchedUnit> {
  const out = new Map<string, SchedUnit>();
  for (const { spec, desired } of units) {
    if (out.has(spec.name)) continue;
    const template = isTemplateName(spec.name);
    out.set(spec.name, {
      name: spec.name, spec, desired, template,
      prefix: unitPrefix(spec.name),
      global: spec.options.global,
      cpu: spec.resources.cpuMillis, mem: spec.resources.memoryBytes, disk: spec.resources.diskBytes ?? 0,
      conflictUnits: EMPTY, conflictGlobals: [], replaces: EMPTY, replacedBy: [],
      machineOf: spec.options.machineOf, group: [spec.name],
      strategy: spec.strategy ?? strategy,
    });
  }
  const active = [...out.values()].filter(isActive);
  linkConflicts(active, out);
  const placeable = active.filter((u) => !u.global);
  linkReplaces(placeable);
  markBlocked(placeable, out);
  linkGroups(placeable.filter((u) => !u.blocked), out);
  return out;
}

/** Runs somewhere: wanted loaded/launched and not a template. */
export function isActive(u: SchedUnit): boolean {
  return u.desired !== 'inactive' && !u.template;
}

function linkConflicts(active: SchedUnit[], all: Map<string, SchedUnit>): void {
  const sets = resolveConflicts(active.map((u) => ({ name: u.name, patterns: u.spec.options.conflicts })));
  for (const [name, others] of sets) {
    const u = all.get(name)!;
    const units = new Set<string>();
    const globals: string[] = [];
    for (const o of others) (all.get(o)!.global ? globals.push(o) : units.add(o));
    u.conflictUnits = units;
    u.conflictGlobals = globals.sort();
  }
}

// Replaces= items are globs (fleet matched them with path.Match, like Conflicts=), resolved to names here.
// Replaces cycles (a replaces b, b replaces a; or longer): of each cycle only the first name runs, the
// others are blocked, so exactly one is launched whatever the machine count (fleet's functional test).
function linkReplaces(placeable: SchedUnit[]): void {
  const byName = new Map(placeable.map((u) => [u.name, u]));
  const sorted = [...byName.keys()].sort();
  const known = new Set(sorted);
  const edges = new Map<string, string[]>();
  const byPattern = new Map<string, readonly string[]>(); // each distinct pattern resolved once
  for (const x of placeable) {
    const to = new Set<string>();
    for (const p of x.spec.options.replaces) {
      let hits = byPattern.get(p);
      if (!hits) byPattern.set(p, (hits = matchAll(p, sorted, known)));
      for (const y of hits) if (y !== x.name) to.add(y);
    }
    if (to.size) edges.set(x.name, [...to].sort());
  }
  if (edges.size === 0) return;
  for (const cycle of cycles(edges)) {
    const [first, ...rest] = cycle;
    for (const n of rest) byName.get(n)!.blocked = `Replaces cycle ${cycle.join(' ↔ ')}: only ${first} runs (the first by name)`;
  }
  const by = new Map<string, string[]>();
  for (const [x, ys] of edges) {
    const ux = byName.get(x)!;
    if (ux.blocked) continue;
    const eff = new Set(ys.filter((y) => !byName.get(y)!.blocked));
    for (const y of eff) by.set(y, [...(by.get(y) ?? []), x]);
    if (eff.size) ux.replaces = eff;
  }
  for (const [y, xs] of by) byName.get(y)!.replacedBy = xs.sort();
}

/** Strongly connected components with more than one unit (Tarjan), each sorted by name. */
function cycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do { w = stack.pop()!; on.delete(w); scc.push(w); } while (w !== v);
    if (scc.length > 1) out.push(scc.sort());
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

// A unit whose MachineOf target is unknown, inactive, a template, or itself blocked can never be placed.
// Direct reasons first, then propagate to a fixpoint (safe with MachineOf cycles).
function markBlocked(placeable: SchedUnit[], all: Map<string, SchedUnit>): void {
  for (const u of placeable) {
    if (u.blocked) continue;
    for (const t of u.machineOf) {
      const target = all.get(t);
      if (!target) u.blocked = `MachineOf target ${t} is not a known unit`;
      else if (target.template) u.blocked = `MachineOf target ${t} is a template`;
      else if (target.desired === 'inactive') u.blocked = `MachineOf target ${t} is inactive`;
      if (u.blocked) break;
    }
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const u of placeable) {
      if (u.blocked) continue;
      for (const t of u.machineOf) {
        const target = all.get(t)!;
        if (target.blocked) {
          u.blocked = `MachineOf target ${t} cannot be placed (${target.blocked})`;
          changed = true;
          break;
        }
      }
    }
  }
}

// Units tied by MachineOf (either direction, transitively) form one group placed on one machine.
function linkGroups(placeable: SchedUnit[], all: Map<string, SchedUnit>): void {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const u of placeable) parent.set(u.name, u.name);
  for (const u of placeable) {
    for (const t of u.machineOf) {
      if (!parent.has(t)) continue; // global targets are checked by the machine-of filter instead
      const a = find(u.name);
      const b = find(t);
      if (a !== b) parent.set(a < b ? b : a, a < b ? a : b);
    }
  }
  const groups = new Map<string, string[]>();
  for (const u of placeable) {
    const r = find(u.name);
    const g = groups.get(r) ?? [];
    g.push(u.name);
    groups.set(r, g);
  }
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    g.sort();
    for (const n of g) all.get(n)!.group = g;
  }
}
