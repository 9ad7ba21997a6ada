/**
 * The web page's view of the cluster, built from one consistent read (ClusterState, states included).
 * Pure: machines with capacity and what the plan reserves on them, units with desired vs actual state per
 * machine, why an unplaced unit is unplaced (the planner's reason), groups and deployments, batch jobs, and
 * which engine leads.
 */
import { isTemplate, parseUnit } from '../units';
import { runPlan } from '../engine/plan';
import { snapshotOf } from '../api/explain';
import type { ClusterState, UnitStateRecord } from '../etcd/registry';
import type { PlacementStrategy, TargetState } from '../units/types';
import { isFinished } from '../deploy/types';
import { cordonState } from '../api/drain-ops';
import { runProgress, type JobRecord } from '../jobs/types';

/** One machine as the page shows it. Sizes: millicores and bytes. */
export interface MachineView {
  id: string;
  address: string;
  metadata: Record<string, string>;
  capacity: { cpuMillis: number; memoryBytes: number };
  /** What the units placed (and globals running) there request, as the scheduler counts it. */
  reserved: { cpuMillis: number; memoryBytes: number };
  version: string;
  startedAt: string;
  leaving: boolean;
  /** '', cordoned, draining or drained (shoalctl cordon / drain). */
  cordon: string;
  /** The agent's last load report (real use, not reservations); absent before the first. */
  load?: { at: string; cpuMillis: number; cpuTotalMillis: number; memoryBytes: number; memTotalBytes: number; diskUsedBytes: number; diskTotalBytes: number };
}

/** One unit's reported state on one machine. */
export interface UnitOnMachine {
  active: string;
  sub: string;
  health?: string;
  /** True when the agent runs the stored version of the unit file. */
  current: boolean;
  reason?: string;
}

/** One unit as the page shows it. */
export interface UnitView {
  name: string;
  desired: TargetState;
  kind: 'unit' | 'global' | 'template' | 'bad';
  /** Where the engine placed it ('' when not placed; globals: ''). */
  machine: string;
  /** machine → reported state. */
  states: Record<string, UnitOnMachine>;
  /** In words: what runs against what is wanted, e.g. `active on m1`, `inactive (want launched)`. */
  actual: string;
  /** True when what runs matches what is wanted. */
  ok: boolean;
  /** Why it is not placed (desired but unplaced), from the planner. */
  unplaced?: string;
}

/** One batch job (jobs/<unit>, src/jobs) as the page shows it, as `shoalctl jobs` does. Times: ms since the epoch. */
export interface JobView {
  unit: string;
  kind: 'run' | 'completions' | 'timer';
  /** pending, running, retrying, succeeded, failed; a timer: scheduled. */
  status: string;
  /** In words: `run 2, 1/3 failed`, `3/4 done`, `5 fired, 1 skipped`. */
  progress: string;
  /** Machine of the last run ('' before the first). */
  machine: string;
  /** How the last run ended (`status=0`, `signal (killed 9)`), '' when running or none. */
  exit: string;
  /** A timer's next event, or when a retrying job may run again (0: none). */
  next: number;
  finished: boolean;
  message: string;
  updatedAt: number;
}

/** The engine holding the leader key (engine/leader); its id is the machine id unless [engine] id says otherwise. */
export interface LeaderView {
  id: string;
  /** When it took over (ISO), when known. */
  since?: string;
}

/** The whole page. */
export interface StatusView {
  revision: number;
  /** ms since the epoch when it was read. */
  time: number;
  machines: MachineView[];
  units: UnitView[];
  groups: { template: string; count: number }[];
  deployments: { unit: string; status: string; step: number; steps: number; healthy: number; total: number; message: string; finished: boolean }[];
  /** Batch jobs: unfinished first, then the latest finished (at most MAX_JOBS). */
  jobs: JobView[];
  /** Jobs not shown beyond MAX_JOBS. */
  moreJobs: number;
  /** null when no engine leads (or it was not read). */
  leader: LeaderView | null;
  /** Keys skipped because their value is bad. */
  bad: number;
}

/** Most jobs listed on the page (timers keep a history; `shoalctl jobs` lists them all). */
export const MAX_JOBS = 50;

