/**
 * Drain on real agents (docs/operations.md): a machine running 6 instances of two groups (UpdateParallel
 * 1 and 2, health checked) and its share of the base units is drained. The scenario samples every group's
 * healthy instances throughout (none may drop below count − UpdateParallel), then checks with systemd on
 * the node that nothing but the global unit runs there, and prints what moved where.
 */
import { ScenarioFailure } from './cluster';
import { isActive } from './checks';
import { sleep, unitsOn, without, busiestNode, type Scenario, type ScenarioContext } from './scenario';
import { finalCheck } from './scenarios-node';
import { destroyUnit, setDesiredStates, submitUnit } from '../src/api/unit-ops';
import { cordonMachine, drainMachine, drainStatus, uncordonMachine } from '../src/api/drain-ops';

/** The two groups the drain scenarios place on one machine. */
export const GROUPS = [
  { tpl: 'scn-drn-a@.service', count: 3, parallel: 1 },
  { tpl: 'scn-drn-b@.service', count: 3, parallel: 2 },
];

function groupText(parallel: number, count: number): string {
  return ['[Unit]', 'Description=shoal drain scenario', '', '[Service]', 'ExecStart=/usr/bin/sleep infinity', '', '[X-Shoal]',
    `Instances=${count}`, `UpdateParallel=${parallel}`, 'MinHealthyTime=1s', 'HealthCheck=/usr/bin/test -d /proc/self', 'HealthInterval=500ms', ''].join('\n');
}

/** The 6 instances of GROUPS. */
export const instanceNames = (): string[] => GROUPS.flatMap((g) => Array.from({ length: g.count }, (_, i) => g.tpl.replace('@.', `@${i + 1}.`)));

/** Healthy instances of each group on the machine the schedule names, and where each runs. */
export async function sample(ctx: ScenarioContext): Promise<{ healthy: number[]; where: Map<string, string> }> {
  const [units, schedule, states] = await Promise.all([ctx.cluster.reg.listUnits(), ctx.cluster.reg.listSchedule(), ctx.cluster.reg.listStates()]);
  const hash = new Map(units.value.map((u) => [u.name, u.hash]));
  const healthy = GROUPS.map(() => 0);
  for (const s of states.value) {
    const gi = GROUPS.findIndex((g) => s.unit.startsWith(g.tpl.replace('@.service', '@')) && s.unit !== g.tpl);
    if (gi < 0 || schedule.value.get(s.unit) !== s.machine) continue;
    if (s.state.hash === hash.get(s.unit) && s.state.health === 'healthy' && s.state.activeState === 'active') healthy[gi]++;
  }
  return { healthy, where: schedule.value };
}

/**
 * Starts GROUPS with all 6 instances healthy on machine `id` (the other machines are cordoned meanwhile,
 * then uncordoned). Throws a ScenarioFailure after 60 s.
 */
export async function placeGroupsOn(ctx: ScenarioContext, id: string, otherIds: string[]): Promise<void> {
  const reg = ctx.cluster.reg;
  for (const o of otherIds) await cordonMachine(reg, o, 'scenario');
  try {
    for (const g of GROUPS) await submitUnit(reg, g.tpl, groupText(g.parallel, g.count));
    await setDesiredStates(reg, GROUPS.map((g) => g.tpl), 'launched');
    await ctx.cluster.waitFor('6 healthy instances on one node', 60_000, async () => {
      const s = await sample(ctx);
      return s.healthy.every((h, i) => h === GROUPS[i].count) && instanceNames().every((u) => s.where.get(u) === id) ? true : undefined;
    });
  } finally {
    for (const o of otherIds) await uncordonMachine(reg, o);
  }
}

/** Destroys GROUPS and waits until no instance is healthy anywhere. */
export async function removeGroups(ctx: ScenarioContext): Promise<void> {
  for (const g of GROUPS) await destroyUnit(ctx.cluster.reg, g.tpl);
  await ctx.cluster.waitFor('the groups gone', 30_000, async () => ((await sample(ctx)).healthy.every((h) => h === 0) ? true : undefined));
}

