/**
 * Batch-job scenarios on real agents (docs/jobs.md): a run that succeeds once and is not rerun after its
 * machine is killed; one that fails twice then succeeds (BackoffLimit=3, each retry on another machine);
 * Completions=6 Parallelism=2; a machine killed mid-run; a Schedule= timer across a leader kill. Every run
 * reports to a TCP counter on the host (10.88.0.1) with its unit name: the ground truth of how often each
 * really ran, beside shoal's own records. Each prints a timeline and destroys its units before the final check.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ScenarioFailure } from './cluster';
import { sleep, type Scenario, type ScenarioContext } from './scenario';
import { finalCheck } from './scenarios-node';
import { destroyUnit, setDesiredStates, submitUnit } from '../src/api/unit-ops';
import type { Job, JobRecord, TemplateJob } from '../src/jobs/types';

const HOST = '10.88.0.1';

/** One real execution of a batch run, as the counter saw it. */
interface Execution { unit: string; host: string; at: number }

/** Counts executions; `reply(unit, n)` (n = 1 for a unit's first run) says whether that run should succeed. */
class RunCounter {
  readonly runs: Execution[] = [];
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly reply: (unit: string, n: number) => boolean = () => true) {}
  async start(): Promise<void> {
    this.server = createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const [unit, host] = buf.slice(0, nl).trim().split(/\s+/);
        this.runs.push({ unit, host: host ?? '?', at: Date.now() });
        const n = this.runs.filter((r) => r.unit === unit).length;
        s.end(this.reply(unit, n) ? 'ok\n' : 'fail\n');
      });
    });
    await new Promise<void>((resolve, reject) => { this.server.once('error', reject); this.server.listen(0, HOST, () => resolve()); });
    this.port = (this.server.address() as { port: number }).port;
  }
  count(unit: string): number { return this.runs.filter((r) => r.unit === unit).length; }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A batch unit that reports to the counter, runs `seconds`, and exits 0 when the counter said ok. */
function batchText(port: number, seconds: number, opts: string[]): string {
  const run = `exec 3<>/dev/tcp/${HOST}/${port}; echo "%n $(hostname)" >&3; read -r x <&3; echo "run of %n on $(hostname): $x"; sleep ${seconds}; [ "$x" = ok ]`;
  return ['[Unit]', 'Description=shoal batch scenario', '', '[Service]', `ExecStart=/bin/bash -c '${run}'`, '', '[X-Shoal]', 'Kind=batch', ...opts, ''].join('\n');
}

/** A timeline of what the cluster did, relative to the scenario's start. */
class Timeline {
  readonly t0 = Date.now();
  constructor(private readonly ctx: ScenarioContext) {}
  rel(ms: number): string { return `+${((ms - this.t0) / 1000).toFixed(1).padStart(5)} s`; }
  line(msg: string): void { this.ctx.note(`  ${this.rel(Date.now())}  ${msg}`); }
}

async function jobs(ctx: ScenarioContext, prefix: string): Promise<Map<string, JobRecord>> {
  return new Map((await ctx.cluster.reg.listJobs()).filter((j) => j.unit.startsWith(prefix)).map((j) => [j.unit, j]));
}

async function runJob(ctx: ScenarioContext, unit: string): Promise<Job | undefined> {
  const j = (await jobs(ctx, unit)).get(unit);
  return j?.kind === 'run' ? j : undefined;
}

/** Machine id → testbed node name. */
async function nodesById(ctx: ScenarioContext): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const n of ctx.platform.nodes) m.set(await ctx.cluster.machineId(n), n);
  return m;
}

/** Waits for the job of `unit` to reach `status`, printing each new message. */
async function follow(ctx: ScenarioContext, tl: Timeline, unit: string, until: (j: JobRecord) => boolean, timeoutMs: number): Promise<JobRecord> {
  let last = '';
  return ctx.cluster.waitFor(`${unit} job`, timeoutMs, async () => {
    const j = (await jobs(ctx, unit)).get(unit);
    if (j && j.message !== last) { tl.line(`${unit}: ${j.status}: ${j.message}`); last = j.message; }
    return j && until(j) ? j : undefined;
  });
}

