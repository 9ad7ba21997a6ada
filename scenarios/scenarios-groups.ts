/**
 * Group and deployment scenarios on real agents (docs/groups.md): scale 3 → 6 → 2, a rolling update of 6
 * with UpdateParallel=2 waiting for health, a broken version auto-reverting with never more than
 * UpdateParallel down, the leader killed mid-deployment, canary then promote, rollback to an older hash.
 * Each prints a timeline (notes under the table) and destroys its group before the final check.
 */
import { execFile } from 'node:child_process';
import { ScenarioFailure } from './cluster';
import { sleep, type Scenario, type ScenarioContext } from './scenario';
import { finalCheck } from './scenarios-node';
import { destroyUnit, setDesiredStates, submitUnit } from '../src/api/unit-ops';
import { promote, rollback, scaleGroup } from '../src/api/group-ops';
import type { Deployment } from '../src/deploy/types';

const TPL = 'scn-grp@.service';

function groupText(version: string, opts: string[]): string {
  return ['[Unit]', `Description=shoal group scenario ${version}`, '', '[Service]', `ExecStart=/usr/bin/sleep infinity`,
    `Environment=VERSION=${version}`, '', '[X-Shoal]', ...opts, ''].join('\n');
}

/** A timeline of what the cluster did, relative to the scenario's start. */
class Timeline {
  private readonly t0 = Date.now();
  constructor(private readonly ctx: ScenarioContext) {}
  line(msg: string): void { this.ctx.note(`  +${((Date.now() - this.t0) / 1000).toFixed(1).padStart(5)} s  ${msg}`); }
}

interface InstanceState { unit: string; hash: string; health: string; active: string }

async function instances(ctx: ScenarioContext): Promise<InstanceState[]> {
  const states = (await ctx.cluster.reg.listStates()).value;
  return states.filter((s) => s.unit.startsWith('scn-grp@') && s.unit !== TPL)
    .map((s) => ({ unit: s.unit, hash: s.state.hash, health: s.state.health ?? '', active: s.state.activeState }));
}

/** Waits until exactly `n` instances run at the template's hash, all healthy. */
async function healthyGroup(ctx: ScenarioContext, n: number, timeoutMs = 60_000): Promise<void> {
  await ctx.cluster.waitFor(`${n} healthy instances`, timeoutMs, async () => {
    const tpl = await ctx.cluster.reg.getUnit(TPL);
    const units = (await ctx.cluster.reg.listUnits()).value.filter((u) => u.name.startsWith('scn-grp@') && u.name !== TPL);
    const reported = await instances(ctx);
    const ok = reported.filter((s) => s.hash === tpl?.hash && s.health === 'healthy' && s.active === 'active');
    return units.length === n && ok.length === n && reported.length === n ? true : undefined;
  });
}

/**
 * Follows the group's deployment until it ends (or `until` says stop): prints each change, counts the most
 * launched instances seen not healthy at once. Returns the last deployment seen.
 */
async function follow(ctx: ScenarioContext, tl: Timeline, toHash: string, timeoutMs: number, until?: (d: Deployment) => boolean) {
  let last = '';
  let maxDown = 0;
  const t0 = Date.now();
  for (;;) {
    const d = (await ctx.cluster.reg.listDeployments()).find((x) => x.unit === TPL && x.to.hash === toHash);
    const down = (await instances(ctx)).filter((s) => s.health !== 'healthy').length;
    maxDown = Math.max(maxDown, down);
    if (d) {
      const line = `${d.status} step ${d.step}/${d.steps}, ${d.healthy}/${d.total} healthy, ${down} down: ${d.message}`;
      if (line !== last) tl.line(line);
      last = line;
      if (['succeeded', 'failed', 'reverted'].includes(d.status) || until?.(d)) return { d, maxDown };
    }
    if (Date.now() - t0 > timeoutMs) throw new ScenarioFailure(`deployment to ${toHash.slice(0, 7)} not done after ${timeoutMs} ms (last: ${last || 'none'})`);
    await sleep(150);
  }
}

