/**
 * Control-plane scenarios: the leader engine killed or paused past its TTL, etcd restarted or
 * unreachable, shoald restarted on a node. None of these may restart or unschedule a unit.
 */
import { mainPids, pidChanges, scheduleChanges } from './checks';
import { ScenarioFailure, type LeaderInfo } from './cluster';
import { busiestNode, sleep, without, type Scenario, type ScenarioContext } from './scenario';
import { finalCheck } from './scenarios-node';

const SLACK_MS = 20_000;
/** How long etcd stays unreachable (SHOAL_SCENARIO_ETCD_PAUSE_S, default 30 s). */
const ETCD_PAUSE_MS = Number(process.env.SHOAL_SCENARIO_ETCD_PAUSE_S ?? 30) * 1000;

async function currentLeader(ctx: ScenarioContext): Promise<LeaderInfo & { node: string }> {
  const l = await ctx.cluster.waitFor('a leader engine', 10_000, async () => (await ctx.cluster.leader()) ?? undefined);
  if (!l.node) throw new ScenarioFailure(`cannot tell which node the leader runs on: engine/leader = ${l.raw}`);
  return l as LeaderInfo & { node: string };
}

async function newLeader(ctx: ScenarioContext, old: LeaderInfo, timeoutMs: number): Promise<LeaderInfo> {
  return ctx.cluster.waitFor('a new leader', timeoutMs, async () => {
    const l = await ctx.cluster.leader();
    return l && l.raw !== old.raw ? l : undefined;
  });
}

const leaderKill: Scenario = {
  name: 'leader-kill',
  title: 'leader engine killed (kill -9 its shoald): a new leader, no unit lost or doubled',
  async run(ctx) {
    const old = await currentLeader(ctx);
    const t0 = Date.now();
    await ctx.platform.killShoald(old.node);
    const l = await newLeader(ctx, old, ctx.ttlMs + SLACK_MS);
    const ms = Date.now() - t0;
    ctx.note(`leader ${old.node} killed; new leader ${l.node ?? l.raw} after ${ms} ms`);
    const s = await finalCheck(ctx);
    const changed = pidChanges(mainPids(ctx.base.obs), mainPids(s.obs));
    if (changed.length) ctx.note(`restarted or moved: ${changed.join('; ')}`);
    return { recoveryMs: ms, verdict: s.verdict };
  },
};

const leaderPause: Scenario = {
  name: 'leader-pause',
  title: 'leader shoald paused (SIGSTOP) past its TTL, then SIGCONT: it must not write the schedule',
  async run(ctx) {
    const { cluster, platform, units } = ctx;
    const old = await currentLeader(ctx);
    const t0 = Date.now();
    await platform.pauseShoald(old.node);
    try {
      const l = await newLeader(ctx, old, ctx.ttlMs + SLACK_MS);
      const ms = Date.now() - t0;
      ctx.note(`leader ${old.node} paused; new leader ${l.node ?? l.raw} after ${ms} ms`);
      // its agent is paused too: its machine expires and its units move; settle without it
      await cluster.expectSettled(`while ${old.node} is paused`, units, without(platform.nodes, old.node), ctx.ttlMs + SLACK_MS, t0);
      const sched = await cluster.reg.listSchedule();
      const ids = await Promise.all(platform.nodes.map((n) => cluster.machineId(n)));
      const watching = cluster.watchScheduleWrites(sched.revision, ctx.ttlMs + 3000, ids);
      await platform.resumeShoald(old.node);
      const writes = await watching;
      if (writes.length) {
        throw new ScenarioFailure(`schedule written after the old leader resumed: ${writes.slice(0, 5).map((e) => JSON.stringify(e)).join('; ')}`);
      }
      const s = await finalCheck(ctx);
      const changed = scheduleChanges(sched.value, s.obs.schedule);
      if (changed.length) throw new ScenarioFailure(`schedule changed after the old leader resumed: ${changed.join('; ')}`, s.verdict);
      return { recoveryMs: ms, verdict: s.verdict };
    } finally {
      await platform.resumeShoald(old.node).catch(() => undefined);
    }
  },
};

/**
 * After a fault that ended at `t1`: once leases had time to expire (TTL + 1 s), the cluster settles with the
 * MainPIDs of `before` and the base schedule; throws ScenarioFailure saying what restarted or moved.
 */
export async function nothingMoved(ctx: ScenarioContext, before: ReturnType<typeof mainPids>, t1: number, prefix = ''): Promise<void> {
  await sleep(ctx.ttlMs + 1000);
  const s = await ctx.cluster.expectSettled('after the fault', ctx.units, ctx.platform.nodes, SLACK_MS, t1);
  const restarted = pidChanges(before, mainPids(s.obs));
  if (restarted.length) throw new ScenarioFailure(`units restarted or moved: ${restarted.join('; ')}`, s.verdict);
  const moved = scheduleChanges(ctx.base.obs.schedule, s.obs.schedule);
  if (moved.length) throw new ScenarioFailure(`schedule changed: ${moved.join('; ')}`, s.verdict);
  ctx.note(`${prefix}same MainPIDs (${before.size}) and schedule after`);
}