function printRuns(tl: Timeline, byId: Map<string, string>, js: Iterable<JobRecord>): void {
  for (const j of js) {
    if (j.kind !== 'run') continue;
    j.runs.forEach((r, i) => tl.line(`    ${j.unit} run ${i + 1} on ${byId.get(r.machine) ?? r.machine.slice(0, 8)}: ${r.startedAt ? tl.rel(r.startedAt) : '-'} → ${r.endedAt ? tl.rel(r.endedAt) : '-'} ${r.outcome ?? 'running'}${r.exitCode ? ` (${r.exitCode} ${r.exitStatus})` : ''}`));
  }
}

async function cleanup(ctx: ScenarioContext, names: string[], prefix: string): Promise<void> {
  for (const n of names) await destroyUnit(ctx.cluster.reg, n);
  await ctx.cluster.waitFor(`${prefix} units gone`, 30_000, async () => {
    const left = (await ctx.cluster.reg.listUnits()).value.filter((u) => u.name.startsWith(prefix));
    for (const u of left) await destroyUnit(ctx.cluster.reg, u.name);
    const states = (await ctx.cluster.reg.listStates()).value.filter((s) => s.unit.startsWith(prefix));
    return left.length === 0 && states.length === 0 ? true : undefined;
  });
}

const batchOnce: Scenario = {
  name: 'batch-once',
  title: 'a batch unit succeeds once; its machine killed afterwards, it is not run again (journal kept while the machine lived)',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const counter = new RunCounter();
    await counter.start();
    const unit = 'scn-batch-once.service';
    try {
      await submitUnit(ctx.cluster.reg, unit, batchText(counter.port, 2, []));
      await setDesiredStates(ctx.cluster.reg, [unit], 'launched');
      tl.line(`submitted and started ${unit} (sleep 2, exit 0)`);
      const done = await follow(ctx, tl, unit, (j) => j.status === 'succeeded' || j.status === 'failed', 60_000) as Job;
      if (done.status !== 'succeeded') throw new ScenarioFailure(`job ${done.status}: ${done.message}`);
      const byId = await nodesById(ctx);
      const node = byId.get(done.runs[0].machine)!;
      printRuns(tl, byId, [done]);
      await ctx.cluster.waitFor('the finished run unloaded', 20_000, async () => ((await ctx.cluster.reg.listStates(unit)).value.length === 0 ? true : undefined));
      const journal = await ctx.platform.exec(node, ['journalctl', '--no-pager', '-o', 'cat', '-u', unit]);
      if (!journal.stdout.includes(`run of ${unit} on`)) throw new ScenarioFailure(`the finished run's journal is not readable on ${node}: ${journal.stdout.slice(-300)}`);
      tl.line(`unloaded; its journal on ${node} still reads: ${journal.stdout.split('\n').find((l) => l.includes('run of'))}`);
      const t0 = Date.now();
      await ctx.platform.killNode(node);
      tl.line(`killed ${node}, where it ran`);
      await ctx.cluster.waitFor(`${node} gone`, ctx.ttlMs + 20_000, async () => ((await ctx.cluster.reg.listMachines()).value.some((m) => m.id === done.runs[0].machine) ? undefined : true));
      const ms = Date.now() - t0;
      tl.line(`${node}'s record expired; watching 4 s for a rerun`);
      await sleep(4000);
      const after = await runJob(ctx, unit);
      const placed = (await ctx.cluster.reg.listSchedule()).value.get(unit);
      if (counter.count(unit) !== 1 || after?.runs.length !== 1 || after.status !== 'succeeded' || placed) {
        throw new ScenarioFailure(`rerun after the machine loss: ${counter.count(unit)} executions, ${after?.runs.length} runs, ${after?.status}, placed on ${placed ?? 'none'}`);
      }
      tl.line(`still 1 execution, job succeeded with 1 run, not placed anywhere`);
      await ctx.platform.startNode(node);
      tl.line(`${node} booted again`);
      await cleanup(ctx, [unit], 'scn-batch-once');
      return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
    } finally {
      await counter.close();
    }
  },
};