async function startGroup(ctx: ScenarioContext, tl: Timeline, n: number, opts: string[]): Promise<string> {
  const { hash } = await submitUnit(ctx.cluster.reg, TPL, groupText('v1', [`Instances=${n}`, ...opts]));
  await setDesiredStates(ctx.cluster.reg, [TPL], 'launched');
  tl.line(`submitted ${TPL} v1 (${hash.slice(0, 7)}) with Instances=${n}; started`);
  await healthyGroup(ctx, n);
  tl.line(`${n} instances healthy`);
  return hash;
}

async function finish(ctx: ScenarioContext, tl: Timeline) {
  await destroyUnit(ctx.cluster.reg, TPL);
  await ctx.cluster.waitFor('the group gone from every node', 30_000, async () => ((await instances(ctx)).length === 0 ? true : undefined));
  tl.line('group destroyed');
  return (await finalCheck(ctx)).verdict;
}

const OPTS = ['MinHealthyTime=1s', 'HealthCheck=/usr/bin/test -d /proc/self', 'HealthInterval=500ms', 'UpdateParallel=2', 'HealthyDeadline=20s', 'AutoRevert=true'];

const groupScale: Scenario = {
  name: 'group-scale',
  title: 'a group scaled 3 → 6 → 2: instances 1..N, spread, the highest removed first',
  async run(ctx) {
    const tl = new Timeline(ctx);
    await startGroup(ctx, tl, 3, ['MinHealthyTime=1s']);
    const t0 = Date.now();
    await scaleGroup(ctx.cluster.reg, TPL, 6);
    tl.line('scale 6');
    await healthyGroup(ctx, 6);
    const sched = (await ctx.cluster.reg.listSchedule()).value;
    const per = new Map<string, number>();
    for (const [u, m] of sched) if (u.startsWith('scn-grp@')) per.set(m, (per.get(m) ?? 0) + 1);
    tl.line(`6 instances healthy; per machine: ${[...per.values()].join(', ')}`);
    if ([...per.values()].some((c) => c > 2)) throw new ScenarioFailure(`not spread: ${[...per.values()].join(', ')} per machine`);
    await scaleGroup(ctx.cluster.reg, TPL, 2);
    tl.line('scale 2');
    await healthyGroup(ctx, 2);
    const left = (await instances(ctx)).map((s) => s.unit).sort();
    tl.line(`left: ${left.join(', ')}`);
    if (left.join() !== 'scn-grp@1.service,scn-grp@2.service') throw new ScenarioFailure(`expected instances 1 and 2 to stay, found ${left.join(', ')}`);
    const ms = Date.now() - t0;
    return { recoveryMs: ms, verdict: await finish(ctx, tl) };
  },
};

const groupRolling: Scenario = {
  name: 'group-rolling',
  title: 'rolling update of 6 instances with UpdateParallel=2: each step waits for health',
  async run(ctx) {
    const tl = new Timeline(ctx);
    await startGroup(ctx, tl, 6, OPTS);
    const t0 = Date.now();
    const v2 = await submitUnit(ctx.cluster.reg, TPL, groupText('v2', ['Instances=6', ...OPTS]), { replace: true });
    tl.line(`submit --replace v2 (${v2.hash.slice(0, 7)})`);
    const { d, maxDown } = await follow(ctx, tl, v2.hash, 120_000);
    if (d.status !== 'succeeded') throw new ScenarioFailure(`deployment ${d.status}: ${d.message}`);
    if (d.maxInFlight > 2 || maxDown > 2) throw new ScenarioFailure(`more than UpdateParallel=2 down: in flight ${d.maxInFlight}, seen down ${maxDown}`);
    tl.line(`succeeded in ${d.steps} steps; most down at once: ${maxDown}`);
    const ms = Date.now() - t0;
    return { recoveryMs: ms, verdict: await finish(ctx, tl) };
  },
};

