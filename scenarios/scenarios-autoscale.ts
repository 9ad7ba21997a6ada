/**
 * Autoscaling on real agents (issue 12, docs/autoscaling.md): a group with ScaleCPU= whose instances burn
 * CPU while a flag file exists on their node. Agents measure each instance's CPU from systemd's cgroup
 * accounting and report it (load/<machine>); the leader scales the group up within a stated time, and back
 * down to ScaleMin= once the burn stops and its ScaleDownWindow= has passed. Prints every decision with its
 * inputs. The burn is brief (the machine has 2 cores): at most ScaleMax=3 spinning shells for ~20 s.
 */
import { ScenarioFailure } from './cluster';
import { sleep, type Scenario, type ScenarioContext } from './scenario';
import { finalCheck } from './scenarios-node';
import { destroyUnit, setDesiredStates, submitUnit } from '../src/api/unit-ops';

const TPL = 'scn-scale@.service';
const FLAG = '/run/shoal-burn';
/**
 * Up within this: two load samples (5 s each; a spinner on a loaded 2-core machine that gets under 100m is a
 * minor change, written at most 30 s after the last write) + a leader evaluation (5 s) + margin.
 */
const UP_WITHIN_MS = 45_000;
/** Down within this after the burn stops: a sample (up to 30 s for a minor change), the 10 s ScaleDownWindow, an evaluation, margin. */
const DOWN_WITHIN_MS = 60_000;

// A builtin-only loop (no fork per turn): spins while the flag exists, sleeps otherwise. `$$` is systemd's `$`.
const TEXT = ['[Unit]', 'Description=shoal autoscale scenario', '', '[Service]',
  `ExecStart=/bin/sh -c 'while :; do if [ -e ${FLAG} ]; then i=$$((i+1)); else sleep 0.5; fi; done'`, '',
  '[X-Shoal]', 'CPU=100m', 'ScaleMin=1', 'ScaleMax=3', 'ScaleCPU=50%', 'ScaleDownWindow=10s', ''].join('\n');

async function count(ctx: ScenarioContext): Promise<number> {
  return (await ctx.cluster.reg.getScale(TPL)) ?? 1;
}

/** What the agents last reported for the group's instances, for a failure message. */
async function reported(ctx: ScenarioContext): Promise<string> {
  const loads = await ctx.cluster.reg.listLoads();
  const parts: string[] = [];
  for (const [m, l] of loads) {
    const ours = Object.entries(l.units).filter(([u]) => u.startsWith('scn-scale@')).map(([u, x]) => `${u}=${x.cpuMillis}m`);
    parts.push(`${m.slice(0, 8)} at ${l.at}: machine ${l.cpuMillis}m/${l.cpuTotalMillis}m, ${ours.join(' ') || 'no instance'}`);
  }
  return parts.join('; ') || 'no load reports';
}

async function setFlag(ctx: ScenarioContext, on: boolean): Promise<void> {
  await Promise.all(ctx.platform.nodes.map((n) => ctx.platform.exec(n, on ? ['touch', FLAG] : ['rm', '-f', FLAG])));
}

const autoscaleCpu: Scenario = {
  name: 'autoscale-cpu',
  title: 'a ScaleCPU= group under a CPU burn scales up, and back to ScaleMin after the burn stops',
  async run(ctx) {
    const t0 = Date.now();
    const line = (msg: string) => ctx.note(`  +${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${msg}`);
    const printed = new Set<string>();
    const decisions = async () => {
      const rec = (await ctx.cluster.reg.listAutoscale()).get(TPL);
      for (const d of rec?.decisions ?? []) {
        const k = `${d.at}`;
        if (printed.has(k)) continue;
        printed.add(k);
        const obs = Object.entries(d.observed).map(([m, v]) => `${m} ${v}%`).join(', ') || 'none';
        line(`decision ${d.from} → ${d.to}: observed ${obs} over ${d.reporting} instance(s), target ${JSON.stringify(d.target)}, raw ${d.raw}; ${d.reason}`);
      }
    };
    await setFlag(ctx, false);
    await submitUnit(ctx.cluster.reg, TPL, TEXT);
    await setDesiredStates(ctx.cluster.reg, [TPL], 'launched');
    line(`submitted ${TPL} (CPU=100m ScaleMin=1 ScaleMax=3 ScaleCPU=50% ScaleDownWindow=10s); started`);
    await ctx.cluster.waitFor('instance 1 active', 30_000, async () =>
      ((await ctx.cluster.reg.listStates('scn-scale@1.service')).value.some((s) => s.state.activeState === 'active') ? true : undefined));
    line('instance 1 active, idle');

    try {
      await setFlag(ctx, true);
      const burn = Date.now();
      line(`burn on (${FLAG} on every node)`);
      await ctx.cluster.waitFor(`a scale-up within ${UP_WITHIN_MS / 1000} s`, UP_WITHIN_MS, async () => { await decisions(); return (await count(ctx)) > 1 ? true : undefined; })
        .catch(async (err) => { throw new ScenarioFailure(`${(err as Error).message}; reported: ${await reported(ctx)}`); });
      const upMs = Date.now() - burn;
      line(`scaled up to ${await count(ctx)} after ${(upMs / 1000).toFixed(1)} s`);
      // let it reach ScaleMax (every instance burns), briefly
      await ctx.cluster.waitFor('ScaleMax=3', 20_000, async () => { await decisions(); return (await count(ctx)) === 3 ? true : undefined; }).catch(() => undefined);
      line(`count ${await count(ctx)}`);
    } finally {
      await setFlag(ctx, false);
    }
    const stop = Date.now();
    line('burn off');
    await sleep(5000);
    await decisions();
    if ((await count(ctx)) === 1) throw new ScenarioFailure('scaled down within 5 s of the burn stopping: the 10 s ScaleDownWindow did not hold');
    await ctx.cluster.waitFor(`back to ScaleMin=1 within ${DOWN_WITHIN_MS / 1000} s`, DOWN_WITHIN_MS, async () => { await decisions(); return (await count(ctx)) === 1 ? true : undefined; })
      .catch(async (err) => { throw new ScenarioFailure(`${(err as Error).message}; reported: ${await reported(ctx)}`); });
    const downMs = Date.now() - stop;
    line(`scaled down to 1 after ${(downMs / 1000).toFixed(1)} s (window 10 s)`);
    await ctx.cluster.waitFor('instances 2.. gone', 30_000, async () =>
      ((await ctx.cluster.reg.listStates()).value.filter((s) => s.unit.startsWith('scn-scale@') && s.unit !== 'scn-scale@1.service').length === 0 ? true : undefined));
    await destroyUnit(ctx.cluster.reg, TPL);
    await ctx.cluster.waitFor('the group gone', 30_000, async () =>
      ((await ctx.cluster.reg.listStates()).value.some((s) => s.unit.startsWith('scn-scale@')) ? undefined : true));
    line('group destroyed');
    return { recoveryMs: downMs, verdict: (await finalCheck(ctx)).verdict };
  },
};

/** The autoscaling scenarios. */
export const autoscaleScenarios: Scenario[] = [autoscaleCpu];
