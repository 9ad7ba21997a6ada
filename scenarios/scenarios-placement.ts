/**
 * Membership and placement scenarios: a node that claims another's machine id, more conflicting
 * units than machines, and a global unit when a node joins.
 */
import { mainPids, pidChanges, scheduleChanges } from './checks';
import { ScenarioFailure } from './cluster';
import { sleep, type Scenario, type ScenarioContext } from './scenario';
import { finalCheck } from './scenarios-node';
import { overflowUnits, replacesCycleUnits, UNIT_PREFIX } from './units';

/** What a clear refusal says (besides naming the id): fleet said "duplicate"; shoal's agent says "already registered". */
const DUPLICATE = /duplicate|already registered|in use by/i;

function spareOf(ctx: ScenarioContext): string {
  if (!ctx.platform.spare) throw new ScenarioFailure(`platform ${ctx.platform.name} has no spare node`);
  return ctx.platform.spare;
}

/** Powers the spare node off and forgets what it was booted with. */
async function retireSpare(ctx: ScenarioContext, spare: string): Promise<void> {
  if (await ctx.platform.isRunning(spare)) await ctx.platform.poweroffNode(spare);
  await ctx.platform.forgetNode(spare);
  ctx.cluster.forget(spare);
}

const duplicateId: Scenario = {
  name: 'duplicate-id',
  title: "a 4th node booted with node1's machine id: refused with a clear error, node1 unaffected",
  spare: true,
  async run(ctx) {
    const { cluster, platform } = ctx;
    const spare = spareOf(ctx);
    const first = platform.nodes[0];
    const id = await cluster.machineId(first);
    const rec0 = (await cluster.reg.listMachines()).value.find((m) => m.id === id);
    if (!rec0) throw new ScenarioFailure(`${first} (${id}) is not registered before the scenario`);
    try {
      const t0 = Date.now();
      await platform.startNode(spare, { machineId: id });
      let log = '';
      const line = await cluster.waitFor(`${spare} logs a duplicate machine id`, 30_000, async () => {
        log = await platform.shoaldLog(spare);
        return log.split('\n').find((l) => DUPLICATE.test(l) && l.includes(id.slice(0, 8)));
      }).catch((err: Error) => {
        throw new ScenarioFailure(`${err.message}; its shoald log ends: ${log.trim().split('\n').slice(-2).join(' | ')}`);
      });
      const ms = Date.now() - t0;
      ctx.note(`${spare} refused after ${ms} ms: ${line.trim().slice(0, 160)}`);
      await sleep(2000);
      // said once, not at every retry (it retries with backoff)
      const said = (await platform.shoaldLog(spare)).split('\n').filter((l) => DUPLICATE.test(l) && l.includes(id.slice(0, 8)));
      if (said.length !== 1) throw new ScenarioFailure(`${spare} logged the refusal ${said.length} times in ${Date.now() - t0} ms (once is enough)`);
      const rec1 = (await cluster.reg.listMachines()).value.find((m) => m.id === id);
      if (!rec1 || rec1.startedAt !== rec0.startedAt || rec1.address !== rec0.address) {
        throw new ScenarioFailure(`${first}'s machine record changed: ${JSON.stringify(rec0)} -> ${JSON.stringify(rec1)}`);
      }
      const onSpare = await cluster.systemdView(spare, ctx.units.map((u) => u.name));
      const running = [...onSpare].filter(([, s]) => s.active === 'active').map(([u]) => u);
      if (running.length) throw new ScenarioFailure(`${spare} (refused) runs ${running.join(' ')}`);
      const s = await finalCheck(ctx);
      const changed = pidChanges(mainPids(ctx.base.obs), mainPids(s.obs));
      if (changed.length) throw new ScenarioFailure(`units changed: ${changed.join('; ')}`, s.verdict);
      return { recoveryMs: ms, verdict: s.verdict };
    } finally {
      await retireSpare(ctx, spare);
    }
  },
};