const drain: Scenario = {
  name: 'drain',
  title: 'a machine with 6 group instances (UpdateParallel 1 and 2) drains: no group below count − UpdateParallel, nothing left on it',
  async run(ctx) {
    const reg = ctx.cluster.reg;
    const t0 = Date.now();
    const at = () => `+${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`;
    const node = busiestNode(ctx.base.obs, ctx.units);
    const id = await ctx.cluster.machineId(node);
    const others = without(ctx.platform.nodes, node);
    const otherIds = await Promise.all(others.map((n) => ctx.cluster.machineId(n)));
    await placeGroupsOn(ctx, id, otherIds);
    const before = unitsOn(ctx.base.obs, ctx.units, node);
    ctx.note(`  ${at()}  ${node} runs the 6 group instances and ${before.length} base unit(s): ${before.join(', ') || '-'}`);
    const started = Date.now();
    const r = await drainMachine(reg, id, 120_000, 'scenario');
    ctx.note(`  ${at()}  shoalctl drain ${node}: ${r.message}`);
    const low = GROUPS.map((g) => g.count);
    let last = '';
    let done;
    for (;;) {
      const s = await sample(ctx);
      s.healthy.forEach((h, i) => { low[i] = Math.min(low[i], h); });
      const st = await drainStatus(reg, id);
      const line = `${st.progress?.status ?? 'pending'}: healthy ${GROUPS.map((g, i) => `${g.tpl.slice(4, 9)} ${s.healthy[i]}/${g.count}`).join(', ')}; ${st.progress?.message ?? ''}`;
      if (line !== last) ctx.note(`  ${at()}  ${line}`);
      last = line;
      if (st.progress?.status === 'done') { done = st.progress; break; }
      if (Date.now() - started > 90_000) throw new ScenarioFailure(`drain not done after 90 s: ${line}`);
      await sleep(150);
    }
    const drainMs = Date.now() - started;
    const nodeOf = new Map(others.map((n, i) => [otherIds[i], n]));
    for (const m of done.moved) ctx.note(`  moved ${m.unit} -> ${nodeOf.get(m.to) ?? m.to}${m.healthy ? ' (healthy there)' : ''}`);
    const broken = GROUPS.map((g, i) => ({ g, low: low[i] })).filter(({ g, low }) => low < g.count - g.parallel);
    if (broken.length) throw new ScenarioFailure(broken.map(({ g, low }) => `${g.tpl} fell to ${low} healthy < ${g.count} − ${g.parallel}`).join('; '));
    ctx.note(`  lowest healthy during the drain: ${GROUPS.map((g, i) => `${g.tpl} ${low[i]} (floor ${g.count - g.parallel})`).join(', ')}`);
    if (done.stuck.length) throw new ScenarioFailure(`units left on ${node}: ${done.stuck.map((x) => `${x.unit} (${x.reason})`).join(', ')}`);
    // systemd on the node itself: nothing but the global unit runs there
    const nonGlobal = [...ctx.units.filter((u) => !u.global).map((u) => u.name), ...instanceNames()];
    const view = await ctx.cluster.systemdView(node, nonGlobal);
    const running = nonGlobal.filter((n) => isActive(view.get(n)));
    if (running.length) throw new ScenarioFailure(`still running on ${node} after the drain: ${running.join(', ')}`);
    const assigned = (await reg.listAssigned(id)).value;
    if (assigned.length) throw new ScenarioFailure(`still assigned to ${node}: ${assigned.join(', ')}`);
    ctx.note(`  ${at()}  drained in ${(drainMs / 1000).toFixed(1)} s: ${done.moved.length} unit(s) moved; systemd on ${node} runs none of them`);
    await uncordonMachine(reg, id);
    await removeGroups(ctx);
    return { recoveryMs: drainMs, verdict: (await finalCheck(ctx)).verdict };
  },
};

/** The drain scenarios. */
export const drainScenarios: Scenario[] = [drain];
