/**
 * Batch jobs (pure: src/jobs) over many generated runs on a simulated cluster (SEED=n replays one): runs that
 * exit 0 or fail at random, machines that die mid-run, a planner that places what the pass says to launch.
 * Invariants: a job that succeeded is never run again; runs of one unit never overlap; a job fails only after
 * BackoffLimit+1 failed runs; Completions= never has more than Parallelism= instances unfinished and ends with
 * every instance succeeded (or one failed for good); every job ends; a retry avoids the failed machine when another is free.
 */
import t from 'tap';
import { seededRandom } from '../../src/seeded-random';
import { planJobs, type JobsInput } from '../../src/jobs/jobs';
import { jobFinished, type JobRecord, type Job } from '../../src/jobs/types';
import { stepJob } from '../../src/jobs/job';
import type { UnitRecord, UnitStateRecord } from '../../src/etcd/registry';
import { parseUnit } from '../../src/units/unit';
import type { TargetState, UnitSpec } from '../../src/units/types';

const SEED = process.env.SEED ? Number(process.env.SEED) : undefined;

interface AgentRun { unit: string; machine: string; start: number; end: number; ok: boolean; ended: boolean }

function simulate(seed: number, mode: 'single' | 'completions') {
  const r = seededRandom(seed);
  const pFail = r() * 0.5;
  const limit = Math.floor(r() * 4);
  const n = 1 + Math.floor(r() * 6);
  const p = 1 + Math.floor(r() * n);
  const text = mode === 'single'
    ? `[Service]\nExecStart=/bin/true\n[X-Shoal]\nKind=batch\nBackoffLimit=${limit}\n`
    : `[Service]\nExecStart=/bin/true\n[X-Shoal]\nKind=batch\nBackoffLimit=${limit}\nCompletions=${n}\nParallelism=${p}\n`;
  const top = mode === 'single' ? 'job.service' : 'shard@.service';
  const units = new Map<string, UnitRecord>([[top, { name: top, text, hash: 'h'.repeat(40) }]]);
  const desired = new Map<string, TargetState>([[top, 'launched']]);
  const specs = new Map<string, UnitSpec>();
  const spec = (name: string) => {
    const rec = units.get(name);
    if (!rec) return null;
    if (!specs.has(name)) specs.set(name, parseUnit(name, rec.text));
    return specs.get(name)!;
  };
  const schedule = new Map<string, string>();
  const states = new Map<string, Map<string, UnitStateRecord>>();
  const jobs = new Map<string, JobRecord>();
  let live = new Set(['m1', 'm2', 'm3'].slice(0, 1 + Math.floor(r() * 3)));
  let nextMachine = 4;
  const runs: AgentRun[] = [];
  const violations: string[] = [];
  let maxUnfinished = 0;
  let now = 1_000_000;
  const succeededAt = new Map<string, number>();
  const seenOk = new Set<string>();
  for (let tick = 0; tick < 4000; tick++, now += 500) {
    const input: JobsInput = { units, spec, desired, schedule, states, jobs, live, now };
    // a success the leader's pass saw (before that, a machine lost with it takes the only record of it along)
    for (const [name, st] of states) for (const s of st.values()) if (s.exit?.status === 0 && s.activeState === 'inactive') seenOk.add(name);
    const out = planJobs(input);
    for (const c of out.changes) {
      if (c.kind === 'put-job') jobs.set(c.job.unit, c.job);
      else if (c.kind === 'delete-job') jobs.delete(c.unit);
      else if (c.kind === 'put-unit') { units.set(c.record.name, c.record); if (c.desired) desired.set(c.record.name, c.desired); }
      else if (c.kind === 'delete-unit') { units.delete(c.unit); desired.delete(c.unit); jobs.delete(c.unit); }
    }
    // the planner: launched batch units go to a live machine not avoided; others are unscheduled
    for (const [name] of units) {
      if (name.endsWith('@.service')) continue;
      const l = out.launch.get(name) ?? { launch: true, avoid: [] };
      const at = schedule.get(name);
      if (!l.launch) { schedule.delete(name); continue; }
      if (at && live.has(at)) continue;
      const free = [...live].filter((m) => !l.avoid.includes(m)).sort();
      if (free.length === 0) { schedule.delete(name); continue; }
      const m = free[Math.floor(r() * free.length)];
      const j = jobs.get(name);
      if (j?.kind === 'run' && j.status === 'succeeded') violations.push(`${name} placed again after it succeeded`);
      const lastFailed = j?.kind === 'run' ? j.runs.filter((x) => x.outcome === 'failed').at(-1)?.machine : undefined;
      if (lastFailed && m === lastFailed && free.length > 1) violations.push(`${name} retried on ${m} where it failed while another machine was free`);
      schedule.set(name, m);
    }
    // agents: run what is placed on them, end runs, unload what is no longer placed there (one tick late)
    for (const [name, m] of schedule) {
      if (!live.has(m)) continue;
      const st = states.get(name) ?? states.set(name, new Map()).get(name)!;
      if (!st.has(m)) {
        const overlap = runs.find((x) => x.unit === name && !x.ended);
        if (overlap) violations.push(`${name} starts on ${m} while its run on ${overlap.machine} has not ended`);
        if (seenOk.has(name)) violations.push(`${name} runs again after its success was seen`);
        runs.push({ unit: name, machine: m, start: now, end: now + 500 + Math.floor(r() * 5000), ok: r() >= pFail, ended: false });
        st.set(m, { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: '' });
      }
    }
    for (const run of runs) {
      if (run.ended || now < run.end) continue;
      const st = states.get(run.unit)?.get(run.machine);
      if (!st) continue;
      run.ended = true;
      if (run.ok) succeededAt.set(run.unit, now);
      st.activeState = run.ok ? 'inactive' : 'failed';
      st.exit = { result: run.ok ? 'success' : 'exit-code', code: 'exited', status: run.ok ? 0 : 1, startMs: run.start, endMs: now };
    }
    for (const [name, st] of states) {
      for (const m of [...st.keys()]) if (schedule.get(name) !== m && r() < 0.7) {
        st.delete(m);
        const run = runs.find((x) => x.unit === name && x.machine === m && !x.ended);
        if (run) run.ended = true; // stopped by the unload: never an exit
      }
      if (st.size === 0) states.delete(name);
    }
    // a machine dies now and then (its runs die with it); a fresh one joins
    if (r() < 0.01 && live.size > 0) {
      const dead = [...live][Math.floor(r() * live.size)];
      live = new Set([...live].filter((m) => m !== dead));
      for (const [, st] of states) st.delete(dead);
      for (const run of runs) if (run.machine === dead && !run.ended) run.ended = true;
      live.add(`m${nextMachine++}`);
    }
    if (mode === 'completions') {
      let unfinished = 0;
      for (const [name] of units) if (name !== top && !(jobs.get(name)?.kind === 'run' && jobFinished(jobs.get(name) as Job))) unfinished++;
      maxUnfinished = Math.max(maxUnfinished, unfinished);
      if (unfinished > p) violations.push(`${unfinished} instances unfinished at once, Parallelism=${p}`);
    }
    const all = [...jobs.values()];
    const done = mode === 'single' ? all.some((j) => j.unit === top && j.kind === 'run' && jobFinished(j))
      : (jobs.get(top)?.status === 'succeeded' || jobs.get(top)?.status === 'failed');
    if (done && tick > 10) break;
  }
  for (const j of jobs.values()) {
    if (j.kind !== 'run') continue;
    if (j.status === 'failed' && j.failures !== limit + 1) violations.push(`${j.unit} failed after ${j.failures} failed runs, BackoffLimit=${limit}`);
    if (j.status === 'succeeded' && j.failures > limit) violations.push(`${j.unit} ran again after ${j.failures} failures`);
  }
  const topJob = jobs.get(top);
  const ended = mode === 'single' ? topJob?.kind === 'run' && jobFinished(topJob) : topJob?.status === 'succeeded' || topJob?.status === 'failed';
  if (!ended) violations.push(`${top} did not end: ${JSON.stringify(topJob)}`);
  if (mode === 'completions' && topJob?.status === 'succeeded' && topJob.kind === 'completions' && topJob.succeeded !== n) violations.push(`succeeded with ${topJob.succeeded}/${n}`);
  return { violations, runs: runs.length, maxUnfinished, status: topJob?.status };
}