const conflictsOverflow: Scenario = {
  name: 'conflicts-overflow',
  title: 'more mutually conflicting units than machines: extras unplaceable, nothing doubled',
  async run(ctx) {
    const { cluster, platform } = ctx;
    const over = overflowUnits(platform.nodes.length + 1);
    const t0 = Date.now();
    await cluster.submit(over);
    const names = over.map((u) => u.name);
    const check = async () => {
      const obs = await cluster.observe(platform.nodes, [...ctx.units, ...over]);
      const hosts = new Map<string, string[]>();
      for (const n of obs.nodes) {
        for (const u of names) if (n.units.get(u)?.active === 'active') hosts.set(u, [...(hosts.get(u) ?? []), n.node]);
      }
      const doubled = [...hosts].filter(([, h]) => h.length > 1).map(([u]) => u);
      const perNode = new Map<string, number>();
      for (const [, h] of hosts) for (const n of h) perNode.set(n, (perNode.get(n) ?? 0) + 1);
      const crowded = [...perNode].filter(([, c]) => c > 1).map(([n]) => n);
      const scheduled = names.filter((u) => obs.schedule.has(u));
      return { hosts, doubled, crowded, scheduled, obs };
    };
    const placed = await cluster.waitFor('one conflicting unit per machine', 20_000, async () => {
      const c = await check();
      return c.hosts.size === platform.nodes.length && c.scheduled.length === platform.nodes.length ? c : undefined;
    });
    const ms = Date.now() - t0;
    await sleep(3000); // and it stays that way: the extra is not placed later, nothing doubles
    const c = await check();
    if (c.doubled.length || c.crowded.length) throw new ScenarioFailure(`doubled ${c.doubled.join(' ')}; crowded ${c.crowded.join(' ')}`);
    const extra = names.filter((u) => !c.scheduled.includes(u));
    if (extra.length !== 1 || c.hosts.has(extra[0])) {
      throw new ScenarioFailure(`expected exactly one unplaceable unit, got scheduled=${c.scheduled.join(' ')} running=${[...c.hosts.keys()].join(' ')}`);
    }
    const moved = scheduleChanges(placed.obs.schedule, c.obs.schedule);
    if (moved.length) throw new ScenarioFailure(`placements changed while idle: ${moved.join('; ')}`);
    ctx.note(`${extra[0]} left unplaceable; ${c.scheduled.length} placed one per machine`);
    for (const u of names) await cluster.reg.destroyUnit(u);
    const s = await finalCheck(ctx);
    return { recoveryMs: ms, verdict: s.verdict };
  },
};

const globalJoin: Scenario = {
  name: 'global-join',
  title: 'a node joins: the global unit starts there, nothing else moves',
  spare: true,
  async run(ctx) {
    const { cluster, platform, units } = ctx;
    const spare = spareOf(ctx);
    try {
      const t0 = Date.now();
      await platform.startNode(spare);
      const s = await cluster.expectSettled(`after ${spare} joined`, units, [...platform.nodes, spare], 30_000, t0);
      const g = s.obs.nodes.find((n) => n.node === spare)?.units.get(`${UNIT_PREFIX}global.service`);
      if (g?.active !== 'active') throw new ScenarioFailure(`global unit not active on ${spare}`);
      const moved = scheduleChanges(ctx.base.obs.schedule, s.obs.schedule);
      if (moved.length) throw new ScenarioFailure(`units moved when ${spare} joined: ${moved.join('; ')}`, s.verdict);
      return { recoveryMs: s.ms, verdict: s.verdict };
    } finally {
      await retireSpare(ctx, spare);
    }
  },
};

const replacesCycle: Scenario = {
  name: 'replaces-cycle',
  title: 'two units that replace each other, both started: exactly one runs (fleet), on any machine count',
  async run(ctx) {
    const { cluster, platform } = ctx;
    const pair = replacesCycleUnits();
    const names = pair.map((u) => u.name);
    const t0 = Date.now();
    await cluster.submit(pair);
    const running = async () => {
      const obs = await cluster.observe(platform.nodes, [...ctx.units, ...pair]);
      const active = obs.nodes.flatMap((n) => names.filter((u) => n.units.get(u)?.active === 'active').map((u) => `${u}@${n.node}`));
      return { active, scheduled: names.filter((u) => obs.schedule.has(u)) };
    };
    await cluster.waitFor('one of the pair running', 20_000, async () => {
      const r = await running();
      return r.active.length >= 1 ? r : undefined;
    });
    const ms = Date.now() - t0;
    await sleep(3000); // and it stays that way: the other is never launched
    const r = await running();
    if (r.active.length !== 1 || r.scheduled.length !== 1 || !r.active[0].startsWith(names[0])) {
      throw new ScenarioFailure(`expected only ${names[0]} to run, got running=${r.active.join(' ')} scheduled=${r.scheduled.join(' ')}`);
    }
    ctx.note(`${r.active[0]} runs, ${names[1]} is unplaceable (Replaces cycle) with ${platform.nodes.length} nodes`);
    for (const u of names) await cluster.reg.destroyUnit(u);
    const s = await finalCheck(ctx);
    return { recoveryMs: ms, verdict: s.verdict };
  },
};

/** The membership and placement scenarios. */
export const placementScenarios: Scenario[] = [duplicateId, conflictsOverflow, globalJoin, replacesCycle];
