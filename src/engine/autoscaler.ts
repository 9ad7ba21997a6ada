/**
 * The leader's autoscaling driver: every `intervalMs` it evaluates each autoscaled group from the
 * watch-fed model (load reports and placements) with the pure decide(), and writes a changed count to
 * groups/<template> — the key `shoalctl scale` writes — together with the decision record
 * (autoscale/<template>), in one transaction guarded on the leader key. The group pass that follows
 * creates or deletes the instances. Recommendations live in memory for the term; a new leader starts each
 * group's history with its current count, so it scales down only after a whole window of its own.
 */
import type { EngineRegistry, LeaderGuard, UnitChange } from '../etcd/registry';
import type { Logger } from '../log';
import { decide, targetsOf, type Recommendation } from '../autoscale/decide';
import { observe } from '../autoscale/observe';
import { DECISIONS_KEPT, type ScaleDecision } from '../autoscale/types';
import type { ClusterModel } from './cluster-model';
import { emitEvent } from '../events/emit';

/** Default evaluation interval (ms). */
export const AUTOSCALE_INTERVAL_MS = 5000;

/** One per leader term. */
export class Autoscaler {
  private readonly history = new Map<string, Recommendation[]>();
  private last = -Infinity;

  constructor(private readonly registry: EngineRegistry, private readonly log: Logger, private readonly intervalMs = AUTOSCALE_INTERVAL_MS) {}

  /** ms until the next evaluation is due (0: now). */
  dueIn(now: number): number {
    return Math.max(0, this.last + this.intervalMs - now);
  }

  /** Evaluates every group if due; false when etcd refused the write because this engine is no longer leader. */
  async pass(model: ClusterModel, guard: LeaderGuard, now: number): Promise<boolean> {
    if (this.dueIn(now) > 0 || !this.registry.applyUnitChanges) return true;
    this.last = now;
    const changes: UnitChange[] = [];
    const seen = new Set<string>();
    for (const g of model.autoscaleInput()) {
      seen.add(g.template);
      if (!g.launched) { this.history.delete(g.template); continue; }
      const { observed, reporting } = observe(g);
      const history = this.history.get(g.template) ?? [{ at: now, count: g.current }];
      const d = decide({ current: g.current, options: g.options, observed, reporting, now, history });
      this.history.set(g.template, d.history);
      this.log.debug('autoscale evaluation', { group: g.template, current: g.current, desired: d.desired, raw: d.raw, reporting, reason: d.reason });
      if (d.desired === g.current) continue;
      const decision: ScaleDecision = {
        at: now, from: g.current, to: d.desired, reporting, observed: rounded(observed), target: targetsOf(g.options), raw: d.raw, reason: d.reason,
      };
      const kept = model.autoscale.get(g.template)?.decisions ?? [];
      changes.push({ kind: 'put-scale', unit: g.template, count: d.desired, record: { template: g.template, decisions: [...kept, decision].slice(-DECISIONS_KEPT) } });
      this.log.info('autoscale', { group: g.template, from: g.current, to: d.desired, reporting, reason: d.reason });
    }
    for (const t of this.history.keys()) if (!seen.has(t)) this.history.delete(t);
    if (changes.length === 0) return true;
    const res = await this.registry.applyUnitChanges(guard, changes);
    for (const c of changes.slice(0, res.applied)) {
      model.applyChange(c);
      if (c.kind !== 'put-scale') continue;
      const d = c.record.decisions[c.record.decisions.length - 1];
      const obs = Object.entries(d.observed).map(([k, v]) => `${k}=${v}%`).join(' ');
      emitEvent({
        kind: 'autoscale.decision', unit: c.unit, actor: engineId(guard.holder), time: d.at,
        message: `scaled ${d.from} -> ${d.to}: ${d.reason}`,
        fields: { from: String(d.from), to: String(d.to), reporting: String(d.reporting), observed: obs, raw: String(d.raw) },
      });
    }
    return !res.notLeader;
  }
}

function rounded(o: Partial<Record<string, number>>): Partial<Record<'cpu' | 'memory', number>> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = Math.round(v * 10) / 10;
  return out;
}

/** The engine id inside a leader key's value ({id, pid, since}); the raw value when it is not that JSON. */
function engineId(holder: string): string {
  try { return String((JSON.parse(holder) as { id?: unknown }).id ?? holder); } catch { return holder; }
}