const groupRevert: Scenario = {
  name: 'group-revert',
  title: 'a broken version (its health check fails) auto-reverts, never more than UpdateParallel down',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const v1 = await startGroup(ctx, tl, 6, OPTS);
    const broken = OPTS.map((o) => (o.startsWith('HealthCheck=') ? 'HealthCheck=/usr/bin/false' : o.startsWith('HealthyDeadline=') ? 'HealthyDeadline=5s' : o));
    const t0 = Date.now();
    const v2 = await submitUnit(ctx.cluster.reg, TPL, groupText('v2-broken', ['Instances=6', ...broken]), { replace: true });
    tl.line(`submit --replace a broken v2 (${v2.hash.slice(0, 7)}): HealthCheck=/usr/bin/false`);
    const { d, maxDown } = await follow(ctx, tl, v2.hash, 120_000);
    if (d.status !== 'reverted') throw new ScenarioFailure(`deployment ${d.status}, expected reverted: ${d.message}`);
    if (maxDown > 2) throw new ScenarioFailure(`${maxDown} instances down at once > UpdateParallel=2`);
    if ((await ctx.cluster.reg.getUnit(TPL))?.hash !== v1) throw new ScenarioFailure('template not back at v1');
    await healthyGroup(ctx, 6);
    tl.line(`reverted; all 6 healthy at v1 again; most down at once: ${maxDown}`);
    const ms = Date.now() - t0;
    return { recoveryMs: ms, verdict: await finish(ctx, tl) };
  },
};

const groupLeaderKill: Scenario = {
  name: 'group-leader-kill',
  title: 'leader killed mid-deployment: the new leader completes it from the same step',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const slow = OPTS.map((o) => (o.startsWith('MinHealthyTime=') ? 'MinHealthyTime=4s' : o));
    await startGroup(ctx, tl, 6, slow);
    const v2 = await submitUnit(ctx.cluster.reg, TPL, groupText('v2', ['Instances=6', ...slow]), { replace: true });
    tl.line(`submit --replace v2 (${v2.hash.slice(0, 7)})`);
    const { d: mid } = await follow(ctx, tl, v2.hash, 60_000, (x) => x.step >= 2);
    const leader = await ctx.cluster.leader();
    if (!leader?.node) throw new ScenarioFailure(`cannot tell the leader's node (${leader?.raw})`);
    const t0 = Date.now();
    await ctx.platform.killShoald(leader.node);
    tl.line(`killed the leader's shoald on ${leader.node} at step ${mid.step}/${mid.steps}`);
    const { d } = await follow(ctx, tl, v2.hash, 120_000);
    if (d.status !== 'succeeded' || d.id !== mid.id) throw new ScenarioFailure(`deployment ${d.id} ${d.status} (expected ${mid.id} succeeded): ${d.message}`);
    const now = await ctx.cluster.leader();
    tl.line(`new leader ${now?.node ?? now?.raw} completed deployment ${d.id}`);
    const ms = Date.now() - t0;
    return { recoveryMs: ms, verdict: await finish(ctx, tl) };
  },
};

const groupCanary: Scenario = {
  name: 'group-canary',
  title: 'canary then promote: one instance runs the new version until shoalctl promote',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const opts = [...OPTS, 'Canary=1'];
    await startGroup(ctx, tl, 4, opts);
    const v2 = await submitUnit(ctx.cluster.reg, TPL, groupText('v2', ['Instances=4', ...opts]), { replace: true });
    tl.line(`submit --replace v2 (${v2.hash.slice(0, 7)}) with Canary=1`);
    const { d: paused } = await follow(ctx, tl, v2.hash, 60_000, (x) => x.status === 'paused');
    await sleep(2000);
    const atNew = (await instances(ctx)).filter((s) => s.hash === v2.hash).length;
    if (atNew !== 1) throw new ScenarioFailure(`${atNew} instances at the new version while paused, expected the 1 canary`);
    tl.line(`paused with ${paused.healthy} canary healthy, the rest waiting; promote`);
    const t0 = Date.now();
    await promote(ctx.cluster.reg, TPL);
    const { d } = await follow(ctx, tl, v2.hash, 60_000);
    if (d.status !== 'succeeded') throw new ScenarioFailure(`deployment ${d.status}: ${d.message}`);
    const ms = Date.now() - t0;
    return { recoveryMs: ms, verdict: await finish(ctx, tl) };
  },
};

