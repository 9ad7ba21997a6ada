/**
 * `explain`: why a unit is, or is not, placed where it is. Reads the cluster at one revision and runs
 * the scheduler core's `explain` on it (pure, no writes): the machine, a summary, and per machine every
 * filter's verdict and the score breakdown.
 */
import { parseUnit, parseUnitName } from '../units';
import type { MachineSpec } from '../constraints/types';
import { explain, globalPlacement } from '../engine/plan-explain';
import type { PlacementStrategy } from '../units/types';
import type { Snapshot, SnapshotUnit } from '../engine/types';
import type { ClusterState } from '../etcd/registry';
import type { ApiRegistry } from './api-registry';
import type { ExplainMsg, MachineVerdictMsg } from './messages';
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

function summaryOf(status: string, machine: string, reason: string | undefined, desired: string): string {
  switch (status) {
    case 'template': return 'a template is never scheduled; start an instance of it';
    case 'inactive': return 'desired state is inactive: not scheduled (shoalctl load or start places it)';
    case 'unplaceable': return `not placed: ${reason ?? 'no machine fits'}`;
    case 'placed': return reason ? `on ${machine}: ${reason}` : `placed on ${machine}, which still passes every filter`;
    default: return `${status} (desired ${desired})`;
  }
}

/**
 * Explains the placement of `name` under the cluster's placement strategy (`strategy`: the engine's
 * configured default; least-loaded when unset); NotFoundError when the unit does not exist.
 */
export async function explainUnit(reg: ApiRegistry, name: string, strategy?: PlacementStrategy): Promise<ExplainMsg> {
  parseUnitName(name);
  const cluster = await reg.readCluster();
  const snap = { ...snapshotOf(cluster), strategy };
  const unit = snap.units.find((u) => u.spec.name === name);
  const out: ExplainMsg = { unit: name, machine: '', summary: '', rejections: [], machines: [], status: 'unknown', strategy: '', details: [] };
  if (!unit) {
    if (cluster.units.has(name)) return { ...out, summary: 'the stored unit file does not parse: it is never scheduled' };
    throw new NotFoundError('unit.not-found', `unit ${name} not found (shoalctl list-unit-files shows what exists)`);
  }
  const ex = explain(snap, name);
  const details: MachineVerdictMsg[] = ex.machines.map((m) => ({
    machine: m.machine, passes: m.passes, chosen: m.chosen, total: m.total ?? 0,
    filters: m.filters.map((f) => ({ plugin: f.plugin, ok: f.ok, reason: f.reason ?? '' })),
    scores: m.scores ?? [],
  }));
  const rejections = ex.machines.filter((m) => !m.passes).map((m) => {
    const f = m.filters.find((x) => !x.ok)!;
    return { machine: m.machine, plugin: f.plugin, reason: f.reason ?? '' };
  }).sort((a, b) => (a.machine < b.machine ? -1 : 1));
  const base = { ...out, status: ex.status, strategy: ex.strategy ?? '', details, machine: ex.machine ?? '', rejections };
  if (ex.status === 'global') {
    // The same model the engine reserves with and the agent starts from (conflicts included).
    const g = globalPlacement(snap, name);
    const where = g.runs.length ? `: ${g.runs.join(', ')}` : '';
    const off = g.keptOff.length ? `; kept off ${g.keptOff.map((k) => `${k.machine} (${k.reason})`).join(', ')}` : '';
    return { ...base, machines: g.runs, summary: `global unit (desired ${unit.desired}): ${unit.desired === 'inactive' ? 'would run' : 'runs'} on ${g.runs.length} of ${snap.machines.length} live machine(s)${where}${off}` };
  }
  return { ...base, summary: summaryOf(ex.status, ex.machine ?? '', ex.reason, unit.desired) };
}
