/**
 * issue 9, faults 1–3 on the testbed: an etcd outage with a node cut off during it moves nothing;
 * `systemctl restart shoald` moves nothing; `systemctl stop shoald` for good drains the node first (issue 15)
 * and leaves no copy behind; a stop on a cut-off node ends within seconds.
 */
import { mainPids, pidChanges, scheduleChanges } from './checks';
import { ScenarioFailure } from './cluster';
import { finalCheck } from './scenarios-node';
import { busiestNode, unitsOn, without, type Scenario, type ScenarioContext } from './scenario';
import { GROUPS, instanceNames, placeGroupsOn, removeGroups, sample } from './scenarios-drain';
import { drainStatus } from '../src/api/drain-ops';
import { STOP_CORDON_BY } from '../src/drain/types';

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

/** The record of machine `id` once a new agent registered it (startedAt after `since`, ms); throws after 30 s. */
async function registeredAfter(ctx: ScenarioContext, id: string, since: number): Promise<void> {
  await ctx.cluster.waitFor(`machine ${id.slice(0, 8)} registered again`, 30_000, async () => {
    const m = (await ctx.cluster.reg.listMachines()).value.find((r) => r.id === id);
    return m && Date.parse(m.startedAt ?? '') >= since - 1000 ? true : undefined;
  });
}

const shoaldStop: Scenario = {
  name: 'shoald-stop',
  title: '`systemctl restart shoald` moves nothing; `systemctl stop shoald` drains the node first (no group below count − UpdateParallel), none left there',
  async run(ctx) {
    const { cluster, platform, units } = ctx;
    const reg = cluster.reg;
    const victim = busiestNode(ctx.base.obs, units);
    const id = await cluster.machineId(victim);
    const otherIds = await Promise.all(without(platform.nodes, victim).map((n) => cluster.machineId(n)));
    await placeGroupsOn(ctx, id, otherIds);
    const moved = [...unitsOn(ctx.base.obs, units, victim), ...instanceNames()];
    // a restart (the job on shoald's unit is `restart`): no drain, nothing moves, every MainPID stays
    const pids = async () => new Map([...await cluster.systemdView(victim, moved)].filter(([n]) => moved.includes(n)).map(([n, v]) => [n, v.mainPid]));
    const [schedBefore, pidsBefore] = [(await reg.listSchedule()).value, await pids()];
    const r0 = Date.now();
    await platform.restartShoald(victim);
    await registeredAfter(ctx, id, r0);
    await sleep(3000); // an engine that saw the machine leave would move units within this
    const restartMoved = scheduleChanges(schedBefore, (await reg.listSchedule()).value);
    const restarted = pidChanges(pidsBefore, await pids());
    const cordon = await reg.getCordon(id);
    if (restartMoved.length || restarted.length || cordon) {
      throw new ScenarioFailure(`systemctl restart shoald changed something: ${[...restartMoved, ...restarted, ...(cordon ? [`cordoned by ${cordon.by}`] : [])].join('; ')}`);
    }
    ctx.note(`systemctl restart shoald on ${victim}: no cordon, no unit moved, ${pidsBefore.size} MainPIDs kept`);
    // a stop for good: the groups keep count − UpdateParallel healthy instances while the node drains
    const low = GROUPS.map((g) => g.count);
    const t0 = Date.now();
    let stopped = false;
    const stop = shoald(ctx, victim, 'stop').finally(() => { stopped = true; });
    while (!stopped) {
      (await sample(ctx)).healthy.forEach((h, i) => { low[i] = Math.min(low[i], h); });
      await sleep(150);
    }
    const took = await stop;
    const broken = GROUPS.map((g, i) => ({ g, low: low[i] })).filter(({ g, low }) => low < g.count - g.parallel);
    if (broken.length) throw new ScenarioFailure(`while shoald stopped: ${broken.map(({ g, low }) => `${g.tpl} fell to ${low} healthy < ${g.count} − ${g.parallel}`).join('; ')}`);
    const st = await drainStatus(reg, id);
    if (st.cordon?.by !== STOP_CORDON_BY || st.progress?.status !== 'done') {
      throw new ScenarioFailure(`the stop did not drain: cordon ${JSON.stringify(st.cordon)}, progress ${st.progress?.status ?? 'none'} ${st.progress?.message ?? ''}`);
    }
    // the group instances are expected too: each runs once, on the other nodes
    const withGroups = [...units, ...instanceNames().map((name) => ({ name, text: '', desired: 'launched' as const, global: false }))];
    const s = await cluster.expectSettled(`after stopping shoald on ${victim}`, withGroups, without(platform.nodes, victim), SLACK_MS, t0);
    await noneActiveOn(ctx, victim, moved, 'after the stop');
    const after = await sample(ctx);
    if (after.healthy.some((h, i) => h !== GROUPS[i].count)) throw new ScenarioFailure(`groups not whole after the stop: ${after.healthy.join(', ')}`);
    ctx.note(`systemctl stop shoald took ${took} ms (drain: ${st.progress.message}); lowest healthy ${GROUPS.map((g, i) => `${g.tpl} ${low[i]}/${g.count}`).join(', ')}; `
      + `${moved.length} units run once, elsewhere, ${s.ms} ms after the stop`);
    const r1 = Date.now();
    await shoald(ctx, victim, 'start');
    await registeredAfter(ctx, id, r1);
    await cluster.waitFor('the stop\'s cordon lifted by the started shoald', 15_000, async () => ((await reg.getCordon(id)) ? undefined : true));
    await removeGroups(ctx);
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
