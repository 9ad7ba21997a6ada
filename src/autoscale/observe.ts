/** What the autoscaler observes of a group: the average use of its reporting instances. Pure. */
import type { UnitUsage } from '../etcd/registry';
import type { ScaleOptions } from '../units/scale-options';
import type { ScaleMetric } from './types';

/** A group as the leader's model sees it. */
export interface AutoscaledGroup {
  template: string;
  options: ScaleOptions;
  /** The count now (groups/<template>, else Instances=, else ScaleMin=). */
  current: number;
  /** The template's desired state is `launched` (a group that is not running is never scaled). */
  launched: boolean;
  /** Instances 1..current and the use their machine last reported (undefined: none). */
  instances: { name: string; usage?: UnitUsage }[];
}

/** Average use per metric in % of the per-instance base, over the instances that reported one. */
export function observe(g: AutoscaledGroup): { observed: Partial<Record<ScaleMetric, number>>; reporting: number } {
  const used = g.instances.map((i) => i.usage).filter((u): u is UnitUsage => u !== undefined);
  const observed: Partial<Record<ScaleMetric, number>> = {};
  if (used.length === 0) return { observed, reporting: 0 };
  if (g.options.cpuPercent !== undefined) {
    observed.cpu = (used.reduce((a, u) => a + u.cpuMillis, 0) / used.length / g.options.cpuBaseMillis) * 100;
  }
  const mem = used.filter((u) => u.memoryBytes !== undefined);
  if (g.options.memoryPercent !== undefined && mem.length > 0 && g.options.memoryBaseBytes > 0) {
    observed.memory = (mem.reduce((a, u) => a + u.memoryBytes!, 0) / mem.length / g.options.memoryBaseBytes) * 100;
  }
  return { observed, reporting: used.length };
}