const batchRetry: Scenario = {
  name: 'batch-retry',
  title: 'a batch unit fails twice, then succeeds (BackoffLimit=3): each retry later and on another machine',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const counter = new RunCounter((_u, n) => n >= 3);
    await counter.start();
    const unit = 'scn-batch-retry.service';
    try {
      await submitUnit(ctx.cluster.reg, unit, batchText(counter.port, 1, ['BackoffLimit=3']));
      const t0 = Date.now();
      await setDesiredStates(ctx.cluster.reg, [unit], 'launched');
      tl.line(`submitted and started ${unit}: the counter fails its first 2 runs`);
      const done = await follow(ctx, tl, unit, (j) => j.status === 'succeeded' || j.status === 'failed', 90_000) as Job;
      const byId = await nodesById(ctx);
      printRuns(tl, byId, [done]);
      const outcomes = done.runs.map((r) => r.outcome).join(',');
      if (done.status !== 'succeeded' || outcomes !== 'failed,failed,succeeded' || done.failures !== 2) throw new ScenarioFailure(`expected failed,failed,succeeded; got ${done.status} ${outcomes}`);
      const machines = done.runs.map((r) => r.machine);
      if (new Set(machines).size !== 3) throw new ScenarioFailure(`retries did not move to other machines: ${machines.map((m) => byId.get(m)).join(', ')}`);
      const gaps = done.runs.slice(1).map((r, i) => (r.startedAt ?? 0) - (done.runs[i].endedAt ?? 0));
      if (!(gaps[1] > gaps[0])) throw new ScenarioFailure(`retry delays did not grow: ${gaps.join(', ')} ms`);
      tl.line(`3 runs on 3 machines; gaps before retries ${gaps.map((g) => `${(g / 1000).toFixed(1)} s`).join(', ')}; ${counter.count(unit)} executions`);
      if (counter.count(unit) !== 3) throw new ScenarioFailure(`${counter.count(unit)} executions, expected 3`);
      const ms = Date.now() - t0;
      await cleanup(ctx, [unit], 'scn-batch-retry');
      return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
    } finally {
      await counter.close();
    }
  },
};

/** Most intervals overlapping at any instant. */
function maxOverlap(iv: [number, number][]): number {
  const ev = iv.flatMap(([a, b]) => [[a, 1], [b, -1]] as [number, number][]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of ev) { cur += d; max = Math.max(max, cur); }
  return max;
}

const batchCompletions: Scenario = {
  name: 'batch-completions',
  title: 'Completions=6 Parallelism=2: never more than 2 shards at once, 6 successes',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const counter = new RunCounter();
    await counter.start();
    const tpl = 'scn-shard@.service';
    try {
      await submitUnit(ctx.cluster.reg, tpl, batchText(counter.port, 2, ['Completions=6', 'Parallelism=2']));
      const t0 = Date.now();
      await setDesiredStates(ctx.cluster.reg, [tpl], 'launched');
      tl.line(`submitted and started ${tpl} (Completions=6 Parallelism=2, each sleeps 2 s)`);
      const done = await follow(ctx, tl, tpl, (j) => j.status === 'succeeded' || j.status === 'failed', 120_000) as TemplateJob;
      const all = await jobs(ctx, 'scn-shard@');
      const byId = await nodesById(ctx);
      printRuns(tl, byId, [...all.values()].sort((a, b) => a.unit.localeCompare(b.unit)));
      const runs = [...all.values()].flatMap((j) => (j.kind === 'run' ? j.runs : []));
      const iv = runs.map((r) => [r.startedAt ?? 0, r.endedAt ?? Infinity] as [number, number]);
      const overlap = maxOverlap(iv);
      const succeeded = [...all.values()].filter((j) => j.kind === 'run' && j.status === 'succeeded').length;
      tl.line(`${succeeded} shards succeeded; most running at once (systemd's start/exit times): ${overlap}; template record: maxActive ${done.maxActive}; ${counter.runs.length} executions`);
      if (done.status !== 'succeeded' || succeeded !== 6) throw new ScenarioFailure(`${done.status}: ${succeeded}/6 succeeded`);
      if (overlap > 2) throw new ScenarioFailure(`${overlap} shards ran at once > Parallelism=2`);
      if (counter.runs.length !== 6) throw new ScenarioFailure(`${counter.runs.length} executions, expected 6`);
      const ms = Date.now() - t0;
      await cleanup(ctx, [tpl], 'scn-shard@');
      return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
    } finally {
      await counter.close();
    }
  },
};

