/**
 * The leader's drain driver (src/drain/drain-plan.ts with its I/O): for every machine whose cordon asks
 * for a drain, picks the units that move in this pass, and after the placement pass records what moved
 * where, what is waiting and what fits nowhere else in drains/<machine> (a guarded write, so a new leader
 * continues from it). A drain is done when nothing movable is left on the machine and every unit it moved
 * is healthy on its new machine, or once the deadline passed and nothing movable is left.
 */
import type { DrainWriter, LeaderGuard } from '../etcd/registry';
import type { Logger } from '../log';
import { planDrain, type DrainGroup, type DrainUnit } from '../drain/drain-plan';
import type { DrainProgress } from '../drain/types';
import type { ClusterModel } from './cluster-model';
import type { Decision, PlanResult } from './types';

/** One machine's pass. */
interface MachinePass {
  machine: string;
  progress: DrainProgress;
  evict: string[];
  force: boolean;
  waiting: { unit: string; reason: string }[];
}

/** What the placement pass needs from the drains. */
export interface DrainPass {
  /** Units to move off their draining machine now (Snapshot.evict). */
  evict: string[];
  machines: MachinePass[];
}

/** One per leader term. */
export class Drainer {
  constructor(private readonly registry: Partial<DrainWriter>, private readonly log: Logger) {}

  /** The evictions of every active drain at `now` (ms since the epoch). Pure over the model. */
  prepare(model: ClusterModel, now: number): DrainPass {
    const out: DrainPass = { evict: [], machines: [] };
    for (const [machine, cordon] of [...model.cordons].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const req = cordon.drain;
      if (!req) continue;
      let progress = model.drains.get(machine);
      if (progress && progress.id === req.id && progress.status === 'done') continue;
      if (!progress || progress.id !== req.id) {
        progress = { id: req.id, machine, status: 'draining', moved: [], stuck: [], waiting: [], message: 'started', updatedAt: now };
      }
      const force = now >= req.deadlineAt;
      const onMachine: DrainUnit[] = [];
      const groups = new Map<string, DrainGroup>();
      for (const unit of model.unitsOn(machine)) {
        const g = model.groupOf(unit);
        const key = g?.key ?? unit;
        onMachine.push({ name: unit, group: key, healthy: model.healthyWhereScheduled(unit) });
        if (g && !groups.has(key)) {
          groups.set(key, { count: g.count, parallel: g.parallel, healthy: g.members.filter((m) => model.healthyWhereScheduled(m)).length });
        }
      }
      const step = planDrain({ onMachine, groups, stuck: new Set(progress.stuck.map((s) => s.unit)), force });
      out.evict.push(...step.evict);
      out.machines.push({ machine, progress: structuredClone(progress), evict: step.evict, force, waiting: step.waiting });
    }
    return out;
  }

  /**
   * Records a placement pass: `result` is the plan with `pass.evict` less `stuck`, `applied` the decisions
   * written. Writes each changed progress record; false when etcd refused because this engine is no
   * longer leader. Throws what the registry throws (UnavailableError is retryable).
   */
  async record(model: ClusterModel, guard: LeaderGuard, pass: DrainPass, stuck: Map<string, string>, applied: Decision[], now: number): Promise<boolean> {
    for (const mp of pass.machines) {
      const p = mp.progress;
      const before = JSON.stringify({ ...p, updatedAt: 0 });
      for (const d of applied) {
        if (d.kind !== 'move' || d.from !== mp.machine || !mp.evict.includes(d.unit)) continue;
        p.moved = p.moved.filter((x) => x.unit !== d.unit);
        p.moved.push({ unit: d.unit, to: d.to, at: now, healthy: false, ...(mp.force ? { forced: true } : {}) });
        this.log.info('drain: moved', { machine: mp.machine, unit: d.unit, to: d.to, ...(mp.force ? { forced: true } : {}) });
      }
      for (const m of p.moved) {
        const where = model.schedule.get(m.unit);
        if (where !== undefined && where !== mp.machine) m.to = where;
        // a unit desired only loaded (a socket's service, one a WantedBy= starts) never turns active on its
        // own: loaded at its new machine is all there is to wait for (else every such drain ran to its deadline)
        const arrived = model.launched(m.unit) ? model.healthyWhereScheduled(m.unit) : model.loadedWhereScheduled(m.unit);
        if (!m.healthy && (model.unitHash(m.unit) === undefined || (where === m.to && arrived))) m.healthy = true;
      }
      const left = model.unitsOn(mp.machine);
      p.stuck = left.filter((u) => stuck.has(u) || (p.stuck.some((s) => s.unit === u) && !mp.evict.includes(u)))
        .map((u) => ({ unit: u, reason: stuck.get(u) ?? p.stuck.find((s) => s.unit === u)!.reason }));
      const stuckNames = new Set(p.stuck.map((s) => s.unit));
      p.waiting = left.filter((u) => !stuckNames.has(u) && !mp.evict.includes(u));
      const movable = left.filter((u) => !stuckNames.has(u));
      const unhealthy = p.moved.filter((m) => !m.healthy).map((m) => m.unit);
      p.deadlinePassed = mp.force || undefined;
      if (movable.length === 0 && (unhealthy.length === 0 || mp.force)) {
        p.status = 'done';
        p.message = `${p.moved.length} unit(s) moved` + (p.stuck.length ? `, ${p.stuck.length} left: no other machine can run them` : '') +
          (mp.force ? '; the deadline passed' + (unhealthy.length ? ` before ${unhealthy.join(', ')} became healthy` : '') : '');
      } else if (movable.length === 0) {
        p.message = `waiting for ${unhealthy.join(', ')} to be healthy on their new machine`;
      } else if (mp.waiting.length) {
        p.message = `waiting: ${mp.waiting[0].reason}` + (unhealthy.length ? `; moving: ${unhealthy.join(', ')}` : '');
      } else p.message = `moving ${movable.join(', ')}`;
      if (JSON.stringify({ ...p, updatedAt: 0 }) === before && model.drains.get(mp.machine)?.id === p.id) continue;
      p.updatedAt = now;
      if (!this.registry.putDrainProgress) continue;
      const res = await this.registry.putDrainProgress(guard, p);
      if (res === 'not-leader') return false;
      if (res === 'ok') {
        model.drains.set(mp.machine, p);
        if (p.status === 'done') this.log.info('drain done', { machine: mp.machine, id: p.id, message: p.message });
      }
    }
    return true;
  }
}

/** Evicted units the plan could not place anywhere else, with the planner's reason. */
export function stuckOf(pass: DrainPass, result: PlanResult): Map<string, string> {
  const from = new Map<string, string>();
  for (const mp of pass.machines) for (const u of mp.evict) from.set(u, mp.machine);
  const out = new Map<string, string>();
  for (const u of result.unplaceable) {
    const draining = from.get(u.unit);
    if (draining === undefined) continue;
    // the other machines' refusals say why (the draining machine's own is its cordon)
    const others = u.rejections.filter((r) => r.machine !== draining);
    const why = others.length ? others.map((r) => `${r.machine}: ${r.plugin}: ${r.reason}`).join('; ') : 'no other machine is live';
    out.set(u.unit, why);
  }
  return out;
}
