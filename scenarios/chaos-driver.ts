/**
 * The chaos campaign's I/O: runs rounds on a live cluster until the time is up. A round is a few
 * workload ops (chaos-workload.ts) sent to the registry as shoalctl would (src/api/unit-ops.ts),
 * one fault (chaos-nemesis.ts) injected on the platform, a few more ops while it lasts, a look at
 * the nodes just before it heals, the heal, then a wait until the cluster settles and stays settled
 * past one TTL, and the checks (chaos-check.ts). Every choice comes from one seeded PRNG drawn in a
 * fixed order, so a seed replays the same ops and faults (timings and the leader differ).
 */
import { destroyUnit, setDesiredStates, submitUnit } from '../src/api/unit-ops';
import { checkAfterFault, duringFaultProblems, type RegistryView } from './chaos-check';
import {
  ETCD_FAULTS, nextCompound, nextFault, touchedNodes, unobservableDuring, type Fault, type FaultKind,
} from './chaos-nemesis';
import {
  applyOp, campaignRandom, expectedUnits, initialOps, newWorkload, nextOp, opUnits, type WorkloadOp, type WorkloadState,
} from './chaos-workload';
import { evaluate, mainPids, type NodeView, type Observation } from './checks';
import type { Cluster } from './cluster';
import type { Platform } from './platform';
import { resetCluster } from './runner';
import { sleep } from './scenario';
import { UNIT_PREFIX } from './units';

/** Options of a campaign. */
export interface CampaignOptions {
  seed: number;
  /** Rounds start until this much time has passed since the workload settled, in ms. */
  durationMs: number;
  /** The fault kinds to draw from. */
  kinds: FaultKind[];
  /** Time allowed past TTL for the cluster to settle after a heal, in ms (default 15 000). */
  slackMs?: number;
  log?: (line: string) => void;
  /** Called with each member's shoald log after a round with violations (e.g. to keep them as files). */
  saveLog?: (name: string, text: string) => void;
}

/** One round of the table. */
export interface RoundResult {
  round: number;
  /** The fault, and sometimes a second one overlapping it. */
  faults: Fault[];
  /** The node each fault hit, resolved ('leader' → the leader's node), or null. */
  nodes: (string | null)[];
  ops: number;
  /** From the injection to the heal as it happened, in ms. */
  lastedMs: number;
  /** Heal → first settled observation of the final settled streak, in ms; null when it never settled. */
  settleMs: number | null;
  violations: string[];
}

/** A whole campaign. */
export interface CampaignResult {
  seed: number;
  rounds: RoundResult[];
  /** Violations of the initial workload (before any fault). */
  initial: string[];
  violations: number;
}

interface Settle { settled: boolean; ms: number; obs: Observation }

