/**
 * Machine-loss scenarios: a node killed, powered off, frozen and thawed (comes back after its
 * units moved), cut off from the network past its TTL, and the host of a MachineOf pair dying.
 */
import { mainPids, pidChanges, scheduleChanges } from './checks';
import { ScenarioFailure } from './cluster';
import { busiestNode, unitsOn, without, type Scenario, type ScenarioContext } from './scenario';
import { UNIT_PREFIX } from './units';

/** Slack past the TTL before a scenario gives up waiting (the timing targets are the bench's job). */
const SLACK_MS = 20_000;

/** Loses `victim` with `fault`, waits until its units run elsewhere, then brings it back with `restore`. */
async function loseAndReturn(
  ctx: ScenarioContext, victim: string, fault: () => Promise<void>, restore: () => Promise<void>,
): Promise<{ recoveryMs: number; moved: string[] }> {
  const { cluster, platform, units } = ctx;
  const moved = unitsOn(ctx.base.obs, units, victim);
  if (moved.length === 0) throw new ScenarioFailure(`${victim} runs no units in the base state: nothing to move`);
  ctx.note(`${victim} ran ${moved.join(' ')}`);
  const t0 = Date.now();
  await fault();
  const lost = await cluster.expectSettled(`after losing ${victim}`, units, without(platform.nodes, victim), ctx.ttlMs + SLACK_MS, t0);
  const sched = lost.obs.schedule;
  await restore();
  const back = await cluster.expectSettled(`after ${victim} returned`, units, platform.nodes, SLACK_MS);
  const flapped = scheduleChanges(sched, back.obs.schedule);
  if (flapped.length) throw new ScenarioFailure(`units moved again when ${victim} returned: ${flapped.join('; ')}`, back.verdict);
  return { recoveryMs: lost.ms, moved };
}

const nodeKill: Scenario = {
  name: 'node-kill',
  title: 'node killed abruptly (SIGKILL to its PID 1), then booted again',
  async run(ctx) {
    const victim = busiestNode(ctx.base.obs, ctx.units);
    const r = await loseAndReturn(ctx, victim, () => ctx.platform.killNode(victim), () => ctx.platform.startNode(victim));
    return { recoveryMs: r.recoveryMs, verdict: (await finalCheck(ctx)).verdict };
  },
};

const nodePoweroff: Scenario = {
  name: 'node-poweroff',
  title: 'node powered off cleanly, then booted again',
  async run(ctx) {
    const victim = busiestNode(ctx.base.obs, ctx.units);
    const r = await loseAndReturn(ctx, victim, () => ctx.platform.poweroffNode(victim), () => ctx.platform.startNode(victim));
    return { recoveryMs: r.recoveryMs, verdict: (await finalCheck(ctx)).verdict };
  },
};

const nodeReturn: Scenario = {
  name: 'node-return',
  title: 'node frozen past its TTL (units moved), then thawed: it must stop what moved away',
  async run(ctx) {
    const victim = busiestNode(ctx.base.obs, ctx.units);
    const r = await loseAndReturn(ctx, victim, () => ctx.platform.freezeNode(victim), () => ctx.platform.thawNode(victim));
    await assertStoppedOn(ctx, victim, r.moved);
    return { recoveryMs: r.recoveryMs, verdict: (await finalCheck(ctx)).verdict };
  },
};

const nodeCut: Scenario = {
  name: 'node-cut',
  title: 'node cut off the network past its TTL: units keep running there, move, stop there on reconnect',
  async run(ctx) {
    const { cluster, platform, units } = ctx;
    const victim = busiestNode(ctx.base.obs, units);
    const moved = unitsOn(ctx.base.obs, units, victim);
    const before = mainPids(ctx.base.obs);
    const t0 = Date.now();
    await platform.cutNode(victim);
    const s = await cluster.expectSettled(`after cutting ${victim}`, units, without(platform.nodes, victim), ctx.ttlMs + SLACK_MS, t0);
    // the cut-off node cannot know it lost its units: they must still run there, untouched
    const there = await cluster.systemdView(victim, moved);
    for (const u of moved) {
      const pid = before.get(`${u}@${victim}`);
      const now = there.get(u);
      if (now?.active !== 'active' || now.mainPid !== pid) {
        throw new ScenarioFailure(`${u} on cut-off ${victim}: expected still active with MainPID ${pid}, got ${now?.active} ${now?.mainPid}`);
      }
    }
    ctx.note(`${moved.length} units kept running on cut-off ${victim} and moved elsewhere in ${s.ms} ms`);
    await platform.healNode(victim);
    await cluster.expectSettled(`after healing ${victim}`, units, platform.nodes, SLACK_MS);
    await assertStoppedOn(ctx, victim, moved);
    return { recoveryMs: s.ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

const machineOfHostDies: Scenario = {
  name: 'machineof-host-dies',
  title: 'the host of a MachineOf pair dies: the pair moves together',
  async run(ctx) {
    const { cluster, platform, units } = ctx;
    const a = `${UNIT_PREFIX}pair-a.service`;
    const b = `${UNIT_PREFIX}pair-b.service`;
    const host = busiestNode(ctx.base.obs, units, a);
    if (!unitsOn(ctx.base.obs, units, host).includes(b)) throw new ScenarioFailure(`base state: ${b} is not with ${a} on ${host}`);
    const t0 = Date.now();
    await platform.killNode(host);
    const s = await cluster.expectSettled(`after killing ${host}`, units, without(platform.nodes, host), ctx.ttlMs + SLACK_MS, t0);
    const newHost = s.obs.nodes.find((n) => n.units.get(a)?.active === 'active');
    if (!newHost || newHost.units.get(b)?.active !== 'active') throw new ScenarioFailure(`${a} and ${b} did not move together`);
    ctx.note(`pair moved ${host} -> ${newHost.node}`);
    await platform.startNode(host);
    return { recoveryMs: s.ms, verdict: (await finalCheck(ctx)).verdict };
  },
};

/** None of `names` is active on `node` any more (it stopped what was moved away). */
async function assertStoppedOn(ctx: ScenarioContext, node: string, names: string[]): Promise<void> {
  const view = await ctx.cluster.systemdView(node, names);
  const still = names.filter((u) => view.get(u)?.active === 'active');
  if (still.length) throw new ScenarioFailure(`${node} still runs units that moved away: ${still.join(' ')}`);
}

/** Every base node back and the base units settled on them. */
export async function finalCheck(ctx: ScenarioContext, extraPidCheck = false) {
  const s = await ctx.cluster.expectSettled('final state', ctx.units, ctx.platform.nodes, SLACK_MS);
  if (extraPidCheck) {
    const changed = pidChanges(mainPids(ctx.base.obs), mainPids(s.obs));
    if (changed.length) throw new ScenarioFailure(`units restarted: ${changed.join('; ')}`, s.verdict);
  }
  return s;
}

/** The machine-loss scenarios. */
export const nodeScenarios: Scenario[] = [nodeKill, nodePoweroff, nodeReturn, nodeCut, machineOfHostDies];
