/**
 * A 3-member etcd (`testbed/up --etcd 3`; shoald is given every member's endpoint): one member killed,
 * quorum lost for 30 s, a member replaced (etcdctl member remove + add). None of these may restart,
 * move or unschedule a unit; recovery is the time until a quorum read through all endpoints succeeds
 * again (for a replacement: until the new member is healthy). They run on their own testbed (see
 * etcdClusterScenarios), not in the 1-member suite.
 */
import { mainPids, pidChanges } from './checks';
import { ScenarioFailure } from './cluster';
import { sleep, type Scenario, type ScenarioContext } from './scenario';
import { finalCheck } from './scenarios-node';
import { nothingMoved } from './scenarios-control';

const SLACK_MS = 20_000;
/** How long quorum stays lost (SHOAL_SCENARIO_QUORUM_LOSS_S, default 30 s). */
const QUORUM_LOSS_MS = Number(process.env.SHOAL_SCENARIO_QUORUM_LOSS_S ?? 30) * 1000;

type MemberAction = 'kill' | 'start' | 'pause' | 'resume' | 'replace';

/** The platform's members and its member actions; throws unless etcd has 3 members here. */
function etcd(ctx: ScenarioContext): { members: string[]; act: (a: MemberAction, m: string) => Promise<void>; leader: () => Promise<string | null> } {
  const p = ctx.platform;
  if (!p.etcdMembers || p.etcdMembers.length < 3 || !p.etcdMember || !p.etcdLeader) {
    throw new ScenarioFailure(`needs a 3-member etcd with member actions; platform ${p.name} has ${p.etcdMembers?.length ?? 1}`);
  }
  return { members: p.etcdMembers, act: (a, m) => p.etcdMember!(a, m), leader: () => p.etcdLeader!() };
}

/** The member leading now (waits up to 10 s for one). */
async function leaderMember(ctx: ScenarioContext): Promise<string> {
  const e = etcd(ctx);
  return ctx.cluster.waitFor('an etcd leader', 10_000, async () => (await e.leader()) ?? undefined);
}

/** Ms from `t0` until a quorum read (the machine list, linearizable) through every endpoint succeeds. */
async function untilQuorumRead(ctx: ScenarioContext, t0: number, timeoutMs: number): Promise<number> {
  await ctx.cluster.waitFor('a quorum read through the client of every endpoint', timeoutMs, async () => {
    const m = await ctx.cluster.reg.listMachines();
    return m.value.length >= ctx.platform.nodes.length ? true : undefined;
  });
  return Date.now() - t0;
}


/** systemd's MainPIDs on every node now (no etcd needed) against the base: what changed. */
async function changedOnNodes(ctx: ScenarioContext): Promise<string[]> {
  const views = await Promise.all(ctx.platform.nodes.map(async (node) => ({
    node, machineId: '', units: await ctx.cluster.systemdView(node, ctx.units.map((u) => u.name)),
  })));
  return pidChanges(mainPids(ctx.base.obs), mainPids({ nodes: views, schedule: new Map(), machines: new Set(), reported: new Map() }));
}

const memberKill: Scenario = {
  name: 'etcd-member-kill',
  title: 'the etcd leader member killed (SIGKILL) in a 3-member etcd: clients fail over, nothing moves',
  async run(ctx) {
    const e = etcd(ctx);
    const victim = await leaderMember(ctx);
    const t0 = Date.now();
    await e.act('kill', victim);
    const ms = await untilQuorumRead(ctx, t0, SLACK_MS);
    const next = await leaderMember(ctx);
    ctx.note(`killed ${victim} (the leader); ${next} leads; quorum reads again after ${ms} ms`);
    await nothingMoved(ctx, mainPids(ctx.base.obs), Date.now());
    const t1 = Date.now();
    await e.act('start', victim);
    ctx.note(`${victim} started again on its data, healthy after ${Date.now() - t1} ms`);
    return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

const quorumLoss: Scenario = {
  name: 'etcd-quorum-loss',
  title: `quorum lost (2 of 3 etcd members SIGSTOPped) for ${QUORUM_LOSS_MS / 1000} s: units keep running, nothing moves, the cluster resumes`,
  async run(ctx) {
    const e = etcd(ctx);
    const lead = await leaderMember(ctx);
    const paused = [lead, e.members.find((m) => m !== lead)!];
    const t0 = Date.now();
    for (const m of paused) await e.act('pause', m);
    let t1 = 0;
    try {
      await sleep(3000);
      const read = await ctx.cluster.reg.listMachines().then(() => 'answered', (err: Error) => err.message);
      if (read === 'answered') throw new ScenarioFailure(`quorum is not lost with ${paused.join(' and ')} paused: a quorum read answered`);
      await sleep(Math.max(0, QUORUM_LOSS_MS - 6000));
      const changed = await changedOnNodes(ctx);
      if (changed.length) throw new ScenarioFailure(`units changed while etcd had no quorum: ${changed.join('; ')}`);
      await sleep(Math.max(0, QUORUM_LOSS_MS - (Date.now() - t0)));
    } finally {
      t1 = Date.now();
      for (const m of paused) await e.act('resume', m).catch(() => undefined);
    }
    const ms = await untilQuorumRead(ctx, t1, SLACK_MS);
    ctx.note(`paused ${paused.join(' and ')} for ${t1 - t0} ms; quorum reads again ${ms} ms after they resumed`);
    await nothingMoved(ctx, mainPids(ctx.base.obs), t1);
    return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

const memberReplace: Scenario = {
  name: 'etcd-member-replace',
  title: 'an etcd member lost and replaced (etcdctl member remove, member add, empty data dir): nothing moves',
  async run(ctx) {
    const e = etcd(ctx);
    const lead = await leaderMember(ctx);
    const victim = e.members.filter((m) => m !== lead).at(-1)!;
    await e.act('kill', victim);
    const t0 = Date.now();
    await e.act('replace', victim);
    const ms = Date.now() - t0;
    await untilQuorumRead(ctx, t0, SLACK_MS);
    if (!(await e.leader())) throw new ScenarioFailure('no etcd leader after the replacement');
    ctx.note(`${victim} killed, removed and replaced by a new member: healthy after ${ms} ms`);
    await nothingMoved(ctx, mainPids(ctx.base.obs), Date.now());
    return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

/** The 3-member etcd scenarios (run on `testbed/up --etcd 3`). */
export const etcdClusterScenarios: Scenario[] = [memberKill, quorumLoss, memberReplace];
