/**
 * The leader's groups-and-deployments pass (src/deploy/groups.ts) with its I/O: looks up the previous
 * version of replaced single units (history/, cached per unit and hash), writes the pass's changes in
 * guarded transactions and records them in the model, so the placement pass that follows sees them.
 */
import type { EngineRegistry, LeaderGuard } from '../etcd/registry';
import type { Logger } from '../log';
import { planGroups } from '../deploy/groups';
import type { ClusterModel } from './cluster-model';

/** Most history reads in one pass (each is one etcd get with a deadline). */
const HISTORY_READS_PER_PASS = 32;

/** What a deploy pass did. */
export interface DeployPassResult {
  /** False when etcd refused a write because this engine is no longer leader. */
  leader: boolean;
  /** True while a deployment is not finished: run again soon (deadlines are timers). */
  active: boolean;
  written: number;
}

/** One per leader term (its cache is about the model of that term). */
export class Deployer {
  private readonly previous = new Map<string, { forHash: string; prev: { hash: string; text: string } | null }>();

  constructor(private readonly registry: EngineRegistry, private readonly log: Logger) {}

  /** One pass at `now` (ms since the epoch). Throws what the registry throws (UnavailableError is retryable). */
  async pass(model: ClusterModel, guard: LeaderGuard, now: number): Promise<DeployPassResult> {
    const reg = this.registry;
    if (!reg.applyUnitChanges) return { leader: true, active: false, written: 0 };
    let input = model.groupsInput(now, this.previousMap(model));
    let out = planGroups(input);
    if (out.needPrevious.length && reg.getHistory) {
      for (const name of out.needPrevious.slice(0, HISTORY_READS_PER_PASS)) {
        const hash = model.unitHash(name)!;
        const versions = await reg.getHistory(name);
        const at = versions.findIndex((v) => v.hash === hash);
        const prev = at > 0 ? versions[at - 1] : at === 0 ? null : versions.filter((v) => v.hash !== hash).at(-1) ?? null;
        this.previous.set(name, { forHash: hash, prev: prev ? { hash: prev.hash, text: prev.text } : null });
      }
      input = model.groupsInput(now, this.previousMap(model));
      out = planGroups(input);
    }
    // forget only the retargets this plan saw: one that arrives while we write is for the next pass
    const done = () => { for (const tpl of input.retarget) model.retarget.delete(tpl); };
    if (out.changes.length === 0) { done(); return { leader: true, active: out.active, written: 0 }; }
    const res = await reg.applyUnitChanges(guard, out.changes);
    if (res.applied === out.changes.length) done();
    for (const c of out.changes.slice(0, res.applied)) {
      model.applyChange(c);
      if (c.kind === 'put-deployment') {
        const d = c.deployment;
        this.log.info('deployment', { unit: d.unit, id: d.id, status: d.status, step: `${d.step}/${d.steps}`, healthy: `${d.healthy}/${d.total}`, message: d.message });
      } else this.log.debug('group write', { kind: c.kind, unit: c.kind === 'put-unit' ? c.record.name : c.kind === 'put-job' ? c.job.unit : c.unit });
    }
    return { leader: !res.notLeader, active: out.active, written: res.applied };
  }

  private previousMap(model: ClusterModel): Map<string, { hash: string; text: string } | null> {
    const m = new Map<string, { hash: string; text: string } | null>();
    for (const [name, e] of this.previous) {
      if (model.unitHash(name) === e.forHash) m.set(name, e.prev);
      else this.previous.delete(name); // replaced or gone: look again when needed
    }
    return m;
  }
}