const batchMachineLost: Scenario = {
  name: 'batch-machine-lost',
  title: 'a machine killed mid-run: that shard runs again elsewhere and succeeds',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const counter = new RunCounter();
    await counter.start();
    const tpl = 'scn-lost@.service';
    const shard = 'scn-lost@1.service';
    try {
      await submitUnit(ctx.cluster.reg, tpl, batchText(counter.port, 8, ['Completions=2', 'Parallelism=2']));
      await setDesiredStates(ctx.cluster.reg, [tpl], 'launched');
      tl.line(`submitted and started ${tpl} (Completions=2 Parallelism=2, each sleeps 8 s)`);
      const running = await ctx.cluster.waitFor(`${shard} running`, 60_000, async () => {
        const j = await runJob(ctx, shard);
        return j?.status === 'running' && counter.count(shard) === 1 ? j : undefined;
      });
      const byId = await nodesById(ctx);
      const victimId = running.runs.at(-1)!.machine;
      const victim = byId.get(victimId)!;
      const t0 = Date.now();
      await ctx.platform.killNode(victim);
      tl.line(`killed ${victim} while ${shard} runs there`);
      const done = await follow(ctx, tl, tpl, (j) => j.status === 'succeeded' || j.status === 'failed', 120_000);
      const ms = Date.now() - t0;
      const all = await jobs(ctx, 'scn-lost@');
      printRuns(tl, byId, [...all.values()].sort((a, b) => a.unit.localeCompare(b.unit)));
      const s1 = all.get(shard) as Job;
      if (done.status !== 'succeeded') throw new ScenarioFailure(`${done.status}: ${done.message}`);
      const lost = s1.runs.filter((r) => r.outcome === 'lost');
      const last = s1.runs.at(-1)!;
      if (lost.length < 1 || lost[0].machine !== victimId || last.outcome !== 'succeeded' || last.machine === victimId) {
        throw new ScenarioFailure(`${shard} was not rerun elsewhere: ${s1.runs.map((r) => `${byId.get(r.machine)}:${r.outcome}`).join(', ')}`);
      }
      tl.line(`${shard}: lost on ${victim}, succeeded on ${byId.get(last.machine)}; failures counted: ${s1.failures}`);
      await ctx.platform.startNode(victim);
      tl.line(`${victim} booted again`);
      await cleanup(ctx, [tpl], 'scn-lost@');
      return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
    } finally {
      await counter.close();
    }
  },
};