const groupRollback: Scenario = {
  name: 'group-rollback',
  title: 'rollback to an older hash: the group rolls back through a deployment',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const v1 = await startGroup(ctx, tl, 3, OPTS);
    const v2 = await submitUnit(ctx.cluster.reg, TPL, groupText('v2', ['Instances=3', ...OPTS]), { replace: true });
    await follow(ctx, tl, v2.hash, 60_000);
    const v3 = await submitUnit(ctx.cluster.reg, TPL, groupText('v3', ['Instances=3', ...OPTS]), { replace: true });
    await follow(ctx, tl, v3.hash, 60_000);
    const t0 = Date.now();
    const r = await rollback(ctx.cluster.reg, TPL, v1.slice(0, 7));
    tl.line(`rollback --to ${v1.slice(0, 7)}: ${r.from.slice(0, 7)} -> ${r.to.slice(0, 7)}`);
    const { d } = await follow(ctx, tl, v1, 60_000);
    if (d.status !== 'succeeded') throw new ScenarioFailure(`rollback deployment ${d.status}: ${d.message}`);
    await healthyGroup(ctx, 3);
    tl.line('all 3 healthy at v1');
    const ms = Date.now() - t0;
    return { recoveryMs: ms, verdict: await finish(ctx, tl) };
  },
};

/** `docker build` of a second tag of localbusybox (a label makes it a different image); its image id. */
function buildTag(tag: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = execFile('docker', ['build', '-q', '-t', tag, '-'], { timeout: 60_000 }, (err, out) => (err ? reject(err) : resolve(out.trim())));
    p.stdin?.end(`FROM localbusybox:latest\nLABEL shoal.scenario.version=${tag}\n`);
  });
}

function containerText(image: string): string {
  return ['[Unit]', `Description=shoal container group ${image}`, '', '[Service]', 'Restart=on-failure', '',
    '[X-Container]', `Image=${image}`, 'Command=sleep 100000', '', '[X-Shoal]', 'Instances=3', 'UpdateParallel=1',
    'MinHealthyTime=1s', 'HealthyDeadline=60s', 'AutoRevert=true', ''].join('\n');
}

const groupContainer: Scenario = {
  name: 'group-container',
  title: 'a container group updated to a new image tag, one instance at a time',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const v2id = await buildTag('localbusybox:shoal-v2');
    tl.line(`built localbusybox:shoal-v2 (${v2id.replace('sha256:', '').slice(0, 12)})`);
    await submitUnit(ctx.cluster.reg, TPL, containerText('localbusybox:latest'));
    await setDesiredStates(ctx.cluster.reg, [TPL], 'launched');
    await healthyGroup(ctx, 3, 90_000);
    tl.line('3 container instances healthy on localbusybox:latest');
    const t0 = Date.now();
    const v2 = await submitUnit(ctx.cluster.reg, TPL, containerText('localbusybox:shoal-v2'), { replace: true });
    tl.line(`submit --replace with Image=localbusybox:shoal-v2 (${v2.hash.slice(0, 7)})`);
    const { d, maxDown } = await follow(ctx, tl, v2.hash, 180_000);
    if (d.status !== 'succeeded') throw new ScenarioFailure(`deployment ${d.status}: ${d.message}`);
    if (maxDown > 1) throw new ScenarioFailure(`${maxDown} container instances down at once > UpdateParallel=1`);
    const images = await new Promise<string>((resolve, reject) => execFile('docker', ['ps', '--filter', 'label=shoal.unit', '--format', '{{.Image}} {{.Labels}}'], { timeout: 20_000 },
      (err, out) => (err ? reject(err) : resolve(out))));
    const ours = images.split('\n').filter((l) => l.includes('scn-grp@'));
    tl.line(`running containers of the group: ${ours.map((l) => l.split(' ')[0]).join(', ')}`);
    if (ours.length !== 3 || ours.some((l) => !l.startsWith('localbusybox:shoal-v2'))) throw new ScenarioFailure(`expected 3 containers on the new tag, found: ${ours.join(' | ')}`);
    const ms = Date.now() - t0;
    return { recoveryMs: ms, verdict: await finish(ctx, tl) };
  },
};

/** The group scenarios. */
export const groupScenarios: Scenario[] = [groupScale, groupRolling, groupRevert, groupLeaderKill, groupCanary, groupRollback, groupContainer];