/** Runs a campaign on `platform` (already up) through `cluster`; never throws for a violation. */
export async function runCampaign(platform: Platform, cluster: Cluster, opts: CampaignOptions): Promise<CampaignResult> {
  const log = opts.log ?? (() => undefined);
  const ttlMs = platform.ttlSeconds * 1000;
  const slackMs = opts.slackMs ?? 15_000;
  const rnd = campaignRandom(opts.seed);
  const state = newWorkload(platform.nodes);
  const members = [...platform.nodes];
  let spare = platform.spare;
  let kinds = [...opts.kinds];
  if (!platform.pauseDockerd) kinds = kinds.filter((k) => k !== 'dockerd-pause');

  await resetCluster(platform, cluster, log);
  const init = initialOps(state);
  for (const op of init) await sendOp(cluster, op);
  const first = await settle(cluster, state, members, Date.now(), 3 * ttlMs + slackMs + 30_000, 0);
  const initial = checkAfterFault({
    units: expectedUnits(state), obs: first.obs, settled: first.settled, waitedMs: first.ms,
    registry: await readRegistry(cluster), pidsBefore: new Map(), touched: [], changed: new Set(),
  });
  log(`initial workload (${state.units.size} units) settled in ${first.ms} ms${initial.length ? `; ${initial.length} violations` : ''}`);
  let pids = mainPids(first.obs);
  const rounds: RoundResult[] = [];
  const t0 = Date.now();
  for (let round = 1; Date.now() - t0 < opts.durationMs; round++) {
    // every random draw of the round, in a fixed order, before any I/O
    const before = draw(state, rnd, 1 + Math.floor(rnd() * 3));
    const fault = nextFault({ nodes: members, spare, kinds, ttlMs }, rnd);
    const second = nextCompound({ nodes: members, spare, kinds, ttlMs }, fault, rnd);
    const faults = second ? [fault, second] : [fault];
    const etcdAway = faults.some((f) => ETCD_FAULTS.includes(f.kind));
    const during = etcdAway ? [] : draw(state, rnd, Math.floor(rnd() * 3));
    const row: RoundResult = { round, faults, nodes: [], ops: before.length + during.length, lastedMs: 0, settleMs: null, violations: [] };
    rounds.push(row);
    log(`round ${round}: ${before.length} ops, ${faults.map((f) => `${f.kind}${f.target ? ` ${f.target}` : ''} for ${f.durationMs} ms`).join(' + ')}, ${during.length} ops during`);
    try {
      for (const op of before) await sendOp(cluster, op);
      for (const f of faults) row.nodes.push(f.target === 'leader' ? await leaderNode(cluster) : f.target);
      if (row.nodes.length === 2 && row.nodes[0] !== null && row.nodes[0] === row.nodes[1]) {
        log(`  ${second!.kind} left out: the leader is on ${row.nodes[0]}, which ${fault.kind} hits`);
        faults.pop();
        row.nodes.pop();
      }
      const injectAt = Date.now();
      const healAt = await inject(platform, cluster, faults, row.nodes, members, state, during, row.violations, log);
      row.lastedMs = healAt - injectAt;
      if (fault.kind === 'node-join') { members.push(spare!); spare = null; }
      const s = await settle(cluster, state, members, healAt, ttlMs + slackMs, ttlMs + 1000);
      row.settleMs = s.settled ? s.ms : null;
      row.violations.push(...checkAfterFault({
        units: expectedUnits(state), obs: s.obs, settled: s.settled, waitedMs: s.ms, registry: await readRegistry(cluster),
        pidsBefore: pids, touched: faults.flatMap((f, i) => touchedNodes(f.kind, row.nodes[i])),
        changed: new Set([...before, ...during].flatMap(opUnits)),
      }));
      // after a violation, give the cluster time to recover so one fault is not counted many times
      const next = row.violations.length ? await settle(cluster, state, members, Date.now(), 60_000, 0) : s;
      pids = mainPids(next.obs);
    } catch (err) {
      row.violations.push(`driver: ${(err as Error).message}`);
      if (/not started by testbed/.test((err as Error).message)) {
        row.violations.pop();
        kinds = kinds.filter((k) => k !== 'dockerd-pause');
        log(`  dockerd-pause dropped from the menu: ${(err as Error).message}`);
      }
      pids = mainPids((await settle(cluster, state, members, Date.now(), 60_000, 0)).obs);
    }
    log(`round ${round}: ${row.settleMs === null ? 'not settled' : `settled in ${row.settleMs} ms`}, ${row.violations.length} violations`);
    for (const v of row.violations.slice(0, 8)) log(`  ${v}`);
    if (row.violations.length && opts.saveLog) {
      for (const m of members) {
        const text = await platform.shoaldLog(m, { timestamps: true }).catch((err) => `(no log: ${(err as Error).message})`);
        opts.saveLog(`seed${opts.seed}-round${round}-${faults.map((f) => f.kind).join('+')}-${m}.log`, text);
      }
    }
  }
  return { seed: opts.seed, rounds, initial, violations: initial.length + rounds.reduce((n, r) => n + r.violations.length, 0) };
}

/** `n` random ops, applied to the model as drawn. */
function draw(state: WorkloadState, rnd: () => number, n: number): WorkloadOp[] {
  const ops: WorkloadOp[] = [];
  for (let i = 0; i < n; i++) {
    const op = nextOp(state, rnd);
    applyOp(state, op);
    ops.push(op);
  }
  return ops;
}

/** Sends one op as the API does; retried (each step is idempotent) while etcd is slow. */
async function sendOp(cluster: Cluster, op: WorkloadOp): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      switch (op.type) {
        case 'submit':
          for (const u of op.units) await submitUnit(cluster.reg, u.name, u.text, { replace: true, desired: u.desired });
          return;
        case 'replace':
          for (const u of op.units) await submitUnit(cluster.reg, u.name, u.text, { replace: true });
          return;
        case 'set':
          await setDesiredStates(cluster.reg, op.names, op.desired);
          return;
        case 'destroy':
          for (const n of op.names) await destroyUnit(cluster.reg, n);
          return;
      }
    } catch (err) {
      if (attempt >= 5) throw new Error(`workload op ${op.type} ${opUnits(op).join(' ')} failed ${attempt} times: ${(err as Error).message}`);
      await sleep(1000);
    }
  }
}

async function leaderNode(cluster: Cluster): Promise<string> {
  const l = await cluster.waitFor('a leader engine', 15_000, async () => (await cluster.leader()) ?? undefined);
  if (!l.node) throw new Error(`cannot tell which node the leader runs on: ${l.raw}`);
  return l.node;
}