/** Runs `fault`, then checks that nothing restarted and nothing moved once the cluster settles. */
async function nothingMoves(ctx: ScenarioContext, fault: () => Promise<void>): Promise<{ ms: number }> {
  const before = mainPids(ctx.base.obs);
  const t0 = Date.now();
  await fault();
  const t1 = Date.now();
  await nothingMoved(ctx, before, t1, `fault lasted ${t1 - t0} ms; `);
  return { ms: t1 - t0 };
}

const etcdRestart: Scenario = {
  name: 'etcd-restart',
  title: 'etcd restarted: nothing restarted, nothing unscheduled',
  async run(ctx) {
    const r = await nothingMoves(ctx, () => ctx.platform.restartEtcd());
    return { recoveryMs: r.ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

const etcdPause: Scenario = {
  name: 'etcd-pause',
  title: `etcd unreachable (SIGSTOP) for ${ETCD_PAUSE_MS / 1000} s: nothing restarted, nothing unscheduled`,
  async run(ctx) {
    const { cluster, platform } = ctx;
    const r = await nothingMoves(ctx, async () => {
      await platform.pauseEtcd();
      try {
        await sleep(ETCD_PAUSE_MS - 3000);
        // the units keep running while etcd is away (read from systemd, which needs no etcd)
        const before = mainPids(ctx.base.obs);
        const views = await Promise.all(platform.nodes.map(async (node) => ({
          node, units: await cluster.systemdView(node, ctx.units.map((u) => u.name)),
        })));
        const now = mainPids({ nodes: views.map((v) => ({ ...v, machineId: '' })), schedule: new Map(), machines: new Set(), reported: new Map() });
        const changed = pidChanges(before, now);
        if (changed.length) throw new ScenarioFailure(`units changed while etcd was unreachable: ${changed.join('; ')}`);
        await sleep(3000);
      } finally {
        await platform.resumeEtcd();
      }
    });
    return { recoveryMs: r.ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

const shoaldRestart: Scenario = {
  name: 'shoald-restart',
  title: 'shoald restarted on a node: its units keep running (same MainPID)',
  async run(ctx) {
    const node = busiestNode(ctx.base.obs, ctx.units);
    ctx.note(`restarting shoald on ${node}`);
    const r = await nothingMoves(ctx, () => ctx.platform.restartShoald(node));
    return { recoveryMs: r.ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

const shoaldSlowRestart: Scenario = {
  name: 'shoald-slow-restart',
  title: 'shoald restarted on a node, the new process starting TTL + 4 s late (a cold start on a loaded machine): nothing moves',
  async run(ctx) {
    const node = busiestNode(ctx.base.obs, ctx.units);
    const lateS = Math.ceil(ctx.ttlMs / 1000) + 4;
    ctx.note(`restarting shoald on ${node}, the new process held ${lateS} s by a runtime drop-in`);
    const dropIn = '/run/systemd/system/shoald.service.d/zz-late-start.conf';
    const sh = async (cmd: string) => {
      const r = await ctx.platform.exec(node, ['sh', '-c', cmd]);
      if (r.code !== 0) throw new Error(`${node}: ${cmd}: exit ${r.code}: ${r.stderr}`);
    };
    await sh(`mkdir -p ${dropIn.replace(/\/[^/]*$/, '')} && printf '[Service]\\nExecStartPre=/bin/sleep ${lateS}\\n' > ${dropIn} && systemctl daemon-reload`);
    try {
      const r = await nothingMoves(ctx, () => ctx.platform.restartShoald(node));
      return { recoveryMs: r.ms, verdict: (await finalCheck(ctx)).verdict };
    } finally {
      await sh(`rm -f ${dropIn} && systemctl daemon-reload`);
    }
  },
};

const etcdMemberStop: Scenario = {
  name: 'etcd-member-stop',
  title: `one etcd member stopped for ${ETCD_PAUSE_MS / 1000} s (two keep the quorum): nothing restarted, nothing unscheduled`,
  cannot: (p) => (p.stopEtcdMember && p.startEtcdMember ? null : `${p.name} runs one etcd, not a member per node`),
  async run(ctx) {
    const { platform } = ctx;
    // the member on the leader's node: its shoald must fail over to the other members
    const node = (await ctx.cluster.leader())?.node ?? platform.nodes[0];
    const r = await nothingMoves(ctx, async () => {
      await platform.stopEtcdMember!(node);
      try {
        await sleep(ETCD_PAUSE_MS);
      } finally {
        await platform.startEtcdMember!(node);
      }
    });
    ctx.note(`etcd member on ${node} (the leader's node) was stopped`);
    return { recoveryMs: r.ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

/** The control-plane scenarios. */
export const controlScenarios: Scenario[] = [leaderKill, leaderPause, etcdRestart, etcdPause, etcdMemberStop, shoaldRestart, shoaldSlowRestart];
