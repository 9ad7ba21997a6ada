/**
 * What "recovered" means, as a pure function of one observation of the cluster: every unit in its
 * desired state on exactly the machines it belongs on, as systemd in the nodes (the truth) AND the
 * registry (schedule, reported states) say. Lost and doubled units are counted for the table.
 */
import { matchesGlob, type ScenarioUnit } from './units';

/** A unit as `systemctl show` reports it inside one node. */
export interface SystemdUnitState {
  load: string;
  active: string;
  sub: string;
  mainPid: number;
  /** The unit's Description= (the chaos workload puts the unit's version in it). */
  description?: string;
}

/** One node as observed: its machine id and systemd's view of the scenario units. */
export interface NodeView {
  node: string;
  machineId: string;
  units: Map<string, SystemdUnitState>;
}

/** Everything read at (about) one moment. */
export interface Observation {
  /** The nodes that count (up and reachable); nodes left out are neither checked nor trusted. */
  nodes: NodeView[];
  /** unit → machine id, from the registry. */
  schedule: Map<string, string>;
  /** Machine ids with a live record in the registry. */
  machines: Set<string>;
  /** unit → machine id → activeState reported by that machine's agent. */
  reported: Map<string, Map<string, string>>;
}

/** The outcome of checking one observation. */
export interface Verdict {
  settled: boolean;
  problems: string[];
  /** Units not in their desired state anywhere they should be (per unit, not per machine). */
  lost: string[];
  /** Non-global units active (or loaded) on more than one node. */
  doubled: string[];
}

/** Active, or on its way (activating, reloading). */
export const isActive = (s?: SystemdUnitState) => s?.active === 'active' || s?.active === 'activating' || s?.active === 'reloading';
const isLoaded = (s?: SystemdUnitState) => s !== undefined && s.load === 'loaded';

/** Checks `obs` against the units the scenario expects; `extraPrefix` units not in `units` must not run. */
export function evaluate(units: ScenarioUnit[], obs: Observation, extraPrefix?: string): Verdict {
  const v: Verdict = { settled: true, problems: [], lost: [], doubled: [] };
  const problem = (msg: string) => { v.problems.push(msg); v.settled = false; };
  for (const n of obs.nodes) {
    if (!obs.machines.has(n.machineId)) problem(`${n.node}: machine ${short(n.machineId)} not registered`);
  }
  const where = new Map<string, string>();
  for (const u of units) {
    const placed = checkUnit(u, obs, problem, v);
    if (placed) where.set(u.name, placed);
  }
  checkTogether(units, where, problem);
  checkConflicts(units, obs, problem);
  if (extraPrefix) {
    const known = new Set(units.map((u) => u.name));
    for (const n of obs.nodes) {
      for (const [name, s] of n.units) {
        if (name.startsWith(extraPrefix) && !known.has(name) && isActive(s)) problem(`${name}: unexpected, active on ${n.node}`);
      }
    }
  }
  return v;
}

/** Checks one unit; returns the node it runs on (non-global, settled) or undefined. */
function checkUnit(u: ScenarioUnit, obs: Observation, problem: (m: string) => void, v: Verdict): string | undefined {
  const active = obs.nodes.filter((n) => isActive(n.units.get(u.name)));
  if (u.desired === 'inactive') {
    for (const n of active) problem(`${u.name}: desired inactive but active on ${n.node}`);
    return undefined;
  }
  if (u.global) {
    // a global limited by MachineMetadata runs on its matching nodes only
    const targets = u.onlyNodes ? obs.nodes.filter((n) => u.onlyNodes!.includes(n.node)) : obs.nodes;
    for (const n of active) if (!targets.includes(n)) problem(`${u.name}: global for ${u.onlyNodes!.join(',')}, but active on ${n.node}`);
    const missing = targets.filter((n) => !active.includes(n));
    if (u.desired === 'launched' && missing.length) {
      problem(`${u.name}: global, not active on ${missing.map((n) => n.node).join(',')}`);
      if (active.length === 0) v.lost.push(u.name);
    }
    for (const n of active) checkReported(u.name, n, 'active', obs, problem);
    return undefined;
  }
  const holders = u.desired === 'launched' ? active : obs.nodes.filter((n) => isLoaded(n.units.get(u.name)));
  if (u.desired === 'loaded') for (const n of active) problem(`${u.name}: desired loaded but active on ${n.node}`);
  if (holders.length === 0) {
    v.lost.push(u.name);
    problem(`${u.name}: not ${u.desired} on any node`);
    return undefined;
  }
  if (holders.length > 1) {
    v.doubled.push(u.name);
    problem(`${u.name}: ${u.desired} on ${holders.length} nodes (${holders.map((n) => n.node).join(',')})`);
    return undefined;
  }
  const n = holders[0];
  const sched = obs.schedule.get(u.name);
  if (sched !== n.machineId) problem(`${u.name}: runs on ${n.node} but scheduled on ${sched ? short(sched) : 'nothing'}`);
  if (u.desired === 'launched') checkReported(u.name, n, 'active', obs, problem);
  return n.node;
}

function checkReported(unit: string, n: NodeView, want: string, obs: Observation, problem: (m: string) => void): void {
  const got = obs.reported.get(unit)?.get(n.machineId);
  if (got !== want) problem(`${unit}: systemd on ${n.node} says ${want}, its agent reported ${got ?? 'nothing'}`);
}

function checkTogether(units: ScenarioUnit[], where: Map<string, string>, problem: (m: string) => void): void {
  for (const u of units) {
    if (!u.machineOf) continue;
    const a = where.get(u.name);
    const b = where.get(u.machineOf);
    if (a && b && a !== b) problem(`${u.name}: MachineOf=${u.machineOf} but they run on ${a} and ${b}`);
  }
}

function checkConflicts(units: ScenarioUnit[], obs: Observation, problem: (m: string) => void): void {
  for (const n of obs.nodes) {
    const here = units.filter((u) => !u.global && isActive(n.units.get(u.name)));
    for (const u of here) {
      if (!u.conflicts) continue;
      const clash = here.filter((o) => o !== u && matchesGlob(u.conflicts!, o.name));
      if (clash.length) problem(`${u.name}: conflicts with ${clash.map((o) => o.name).join(',')} on ${n.node}`);
    }
  }
}

/** The MainPID of every active non-global unit, keyed `unit@node` (to prove nothing restarted). */
export function mainPids(obs: Observation): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of obs.nodes) {
    for (const [name, s] of n.units) if (isActive(s) && s.mainPid > 0) out.set(`${name}@${n.node}`, s.mainPid);
  }
  return out;
}

/** Differences between two pid maps (a restarted, stopped or new process), empty when identical. */
export function pidChanges(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, pid] of before) {
    const now = after.get(k);
    if (now !== pid) out.push(`${k}: MainPID ${pid} -> ${now ?? 'gone'}`);
  }
  for (const k of after.keys()) if (!before.has(k)) out.push(`${k}: new (MainPID ${after.get(k)})`);
  return out;
}

/** Differences between two schedules, empty when identical. */
export function scheduleChanges(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [u, m] of before) if (after.get(u) !== m) out.push(`${u}: ${short(m)} -> ${after.has(u) ? short(after.get(u)!) : 'unscheduled'}`);
  for (const [u, m] of after) if (!before.has(u)) out.push(`${u}: newly scheduled on ${short(m)}`);
  return out;
}

/** The first 8 characters of a machine id, as users see it. */
export function short(id: string): string {
  return id.slice(0, 8);
}
