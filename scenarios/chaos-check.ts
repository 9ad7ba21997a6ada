/**
 * The chaos campaign's checker, pure: from observations (systemd in every node, the registry)
 * and the workload's model, the list of violated invariants, one line each:
 * - `unsettled`: the desired states were not reached on exactly the right machines within the
 *   deadline after the fault healed (checks.ts `evaluate`: every launched non-global unit on exactly
 *   one machine, globals once on each matching machine, no Conflicts= pair together, MachineOf=
 *   followers with their targets, schedule and reports agreeing with systemd);
 * - `lost`: the registry does not hold what was submitted (unit, text, desired state);
 * - `restarted`: a unit on a machine the fault did not touch, that no op changed, got a new
 *   MainPID or left that machine;
 * - `stale`: a unit runs an older version than the one submitted (a replace did not take);
 * - `doubled`/`conflict` during the fault: on machines that can still act, a unit ran twice or a
 *   Conflicts= pair shared a machine.
 */
import { evaluate, isActive, mainPids, type NodeView, type Observation } from './checks';
import { matchesGlob, UNIT_PREFIX } from './units';
import type { ModelUnit } from './chaos-workload';

/** The registry's content, as read back. */
export interface RegistryView {
  /** unit → text, for every `scn-*` unit stored. */
  texts: Map<string, string>;
  /** unit → desired state (missing: inactive). */
  desired: Map<string, string>;
}

/** What the after-the-fault check needs. */
export interface AfterFault {
  units: ModelUnit[];
  /** The last observation (settled or not). */
  obs: Observation;
  settled: boolean;
  /** ms from the heal to the last observation; used in the message when not settled. */
  waitedMs: number;
  registry: RegistryView;
  /** MainPIDs (`unit@node`) of the settled observation before this round. */
  pidsBefore: Map<string, number>;
  /** Nodes the fault touched: their units may restart or move. */
  touched: string[];
  /** Units changed by the workload this round: they may restart or move. */
  changed: Set<string>;
}

/** Every violated invariant after a fault healed, one line each (empty: none). */
export function checkAfterFault(a: AfterFault): string[] {
  const out: string[] = [];
  const v = evaluate(a.units, a.obs, UNIT_PREFIX);
  if (!a.settled || !v.settled) {
    for (const p of v.problems) out.push(`unsettled after ${(a.waitedMs / 1000).toFixed(1)} s: ${p}`);
    if (v.problems.length === 0) out.push(`unsettled after ${(a.waitedMs / 1000).toFixed(1)} s`);
  }
  out.push(...registryProblems(a.units, a.registry));
  out.push(...restartProblems(a.pidsBefore, mainPids(a.obs), a.touched, a.changed, a.units));
  out.push(...staleProblems(a.units, a.obs.nodes));
  return out;
}

/** The registry holds every submitted unit with its text and desired state, and nothing else of ours. */
export function registryProblems(units: ModelUnit[], reg: RegistryView): string[] {
  const out: string[] = [];
  const known = new Set(units.map((u) => u.name));
  for (const u of units) {
    const text = reg.texts.get(u.name);
    if (text === undefined) { out.push(`lost: ${u.name} submitted but not in the registry`); continue; }
    if (text !== u.text) out.push(`lost: ${u.name} in the registry with another text than submitted (v${u.version})`);
    const d = reg.desired.get(u.name) ?? 'inactive';
    if (d !== u.desired) out.push(`lost: ${u.name} desired ${u.desired} but the registry says ${d}`);
  }
  for (const name of reg.texts.keys()) if (!known.has(name)) out.push(`lost: ${name} destroyed but still in the registry`);
  return out;
}

/**
 * Units that ran on an untouched node before and now run there with another MainPID or not at
 * all. Keys are `unit@node` (checks.ts `mainPids`). Units changed by an op, or now expected
 * elsewhere than active (stopped, unloaded, destroyed), are left out.
 */
export function restartProblems(
  before: Map<string, number>, after: Map<string, number>, touched: string[], changed: Set<string>, units: ModelUnit[],
): string[] {
  const launched = new Set(units.filter((u) => u.desired === 'launched').map((u) => u.name));
  const out: string[] = [];
  for (const [key, pid] of before) {
    const at = key.lastIndexOf('@');
    const unit = key.slice(0, at);
    const node = key.slice(at + 1);
    if (touched.includes(node) || changed.has(unit) || !launched.has(unit)) continue;
    const now = after.get(key);
    if (now !== pid) out.push(`restarted: ${unit} on untouched ${node}: MainPID ${pid} -> ${now ?? 'gone from it'}`);
  }
  return out;
}

/** Active units whose Description names another version than the last one submitted. */
export function staleProblems(units: ModelUnit[], nodes: NodeView[]): string[] {
  const out: string[] = [];
  for (const u of units) {
    const want = versionOf(u.text);
    for (const n of nodes) {
      const s = n.units.get(u.name);
      if (!isActive(s) || s!.description === undefined || s!.description === '') continue;
      const got = versionOf(`Description=${s!.description}`);
      if (got !== want) out.push(`stale: ${u.name} on ${n.node} runs v${got}, v${want} was submitted`);
    }
  }
  return out;
}

function versionOf(text: string): number | null {
  const m = /^Description=shoal chaos .* v(\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * While a fault lasts, on the nodes that can still act (`nodes`, the cut-off, frozen, paused and
 * dead ones left out): no non-global unit active on two of them, no Conflicts= pair on one.
 */
export function duringFaultProblems(units: ModelUnit[], nodes: NodeView[]): string[] {
  const out: string[] = [];
  const byName = new Map(units.map((u) => [u.name, u]));
  const hosts = new Map<string, string[]>();
  for (const n of nodes) {
    for (const [name, s] of n.units) {
      if (!name.startsWith(UNIT_PREFIX) || !isActive(s) || byName.get(name)?.global) continue;
      hosts.set(name, [...(hosts.get(name) ?? []), n.node]);
    }
  }
  for (const [name, h] of hosts) if (h.length > 1) out.push(`doubled during the fault: ${name} active on ${h.join(',')}`);
  for (const n of nodes) {
    const here = [...hosts].filter(([, h]) => h.includes(n.node)).map(([name]) => name);
    for (const name of here) {
      const glob = byName.get(name)?.conflicts;
      if (!glob) continue;
      const clash = here.filter((o) => o !== name && o > name && matchesGlob(glob, o));
      for (const o of clash) out.push(`conflict during the fault: ${name} and ${o} both on ${n.node}`);
    }
  }
  return out;
}
