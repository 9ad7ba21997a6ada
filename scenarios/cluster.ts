/**
 * The scenarios' view of a running cluster: units in and out through the registry, observations
 * that join systemd's truth in every node with the registry's schedule and reported states, and
 * waits that time recovery.
 */
import { EtcdRegistry } from '../src/etcd/registry-etcd';
import type { RegistryEvent } from '../src/etcd/registry';
import { parseUnit } from '../src/units';
import { evaluate, type NodeView, type Observation, type SystemdUnitState, type Verdict } from './checks';
import type { Platform } from './platform';
import { UNIT_PREFIX, type ScenarioUnit } from './units';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The result of waiting for the cluster to settle. */
export interface Settled {
  /** Milliseconds from `since` to the first settled observation (or to the give-up). */
  ms: number;
  verdict: Verdict;
  obs: Observation;
}

/** A thrown check: the scenario failed, `message` says how. */
export class ScenarioFailure extends Error {
  constructor(message: string, readonly verdict?: Verdict) {
    super(message);
    this.name = 'ScenarioFailure';
  }
}

/** The engine leader as the registry shows it, mapped to a node when possible. */
export interface LeaderInfo {
  raw: string;
  node: string | null;
  pid?: number;
}

/** Registry + platform, for scenarios. `close()` when done. */
export class Cluster {
  readonly reg: EtcdRegistry;
  private readonly ids = new Map<string, string>();

  constructor(readonly platform: Platform, readonly log: (msg: string) => void = () => undefined) {
    this.reg = new EtcdRegistry({ endpoints: platform.etcdEndpoints, tls: platform.etcdTls, callTimeoutMs: platform.etcdCallTimeoutMs ?? 3000 });
  }

  /** The machine id `node` registers with (cached). */
  async machineId(node: string): Promise<string> {
    let id = this.ids.get(node);
    if (!id) {
      id = await this.platform.machineId(node);
      this.ids.set(node, id);
    }
    return id;
  }

  /** Forgets cached machine ids (a node that gets a new identity). */
  forget(node: string): void {
    this.ids.delete(node);
  }

  /** Submits `units` with their desired states, as `shoalctl submit` + `start`/`load` would. */
  async submit(units: ScenarioUnit[]): Promise<void> {
    for (const u of units) {
      const spec = parseUnit(u.name, u.text, { file: u.name });
      await this.reg.submitUnit({ name: spec.name, text: spec.text, hash: spec.hash }, { replace: true, desired: u.desired });
    }
  }

  /** Destroys every `scn-*` unit in the registry. */
  async destroyAll(): Promise<number> {
    const { value } = await this.reg.listUnits();
    const ours = value.filter((u) => u.name.startsWith(UNIT_PREFIX));
    for (const u of ours) await this.reg.destroyUnit(u.name);
    return ours.length;
  }

  /** systemd's view of `names` (and of any other scn-* unit it knows) inside `node`. */
  async systemdView(node: string, names: string[]): Promise<Map<string, SystemdUnitState>> {
    names = names.filter((n) => !/@\.[a-z]+$/.test(n)); // a template is no unit systemctl can show
    const script = 'systemctl show -p Id,LoadState,ActiveState,SubState,MainPID,Description -- "$@" '
      + `$(systemctl list-units --all --plain --no-legend '${UNIT_PREFIX}*' | awk '{print $1}')`;
    const r = await this.platform.exec(node, ['sh', '-c', script, 'sh', ...names]);
    if (r.code !== 0) throw new Error(`${node}: systemctl show exited ${r.code}: ${r.stderr.trim()}`);
    return parseSystemctlShow(r.stdout);
  }

  /** One observation of `nodes` (those that count) and the registry. */
  async observe(nodes: string[], units: ScenarioUnit[]): Promise<Observation> {
    const names = units.map((u) => u.name);
    const views: NodeView[] = await Promise.all(nodes.map(async (node) => ({
      node, machineId: await this.machineId(node), units: await this.systemdView(node, names),
    })));
    const [cluster, states] = await Promise.all([this.reg.readCluster(), this.reg.listStates()]);
    const reported = new Map<string, Map<string, string>>();
    for (const s of states.value) {
      if (!reported.has(s.unit)) reported.set(s.unit, new Map());
      reported.get(s.unit)!.set(s.machine, s.state.activeState);
    }
    return { nodes: views, schedule: cluster.schedule, machines: new Set(cluster.machines.keys()), reported };
  }

  /**
   * Polls until `units` are settled on `nodes` (see checks.ts) or `timeoutMs` passes; `since` is
   * when the clock started (the fault). Never throws for an unsettled cluster: read `verdict`.
   */
  async waitSettled(units: ScenarioUnit[], nodes: string[], timeoutMs: number, since = Date.now()): Promise<Settled> {
    timeoutMs *= this.platform.timeScale ?? 1;
    let last: Settled | undefined;
    for (;;) {
      try {
        const obs = await this.observe(nodes, units);
        const verdict = evaluate(units, obs, UNIT_PREFIX);
        last = { ms: Date.now() - since, verdict, obs };
        if (verdict.settled) return last;
      } catch (err) {
        this.log(`observe failed: ${(err as Error).message}`);
      }
      if (Date.now() - since > timeoutMs) {
        if (last) return { ...last, ms: Date.now() - since };
        throw new ScenarioFailure(`could not observe the cluster for ${timeoutMs} ms`);
      }
      await sleep(150);
    }
  }