/** How to inject and heal one fault on `node` (one-shot faults heal by themselves). */
function actions(platform: Platform, kind: FaultKind, node: string | null): [() => Promise<void>, () => Promise<void>] {
  const n = node ?? '';
  const none = async () => undefined;
  const systemctl = (verb: string) => async () => {
    const r = await platform.exec(n, ['systemctl', verb, 'shoald.service']);
    if (r.code !== 0) throw new Error(`${n}: systemctl ${verb} shoald exited ${r.code}: ${r.stderr.trim()}`);
  };
  switch (kind) {
    case 'node-kill': return [() => platform.killNode(n), () => platform.startNode(n)];
    case 'node-poweroff': return [() => platform.poweroffNode(n), () => platform.startNode(n)];
    case 'node-cut': return [() => platform.cutNode(n), () => platform.healNode(n)];
    case 'node-freeze': return [() => platform.freezeNode(n), () => platform.thawNode(n)];
    case 'shoald-restart': return [() => platform.restartShoald(n), none];
    case 'shoald-stop': return [systemctl('stop'), systemctl('start')];
    case 'leader-kill': return [() => platform.killShoald(n), none];
    case 'leader-pause': return [() => platform.pauseShoald(n), () => platform.resumeShoald(n)];
    case 'etcd-pause': return [() => platform.pauseEtcd(), () => platform.resumeEtcd()];
    case 'etcd-restart': return [() => platform.restartEtcd(), none];
    case 'dockerd-pause': return [() => platform.pauseDockerd!(), () => platform.resumeDockerd!()];
    case 'node-join': return [() => platform.startNode(n), none];
  }
}

/**
 * Injects `faults` in order, sends `during` while they last, looks at the nodes that can still act
 * once the longest has lasted its time (violations into `out`), heals them in reverse order;
 * resolves with the time of the last heal.
 */
async function inject(
  platform: Platform, cluster: Cluster, faults: Fault[], nodes: (string | null)[], members: string[],
  state: WorkloadState, during: WorkloadOp[], out: string[], log: (l: string) => void,
): Promise<number> {
  const t = Date.now();
  const heals: (() => Promise<void>)[] = [];
  try {
    for (const [i, f] of faults.entries()) {
      const [start, heal] = actions(platform, f.kind, nodes[i]);
      await start();
      heals.unshift(heal);
    }
    for (const op of during) await sendOp(cluster, op);
    const lasts = Math.max(...faults.map((f) => f.durationMs));
    await sleep(Math.max(0, lasts - (Date.now() - t)));
    if (lasts > 0) {
      const gone = faults.flatMap((f, i) => unobservableDuring(f.kind, nodes[i]));
      const views = await observeNodes(cluster, members.filter((m) => !gone.includes(m)), state);
      out.push(...duringFaultProblems(expectedUnits(state), views));
    }
  } finally {
    for (const heal of heals) await heal().catch((err) => { log(`  heal failed: ${(err as Error).message}`); throw err; });
  }
  return Date.now();
}

/** systemd's view of our units in `nodes` (no registry: etcd may be away). */
async function observeNodes(cluster: Cluster, nodes: string[], state: WorkloadState): Promise<NodeView[]> {
  const names = expectedUnits(state).map((u) => u.name);
  return Promise.all(nodes.map(async (node) => ({ node, machineId: await cluster.machineId(node), units: await cluster.systemdView(node, names) })));
}

/**
 * Polls until the expected units are settled on `nodes` and have stayed so until `stableMs` after
 * `since` (moves a lease expiry would cause have happened by then), or `timeoutMs` after `since`.
 */
async function settle(cluster: Cluster, state: WorkloadState, nodes: string[], since: number, timeoutMs: number, stableMs: number): Promise<Settle> {
  const units = expectedUnits(state);
  let streak: number | null = null;
  let last: Observation | null = null;
  let lastErr = '';
  for (;;) {
    try {
      last = await cluster.observe(nodes, units);
      if (evaluate(units, last, UNIT_PREFIX).settled) {
        streak ??= Date.now();
        if (Date.now() - since >= stableMs) return { settled: true, ms: streak - since, obs: last };
      } else streak = null;
    } catch (err) {
      streak = null; // etcd or a node not answering yet: the same as not settled
      lastErr = (err as Error).message;
    }
    if (Date.now() - since > timeoutMs) {
      if (!last) throw new Error(`could not observe the cluster for ${timeoutMs} ms: ${lastErr}`);
      return { settled: false, ms: Date.now() - since, obs: last };
    }
    await sleep(250);
  }
}

/** Every `scn-*` unit's text and desired state in the registry. */
async function readRegistry(cluster: Cluster): Promise<RegistryView> {
  const [units, desired] = await Promise.all([cluster.reg.listUnits(), cluster.reg.listDesired()]);
  const texts = new Map(units.value.filter((u) => u.name.startsWith(UNIT_PREFIX)).map((u) => [u.name, u.text]));
  const d = new Map([...desired.value].filter(([n]) => n.startsWith(UNIT_PREFIX)));
  return { texts, desired: d };
}