t.test('generated batch runs keep the invariants', async (t) => {
  const seeds = SEED !== undefined ? [SEED] : Array.from({ length: 300 }, (_, i) => i + 1);
  const outcomes = new Map<string, number>();
  for (const seed of seeds) {
    for (const mode of ['single', 'completions'] as const) {
      const res = simulate(seed, mode);
      outcomes.set(`${mode}:${res.status}`, (outcomes.get(`${mode}:${res.status}`) ?? 0) + 1);
      if (res.violations.length) t.fail(`SEED=${seed} ${mode}: ${res.violations.slice(0, 3).join('; ')}`);
    }
  }
  t.pass(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  if (SEED === undefined) {
    t.ok((outcomes.get('single:succeeded') ?? 0) > 50 && (outcomes.get('single:failed') ?? 0) > 5, 'both outcomes are covered');
  }
});

t.test('a stopped run (SIGTERM) is a failure, never a success', async (t) => {
  const live = new Set(['m1']);
  let s = stepJob(null, { unit: 'a.service', hash: 'h', backoffLimit: 1, placed: 'm1', live, now: 1000 });
  t.equal(s.job.status, 'running');
  const states = new Map([['m1', { loadState: 'loaded', activeState: 'inactive', subState: 'dead', hash: 'h', since: '', exit: { result: 'success', code: 'killed', status: 15, startMs: 1000, endMs: 2000 } }]]);
  s = stepJob(s.job, { unit: 'a.service', hash: 'h', backoffLimit: 1, placed: 'm1', states, live, now: 2000 });
  t.equal(s.job.status, 'retrying');
  t.match(s.job.message, /signal 15/);
  t.equal(s.launch, false);
});

t.test('a replaced unit is a new job; a succeeded one is never launched again', async (t) => {
  const live = new Set(['m1']);
  const ok = new Map([['m1', { loadState: 'loaded', activeState: 'inactive', subState: 'dead', hash: 'h', since: '', exit: { result: 'success', code: 'exited', status: 0, startMs: 1, endMs: 2 } }]]);
  let s = stepJob(null, { unit: 'a.service', hash: 'h', backoffLimit: 3, placed: 'm1', states: ok, live, now: 10 });
  t.equal(s.job.status, 'succeeded');
  s = stepJob(s.job, { unit: 'a.service', hash: 'h', backoffLimit: 3, live: new Set(['m2']), now: 20 });
  t.equal(s.launch, false, 'not after its machine is gone');
  t.equal(s.changed, false);
  s = stepJob(s.job, { unit: 'a.service', hash: 'other', backoffLimit: 3, states: ok, live, now: 30 });
  t.equal(s.job.status, 'pending');
  t.equal(s.launch, false, 'not where the old run is still loaded (its only machine)');
});
