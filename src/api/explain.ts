/**
 * `explain`: why a unit is, or is not, placed where it is. Reads the cluster at one revision, runs the
 * scheduler core on it (pure, no writes) and reports what it decides for this unit and why.
 */
import { parseUnit, parseUnitName } from '../units';
import { metadataMismatch } from '../constraints/filters';
import type { MachineSpec } from '../constraints/types';
import { runPlan } from '../engine/plan';
import type { Snapshot, SnapshotUnit } from '../engine/types';
import type { ClusterState } from '../etcd/registry';
import type { ApiRegistry } from './api-registry';
import type { ExplainMsg } from './messages';
import { NotFoundError } from './grpc-errors';

/** The engine's input, built from one consistent read (units that do not parse are left out, as the engine does). */
export function snapshotOf(c: ClusterState): Snapshot {
  const units: SnapshotUnit[] = [];
  for (const u of c.units.values()) {
    try {
      units.push({ spec: parseUnit(u.name, u.text), desired: c.desired.get(u.name) ?? 'inactive' });
    } catch { /* an unparseable stored unit is never scheduled */ }
  }
  const machines: MachineSpec[] = [...c.machines.values()].map((m) => ({
    id: m.id, address: m.address, capacity: m.capacity,
    metadata: { ...m.metadata, ...Object.fromEntries(c.metadata.get(m.id) ?? []) },
  }));
  return { units, machines, schedule: Object.fromEntries(c.schedule) };
}

/** Explains the placement of `name`; NotFoundError when the unit does not exist. */
export async function explainUnit(reg: ApiRegistry, name: string): Promise<ExplainMsg> {
  const n = parseUnitName(name);
  const cluster = await reg.readCluster();
  const snap = snapshotOf(cluster);
  const unit = snap.units.find((u) => u.spec.name === name);
  if (!unit) {
    if (cluster.units.has(name)) return { unit: name, machine: '', summary: 'the stored unit file does not parse: it is never scheduled', rejections: [], machines: [] };
    throw new NotFoundError('unit.not-found', `unit ${name} not found (shoalctl list-unit-files shows what exists)`);
  }
  const out: ExplainMsg = { unit: name, machine: '', summary: '', rejections: [], machines: [] };
  if (n.isTemplate) return { ...out, summary: 'a template is never scheduled; start an instance of it' };
  if (unit.spec.options.global) {
    const want = unit.spec.options.machineMetadata;
    const fit = snap.machines.filter((m) => metadataMismatch(want, m.metadata) === null).map((m) => m.id).sort();
    const rej = snap.machines.filter((m) => !fit.includes(m.id)).map((m) => ({ machine: m.id, plugin: 'metadata', reason: metadataMismatch(want, m.metadata)! }));
    return { ...out, machines: fit, rejections: rej, summary: `global unit (desired ${unit.desired}): runs on ${fit.length} of ${snap.machines.length} live machine(s) whose metadata matches` };
  }
  if (unit.desired === 'inactive') return { ...out, summary: 'desired state is inactive: not scheduled (shoalctl load or start places it)' };
  const { state, result } = runPlan(snap);
  const decision = result.decisions.find((d) => d.unit === name);
  const failed = result.unplaceable.find((u) => u.unit === name);
  const machine = state.placementOf(name) ?? '';
  if (failed) return { ...out, summary: `not placed: ${failed.reason ?? 'no machine fits'}`, rejections: failed.rejections };
  if (decision?.kind === 'place') return { ...out, machine, summary: `will be placed on ${decision.machine}: ${decision.reason}` };
  if (decision?.kind === 'move') return { ...out, machine, summary: `will move from ${decision.from} to ${decision.to}: ${decision.reason}` };
  if (decision?.kind === 'unschedule') return { ...out, summary: `will be unscheduled from ${decision.from}: ${decision.reason}` };
  return { ...out, machine, summary: machine ? `placed on ${machine}, which still passes every filter` : 'not placed' };
}