function jobView(j: JobRecord): JobView {
  const base = { unit: j.unit, kind: j.kind, status: j.status, message: j.message, updatedAt: j.updatedAt };
  if (j.kind === 'run') {
    const last = j.runs.at(-1);
    const exit = !last?.result ? '' : last.exitCode === 'exited' ? `status=${last.exitStatus ?? '?'}` : `${last.result}${last.exitCode ? ` (${last.exitCode} ${last.exitStatus ?? '?'})` : ''}`;
    const finished = j.status === 'succeeded' || j.status === 'failed';
    return { ...base, progress: runProgress(j), machine: last?.machine ?? '', exit, next: j.status === 'retrying' ? j.retryAt ?? 0 : 0, finished };
  }
  if (j.kind === 'completions') {
    return { ...base, progress: `${j.succeeded}/${j.completions ?? '?'} done${j.failed ? `, ${j.failed} failed` : ''}`, machine: '', exit: '', next: 0, finished: j.status !== 'running' };
  }
  return { ...base, progress: `${j.fired ?? 0} fired, ${j.skipped ?? 0} skipped`, machine: '', exit: '', next: j.nextEvent ?? 0, finished: false };
}

/** The leader key's value (`{"id", "since"}` as the engine writes it, or a bare id); null for none. */
export function leaderView(raw: string | null | undefined): LeaderView | null {
  if (!raw) return null;
  try {
    const o = JSON.parse(raw) as { id?: unknown; since?: unknown };
    if (typeof o.id === 'string') return typeof o.since === 'string' ? { id: o.id, since: o.since } : { id: o.id };
  } catch { /* a bare value */ }
  return { id: raw };
}

function loadOf(c: ClusterState, id: string): Pick<MachineView, 'load'> {
  const l = c.loads?.get(id);
  if (!l) return {};
  return {
    load: {
      at: l.at, cpuMillis: l.cpuMillis, cpuTotalMillis: l.cpuTotalMillis, memoryBytes: Math.max(0, l.memTotalBytes - l.memAvailableBytes),
      memTotalBytes: l.memTotalBytes, diskUsedBytes: Math.max(0, l.diskTotalBytes - l.diskFreeBytes), diskTotalBytes: l.diskTotalBytes,
    },
  };
}

function wantActive(desired: TargetState): string | null {
  return desired === 'launched' ? 'active' : desired === 'loaded' ? 'inactive' : null;
}

function judge(desired: TargetState, kind: UnitView['kind'], machine: string, states: Record<string, UnitOnMachine>, live: Set<string>): { actual: string; ok: boolean } {
  const want = wantActive(desired);
  const on = Object.entries(states).filter(([m]) => live.has(m));
  if (kind === 'template') return { actual: 'template', ok: true };
  if (kind === 'bad') return { actual: 'unit file does not parse', ok: false };
  if (kind === 'global') {
    if (!want) return { actual: on.length ? `stopping on ${on.length}` : 'inactive', ok: on.length === 0 };
    const good = on.filter(([, s]) => s.active === want && s.current).length;
    return { actual: `${want} on ${good} machine(s)`, ok: good === on.length && good > 0 };
  }
  if (!want) return { actual: on.length ? `still on ${on.map(([m]) => m).join(', ')}` : 'inactive', ok: on.length === 0 };
  if (!machine) return { actual: `not placed (want ${desired})`, ok: false };
  const s = states[machine];
  if (!live.has(machine)) return { actual: `on ${machine}, which is gone (want ${desired})`, ok: false };
  if (!s) return { actual: `placed on ${machine}, not reported yet`, ok: false };
  const text = `${s.active} (${s.sub}) on ${machine}`;
  return { actual: text, ok: s.active === want && s.current && s.health !== 'unhealthy' };
}

function onMachine(rec: UnitStateRecord, hash: string): UnitOnMachine {
  const out: UnitOnMachine = { active: rec.activeState, sub: rec.subState, current: rec.hash === hash };
  if (rec.health) out.health = rec.health;
  if (rec.reason) out.reason = rec.reason;
  return out;
}

/**
 * Builds the page's view of `c`. Runs the planner once (pure) to learn what it reserves per machine and why
 * units are unplaceable; `strategy` is the cluster's default placement strategy; `leader` the leader key's value.
 */