  /** waitSettled, but throws a ScenarioFailure listing the problems when it does not settle. */
  async expectSettled(what: string, units: ScenarioUnit[], nodes: string[], timeoutMs: number, since = Date.now()): Promise<Settled> {
    const s = await this.waitSettled(units, nodes, timeoutMs, since);
    if (!s.verdict.settled) {
      throw new ScenarioFailure(`${what}: not settled after ${s.ms} ms: ${s.verdict.problems.slice(0, 6).join('; ')}`, s.verdict);
    }
    return s;
  }

  /** Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes; throws then. */
  async waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    timeoutMs *= this.platform.timeScale ?? 1;
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined) return v;
      } catch (err) {
        if (Date.now() > end) throw new ScenarioFailure(`${what}: ${(err as Error).message}`);
      }
      if (Date.now() > end) throw new ScenarioFailure(`${what}: not within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** The current engine leader, or null when there is none. */
  async leader(): Promise<LeaderInfo | null> {
    const raw = await this.reg.currentLeader();
    if (raw === null) return null;
    let parsed: { id?: string; host?: string; pid?: number } = {};
    try { parsed = JSON.parse(raw); } catch { /* not JSON: match by substring below */ }
    const all = [...this.platform.nodes, ...(this.platform.spare ? [this.platform.spare] : [])];
    let node: string | null = all.find((n) => [parsed.host, parsed.id].some((h) => h === n || h?.split('.')[0] === n)) ?? null;
    if (!node) {
      for (const n of all) {
        const id = this.ids.get(n);
        if (id && (parsed.id === id || parsed.id?.startsWith(id) || raw.includes(id))) node = n;
      }
    }
    return { raw, node, pid: parsed.pid };
  }

  /** Every schedule/assigned write seen from `fromRevision` until `ms` passes. */
  async watchScheduleWrites(fromRevision: number, ms: number, machines: string[]): Promise<RegistryEvent[]> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ms);
    const seen: RegistryEvent[] = [];
    const scopes = [{ kind: 'schedule' as const }, ...machines.map((machine) => ({ kind: 'assigned' as const, machine }))];
    try {
      for await (const b of this.reg.watch(scopes, { fromRevision, signal: ac.signal })) {
        if (b.reset) seen.push({ type: 'schedule', unit: '(compacted: changes missed)', value: null });
        seen.push(...b.events);
      }
    } finally {
      clearTimeout(timer);
    }
    return seen;
  }

  /**
   * Resolves with the ms from `since` until every unit of `units` is reported active by a machine
   * other than `lostMachine` (agent-reported states, followed by watch from `fromRevision`).
   */
  async waitReportedElsewhere(units: string[], lostMachine: string, fromRevision: number, since: number, timeoutMs: number): Promise<number> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    const active = new Map<string, Set<string>>(units.map((u) => [u, new Set()]));
    const done = () => [...active.values()].every((s) => s.size > 0);
    try {
      for await (const b of this.reg.watch([{ kind: 'states' }], { fromRevision, signal: ac.signal })) {
        for (const e of b.events) {
          if (e.type !== 'state' || e.machine === lostMachine || !active.has(e.unit)) continue;
          if (e.value?.activeState === 'active') active.get(e.unit)!.add(e.machine);
          else active.get(e.unit)!.delete(e.machine);
        }
        if (done()) return Date.now() - since;
      }
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
    const missing = [...active].filter(([, s]) => s.size === 0).map(([u]) => u);
    throw new ScenarioFailure(`not reported active elsewhere within ${timeoutMs} ms: ${missing.join(' ')}`);
  }

  /** Closes the registry client. */
  close(): void {
    this.reg.close();
  }
}

/** Parses `systemctl show -p Id,LoadState,ActiveState,SubState,MainPID,Description` output (blank-line separated blocks). */
export function parseSystemctlShow(out: string): Map<string, SystemdUnitState> {
  const map = new Map<string, SystemdUnitState>();
  for (const block of out.split(/\n\s*\n/)) {
    const kv = new Map<string, string>();
    for (const line of block.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
    }
    const id = kv.get('Id');
    if (!id) continue;
    map.set(id, {
      load: kv.get('LoadState') ?? '', active: kv.get('ActiveState') ?? '', sub: kv.get('SubState') ?? '',
      mainPid: Number(kv.get('MainPID') ?? 0),
      ...(kv.has('Description') ? { description: kv.get('Description') } : {}),
    });
  }
  return map;
}