const timerLeaderKill: Scenario = {
  name: 'batch-timer',
  title: 'Schedule=*:*:0/5 fires once per event across 3 machines, also across a leader kill',
  async run(ctx) {
    const tl = new Timeline(ctx);
    const counter = new RunCounter();
    await counter.start();
    const tpl = 'scn-tick@.service';
    try {
      await submitUnit(ctx.cluster.reg, tpl, batchText(counter.port, 1, ['Schedule=*:*:0/5', 'ConcurrencyPolicy=forbid']));
      await setDesiredStates(ctx.cluster.reg, [tpl], 'launched');
      const start = Date.now();
      tl.line(`submitted and started ${tpl} (Schedule=*:*:0/5, sleep 1)`);
      const seen = new Map<string, Job>();
      let killedAt = 0;
      let leaderNode = '';
      let leaderRaw = '';
      let t0 = 0;
      let firstAfterKill = 0;
      let tookOver = 0;
      while (Date.now() - start < 26_000) {
        for (const j of (await jobs(ctx, 'scn-tick@')).values()) {
          if (j.kind !== 'run') continue;
          if (!seen.has(j.unit)) tl.line(`fired ${j.unit} (event ${new Date(Number(j.unit.slice(9, -8)) * 1000).toISOString().slice(11, 19)})`);
          seen.set(j.unit, j);
          if (killedAt && !firstAfterKill && Number(j.unit.slice(9, -8)) * 1000 > killedAt) firstAfterKill = Date.now();
        }
        if (killedAt && !tookOver) {
          const now = await ctx.cluster.leader();
          if (now?.node && now.raw !== leaderRaw) { tookOver = Date.now(); tl.line(`new leader on ${now.node}`); }
        }
        if (!killedAt && Date.now() - start > 8_000) {
          const leader = await ctx.cluster.leader();
          if (!leader?.node) throw new ScenarioFailure(`cannot tell the leader's node (${leader?.raw})`);
          leaderNode = leader.node;
          leaderRaw = leader.raw;
          await ctx.platform.killShoald(leader.node);
          killedAt = Date.now();
          t0 = killedAt;
          tl.line(`killed the leader's shoald on ${leader.node}`);
        }
        await sleep(300);
      }
      // disarm (Schedule= fires only while the template is launched); let the runs fired so far end
      await ctx.cluster.reg.setDesired(tpl, 'inactive');
      const after = await ctx.cluster.leader();
      tl.line(`disarmed the timer; leader now ${after?.node ?? after?.raw} (was ${leaderNode})`);
      await ctx.cluster.waitFor('the fired runs ended', 20_000, async () => {
        for (const j of (await jobs(ctx, 'scn-tick@')).values()) if (j.kind === 'run') seen.set(j.unit, j);
        return [...seen.values()].every((j) => j.status === 'succeeded') ? true : undefined;
      });
      const events = [...seen.keys()].map((u) => Number(u.slice(9, -8))).sort((a, b) => a - b);
      const machines = new Set([...seen.values()].flatMap((j) => j.runs.map((r) => r.machine)));
      const multi = [...seen.keys()].filter((u) => counter.count(u) > 1);
      const unexpected = counter.runs.filter((r) => !seen.has(r.unit));
      const gaps = events.slice(1).map((e, i) => e - events[i]);
      tl.line(`${events.length} events fired (${events.map((e) => new Date(e * 1000).toISOString().slice(17, 19)).join(' ')} s), on ${machines.size} machines; ${counter.runs.length} executions; gaps ${gaps.join(',')} s`);
      if (events.some((e) => e % 5 !== 0)) throw new ScenarioFailure(`an instance for a time that is no event: ${events.join(', ')}`);
      if (multi.length || unexpected.length) throw new ScenarioFailure(`events run more than once: ${multi.join(', ')} ${unexpected.map((r) => r.unit).join(', ')}`);
      if (events.length < 4) throw new ScenarioFailure(`only ${events.length} events fired in 26 s`);
      if (counter.runs.length !== events.length) throw new ScenarioFailure(`${counter.runs.length} executions for ${events.length} events`);
      if (!firstAfterKill) throw new ScenarioFailure('no event fired after the leader kill');
      // missed events during the failover are fired once, as their latest (Persistent=true): a gap of at most 2 events
      if (gaps.some((g) => g > 15)) throw new ScenarioFailure(`events missed for good: gaps ${gaps.join(', ')} s`);
      tl.line(`new leader ${((tookOver - t0) / 1000).toFixed(1)} s after the kill; first event after the kill fired ${((firstAfterKill - t0) / 1000).toFixed(1)} s after it (events missed meanwhile fire once, as the latest: Persistent=true)`);
      await cleanup(ctx, [tpl], 'scn-tick@');
      return { recoveryMs: firstAfterKill - t0, verdict: (await finalCheck(ctx)).verdict };
    } finally {
      await counter.close();
    }
  },
};

/** The batch-job scenarios. */
export const jobScenarios: Scenario[] = [batchOnce, batchRetry, batchCompletions, batchMachineLost, timerLeaderKill];
