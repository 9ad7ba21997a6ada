/**
 * issue 9, faults 1–3 on the testbed: an etcd outage with a node cut off during it moves nothing;
 * `systemctl stop shoald` for good leaves no copy behind; a stop on a cut-off node ends within seconds.
 */
import { mainPids, pidChanges, scheduleChanges } from './checks';
import { ScenarioFailure } from './cluster';
import { finalCheck } from './scenarios-node';
import { busiestNode, unitsOn, without, type Scenario, type ScenarioContext } from './scenario';

const SLACK_MS = 20_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `systemctl <verb> shoald` on `node`; resolves with the time it took (ms). Throws when it fails. */
async function shoald(ctx: ScenarioContext, node: string, verb: 'stop' | 'start'): Promise<number> {
  const t0 = Date.now();
  const r = await ctx.platform.exec(node, ['systemctl', verb, 'shoald.service']);
  if (r.code !== 0) throw new ScenarioFailure(`${node}: systemctl ${verb} shoald exited ${r.code}: ${r.stderr}`);
  return Date.now() - t0;
}

/** None of `names` is active on `node`. */
async function noneActiveOn(ctx: ScenarioContext, node: string, names: string[], what: string): Promise<void> {
  const view = await ctx.cluster.systemdView(node, names);
  const still = names.filter((u) => view.get(u)?.active === 'active');
  if (still.length) throw new ScenarioFailure(`${what}: ${node} still runs ${still.join(' ')}`);
}

const etcdPauseCut: Scenario = {
  name: 'etcd-pause-cut',
  title: 'etcd paused past every lease, a node cut meanwhile, etcd back, node healed: nothing moves or restarts',
  async run(ctx) {
    const { cluster, platform, units } = ctx;
    const victim = busiestNode(ctx.base.obs, units);
    const before = mainPids(ctx.base.obs);
    const sched = ctx.base.obs.schedule;
    await platform.pauseEtcd();
    await sleep(ctx.ttlMs + 4000); // every lease (machines and leader) is past its TTL when etcd resumes
    await platform.cutNode(victim);
    await sleep(2000);
    await platform.resumeEtcd();
    await sleep(2000);
    const t0 = Date.now();
    await platform.healNode(victim);
    const s = await cluster.expectSettled('after the outage', units, platform.nodes, SLACK_MS, t0);
    const moved = scheduleChanges(sched, s.obs.schedule);
    if (moved.length) throw new ScenarioFailure(`units moved after an etcd outage: ${moved.join('; ')}`, s.verdict);
    const restarted = pidChanges(before, mainPids(s.obs));
    if (restarted.length) throw new ScenarioFailure(`units restarted: ${restarted.join('; ')}`, s.verdict);
    ctx.note(`etcd paused ${ctx.ttlMs / 1000 + 6} s with ${victim} cut for 4 s of it: no unit moved, every MainPID kept`);
    return { recoveryMs: s.ms, verdict: s.verdict };
  },
};

const shoaldStop: Scenario = {
  name: 'shoald-stop',
  title: '`systemctl stop shoald` on a node that stays up: its units move, none is left running there',
  async run(ctx) {
    const { cluster, platform, units } = ctx;
    const victim = busiestNode(ctx.base.obs, units);
    const moved = unitsOn(ctx.base.obs, units, victim);
    const t0 = Date.now();
    const took = await shoald(ctx, victim, 'stop');
    const s = await cluster.expectSettled(`after stopping shoald on ${victim}`, units, without(platform.nodes, victim), SLACK_MS, t0);
    await noneActiveOn(ctx, victim, moved, 'after the stop');
    ctx.note(`systemctl stop shoald took ${took} ms; ${moved.length} units run once, elsewhere, ${s.ms} ms after the stop`);
    await shoald(ctx, victim, 'start');
    return { recoveryMs: s.ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

const shoaldStopCut: Scenario = {
  name: 'shoald-stop-cut',
  title: '`systemctl stop shoald` on a node cut off from etcd: done within seconds, its units stopped there',
  async run(ctx) {
    const { cluster, platform, units } = ctx;
    const victim = busiestNode(ctx.base.obs, units);
    const moved = unitsOn(ctx.base.obs, units, victim);
    const t0 = Date.now();
    await platform.cutNode(victim);
    const took = await shoald(ctx, victim, 'stop');
    if (took > 10_000) throw new ScenarioFailure(`systemctl stop shoald on cut-off ${victim} took ${took} ms`);
    await noneActiveOn(ctx, victim, moved, 'after the stop while cut off');
    const s = await cluster.expectSettled(`after stopping shoald on cut-off ${victim}`, units, without(platform.nodes, victim), ctx.ttlMs + SLACK_MS, t0);
    ctx.note(`systemctl stop shoald on cut-off ${victim} took ${took} ms; its units were stopped there and run elsewhere`);
    await platform.healNode(victim);
    await shoald(ctx, victim, 'start');
    return { recoveryMs: s.ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

/** The shoald-lifecycle and etcd-outage scenarios of issue 9. */
export const shoaldScenarios: Scenario[] = [etcdPauseCut, shoaldStop, shoaldStopCut];