export function buildStatus(c: ClusterState, strategy?: PlacementStrategy, now = Date.now(), leader: string | null = null): StatusView {
  const snap = { ...snapshotOf(c), strategy };
  const { state, result } = runPlan(snap);
  const unplaceable = new Map(result.unplaceable.map((u) => {
    const per = u.rejections.slice(0, 5).map((r) => `${r.machine}: ${r.reason}`).join('; ') + (u.rejections.length > 5 ? `; … ${u.rejections.length - 5} more` : '');
    return [u.unit, [u.reason, per].filter(Boolean).join(': ')];
  }));
  const live = new Set(c.machines.keys());
  const reserved = new Map(state.machines.map((m) => [m.id, { cpuMillis: m.reservedCpu, memoryBytes: m.reservedMem }]));
  const machines: MachineView[] = [...c.machines.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((m) => ({
    id: m.id, address: m.address ?? '',
    metadata: { ...m.metadata, ...Object.fromEntries(c.metadata.get(m.id) ?? []) },
    capacity: { cpuMillis: m.capacity.cpuMillis ?? 0, memoryBytes: m.capacity.memoryBytes ?? 0 },
    reserved: reserved.get(m.id) ?? { cpuMillis: 0, memoryBytes: 0 },
    version: m.version, startedAt: m.startedAt, leaving: !!m.leaving,
    cordon: cordonState(c.cordons?.get(m.id), c.drains?.get(m.id)),
    ...loadOf(c, m.id),
  }));
  const units: UnitView[] = [];
  for (const rec of [...c.units.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const desired = c.desired.get(rec.name) ?? 'inactive';
    let kind: UnitView['kind'] = 'unit';
    let batch = false;
    try {
      const spec = parseUnit(rec.name, rec.text);
      kind = isTemplate(rec.name) ? 'template' : spec.options.global ? 'global' : 'unit';
      batch = !!spec.job;
    } catch { kind = 'bad'; }
    const states: Record<string, UnitOnMachine> = {};
    for (const [m, s] of c.states?.get(rec.name) ?? []) states[m] = onMachine(s, rec.hash);
    const machine = kind === 'unit' ? c.schedule.get(rec.name) ?? '' : '';
    const job = batch ? c.jobs?.get(rec.name) : undefined;
    const ended = job?.kind === 'run' && (job.status === 'succeeded' || job.status === 'failed' || job.status === 'retrying') ? job : undefined;
    // a batch unit that ran to its end (or waits to retry) is unscheduled on purpose: its job says how it stands
    const verdict = ended && desired === 'launched'
      ? { actual: ended.message.startsWith(ended.status) ? `job ${ended.message}` : `job ${ended.status}: ${ended.message}`, ok: ended.status === 'succeeded' }
      : judge(desired, kind, machine, states, live);
    const v: UnitView = { name: rec.name, desired, kind, machine, states, ...verdict };
    if (kind === 'unit' && !ended && desired !== 'inactive' && (!machine || !live.has(machine))) {
      v.unplaced = unplaceable.get(rec.name) ?? (machine ? `its machine ${machine} is gone: the engine moves it` : 'waiting for the engine to place it');
    }
    units.push(v);
  }
  const groups = [...(c.groups ?? new Map<string, number>())].map(([template, count]) => ({ template, count })).sort((a, b) => (a.template < b.template ? -1 : 1));
  const deployments = [...(c.deployments?.values() ?? [])].map((d) => ({
    unit: d.unit, status: d.status, step: d.step, steps: d.steps, healthy: d.healthy, total: d.total, message: d.message, finished: isFinished(d),
  })).sort((a, b) => Number(a.finished) - Number(b.finished) || (a.unit < b.unit ? -1 : 1));
  const allJobs = [...(c.jobs?.values() ?? [])].map(jobView)
    .sort((a, b) => Number(a.finished) - Number(b.finished) || b.updatedAt - a.updatedAt || (a.unit < b.unit ? -1 : 1));
  const jobs = allJobs.slice(0, MAX_JOBS);
  return { revision: c.revision, time: now, machines, units, groups, deployments, jobs, moreJobs: allJobs.length - jobs.length, leader: leaderView(leader), bad: c.bad?.length ?? 0 };
}
