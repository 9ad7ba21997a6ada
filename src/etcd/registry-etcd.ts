/**
 * The registry on etcd (etcd3): reads, API writes and guarded schedule writes. Watches, machine
 * sessions and the election live in watch-etcd.ts, session-etcd.ts and election-etcd.ts; this class
 * puts them behind the interfaces of registry.ts.
 */
import { UnavailableError } from '../errors';
import { Range, type Etcd3, type IRequestOp } from 'etcd3';
import { silentLogger, type Logger } from '../log';
import type { TargetState } from '../units/types';
import { createEtcdClient, etcdCall, MAX_TXN_OPS, type EtcdConnection } from './client';
import { badValue, decodeAutoscale, decodeCordon, decodeDrainProgress, decodeLoad, decodeCount, decodeDeployment, decodeJob, decodeDesired, decodeHistory, decodeMachine, decodeState, decodeUnit, decodeUnitForWrite } from './codec';
import { VERSIONS_KEPT, type Deployment, type UnitVersion } from '../deploy/types';
import type { JobRecord } from '../jobs/types';
import { EtcdElector } from './election-etcd';
import type { CordonRecord, DrainProgress } from '../drain/types';
import { KeyLayout } from './keys';
import type {
  AgentRegistry, ApplyResult, BadValue, ClusterState, MachineLoad, CordonStore, DrainWriter, EngineRegistry, GroupStore, GroupWriter, UnitChange, LeaderElector, LeaderGuard, Leadership, MachineRecord,
  MachineSession, MetadataWriter, Revisioned, ScheduleChange, StateReader, StoredUnit, SubmitOutcome, UnitBatchOp,
  UnitBatchResult, UnitBatchWriter, UnitRecord, UnitStateEntry, UnitWriter, WatchBatch, WatchScope,
} from './registry';
import { registerMachine } from './session-etcd';
import { watchScopes } from './watch-etcd';
import { EtcdUnitBatch } from './unit-batch-etcd';

export { MAX_TXN_OPS } from './client';
/** Transactions of new placements written at once by applySchedule (etcd commits concurrent ones in one disk sync). */
const PLACE_TXNS_IN_FLIGHT = 8;
/** Keys per page when reading a prefix (keeps each response far below gRPC's 4 MiB default). */
const PAGE = 2000;

/** history/<name> after replacing `old` with `next`: both kept (old first when missing), the last VERSIONS_KEPT. */
function appendVersions(key: string, raw: string | null, old: UnitRecord, next: UnitRecord): UnitVersion[] {
  let versions: UnitVersion[] = [];
  try { versions = raw === null ? [] : decodeHistory(key, raw); } catch { versions = []; } // a bad history is rebuilt
  if (!versions.some((v) => v.hash === old.hash)) versions.push({ hash: old.hash, text: old.text, time: 0 });
  versions = versions.filter((v) => v.hash !== next.hash);
  versions.push({ hash: next.hash, text: next.text, time: Date.now() });
  return versions.slice(-VERSIONS_KEPT);
}

/** Counts etcd requests (unary calls and txns; not watch events or keep-alives). */
export interface RequestStats {
  requests: number;
}

/** Options of EtcdRegistry. */
export interface EtcdRegistryOptions extends EtcdConnection {
  prefix?: string;
  /** Where retried etcd trouble inside watches and the election is reported (default: nowhere). */
  log?: Logger;
}

/** Every registry interface, on one etcd3 client. `close()` closes the client. */
export class EtcdRegistry implements EngineRegistry, GroupWriter, DrainWriter, CordonStore, GroupStore, AgentRegistry, StateReader, UnitWriter, UnitBatchWriter, MetadataWriter, LeaderElector {
  readonly keys: KeyLayout;
  readonly stats: RequestStats = { requests: 0 };
  private readonly client: Etcd3;
  private readonly elector: EtcdElector;
  private readonly batch: EtcdUnitBatch;
  private readonly log: Logger;
  private readonly conn: EtcdConnection;

  /** Throws ValidationError when a TLS file of `opts` cannot be read (naming its setting). */
  constructor(opts: EtcdRegistryOptions) {
    this.keys = new KeyLayout(opts.prefix);
    this.conn = opts;
    this.client = createEtcdClient(opts);
    this.log = opts.log ?? silentLogger;
    this.elector = new EtcdElector(this.client, this.keys, this.stats, this.log.child({ component: 'election' }));
    this.batch = new EtcdUnitBatch(this.client, this.keys, this.stats, {
      beforeReplace: (old, next) => this.keepVersions(old, next), afterDestroy: (names) => this.forgetUnits(names),
    });
  }

  /**
   * One read under the prefix, to learn whether etcd lets shoal in. Throws EtcdRefusedError naming the
   * setting to fix (certificate, CA, user name or password) or UnavailableError when etcd is not reachable.
   */
  async checkAccess(): Promise<void> {
    this.stats.requests++;
    await etcdCall('access check', () => this.client.get(this.keys.kindPrefix('machines')).string(), this.conn);
  }

  /** Reads every key under `prefix` at `revision` (latest when 0), page by page. */
  private async range(prefix: string, revision = 0): Promise<{ revision: number; kvs: [string, string][] }> {
    const out: [string, string][] = [];
    const end = Range.prefix(prefix).end;
    let start: Buffer | string = prefix;
    let rev = revision;
    for (;;) {
      this.stats.requests++;
      const b = this.client.getAll().inRange(new Range(start, end)).limit(PAGE);
      if (rev) b.revision(rev);
      const res = await etcdCall('range', () => b.exec());
      if (!rev) rev = Number(res.header.revision);
      for (const kv of res.kvs) out.push([kv.key.toString(), kv.value.toString()]);
      if (!res.more || res.kvs.length === 0) return { revision: rev, kvs: out };
      start = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
    }
  }

  /** Decodes each key's value; a bad one goes to `bad` (with the unit it names) instead of failing the read. */
  private decodeAll<T>(kvs: [string, string][], decode: (key: string, v: string) => T | undefined, bad: BadValue[]): T[] {
    const out: T[] = [];
    for (const [key, v] of kvs) {
      try {
        const x = decode(key, v);
        if (x !== undefined) out.push(x);
      } catch (err) {
        const p = this.keys.parse(key);
        bad.push(badValue(err, key, p && (p.kind === 'units' || p.kind === 'desired') ? p.unit : undefined));
      }
    }
    return out;
  }

  private async getOne(key: string): Promise<string | null> {
    this.stats.requests++;
    return etcdCall('get', () => this.client.get(key).string());
  }

  /** @inheritdoc */
  async readCluster(): Promise<ClusterState> {
    const k = this.keys;
    const units = await this.range(k.kindPrefix('units'));
    const rev = units.revision;
    const [desired, schedule, machines, metadata, groups, deployments, promote, states, loads, autoscale, cordons, drains, jobs] = await Promise.all([
      this.range(k.kindPrefix('desired'), rev), this.range(k.kindPrefix('schedule'), rev),
      this.range(k.kindPrefix('machines'), rev), this.range(k.kindPrefix('metadata'), rev),
      this.range(k.kindPrefix('groups'), rev), this.range(k.kindPrefix('deployments'), rev),
      this.range(k.kindPrefix('promote'), rev), this.range(k.kindPrefix('states'), rev),
      this.range(k.kindPrefix('load'), rev), this.range(k.kindPrefix('autoscale'), rev),
      this.range(k.kindPrefix('cordon'), rev), this.range(k.kindPrefix('drains'), rev), this.range(k.kindPrefix('jobs'), rev),
    ]);
    const state: ClusterState = {
      revision: rev, units: new Map(), desired: new Map(), schedule: new Map(), machines: new Map(), metadata: new Map(),
      groups: new Map(), deployments: new Map(), promotions: new Map(), states: new Map(), loads: new Map(), autoscale: new Map(), cordons: new Map(), drains: new Map(), jobs: new Map(), bad: [],
    };
    const bad = state.bad!;
    const entry = <T>(kind: string, decode: (key: string, v: string) => T) => (key: string, v: string): [string, T] | undefined => {
      const p = k.parse(key);
      return p?.kind === kind && 'unit' in p ? [p.unit, decode(key, v)] : undefined;
    };
    for (const [unit, n] of this.decodeAll(groups.kvs, entry('groups', decodeCount), bad)) state.groups!.set(unit, n);
    for (const [unit, d] of this.decodeAll(deployments.kvs, entry('deployments', decodeDeployment), bad)) state.deployments!.set(unit, d);
    const machineEntry = <T>(kind: string, decode: (key: string, v: string) => T) => (key: string, v: string): [string, T] | undefined => {
      const p = k.parse(key);
      return p?.kind === kind && 'machine' in p ? [p.machine, decode(key, v)] : undefined;
    };
    for (const [m, c] of this.decodeAll(cordons.kvs, machineEntry('cordon', decodeCordon), bad)) state.cordons!.set(m, c);
    for (const [m, d] of this.decodeAll(drains.kvs, machineEntry('drains', decodeDrainProgress), bad)) state.drains!.set(m, d);
    for (const [unit, j] of this.decodeAll(jobs.kvs, entry('jobs', decodeJob), bad)) state.jobs!.set(unit, j);
    for (const [key, v] of promote.kvs) { const p = k.parse(key); if (p?.kind === 'promote') state.promotions!.set(p.unit, v); }
    for (const [unit, a] of this.decodeAll(autoscale.kvs, entry('autoscale', decodeAutoscale), bad)) state.autoscale!.set(unit, a);
    const loadEntry = (key: string, v: string): [string, MachineLoad] | undefined => {
      const p = k.parse(key);
      return p?.kind === 'load' ? [p.machine, decodeLoad(key, v)] : undefined;
    };
    for (const [m, l] of this.decodeAll(loads.kvs, loadEntry, bad)) state.loads!.set(m, l);
    const stateEntry = (key: string, v: string) => {
      const p = k.parse(key);
      return p?.kind === 'states' ? { unit: p.unit, machine: p.machine, state: decodeState(key, v) } : undefined;
    };
    for (const e of this.decodeAll(states.kvs, stateEntry, bad)) {
      if (!state.states!.has(e.unit)) state.states!.set(e.unit, new Map());
      state.states!.get(e.unit)!.set(e.machine, e.state);
    }
    for (const u of this.decodeAll(units.kvs, decodeUnit, bad)) state.units.set(u.name, u);
    for (const [unit, d] of this.decodeAll(desired.kvs, (key, v) => this.desiredEntry(key, v), bad)) state.desired.set(unit, d);
    for (const [key, v] of schedule.kvs) { const p = k.parse(key); if (p?.kind === 'schedule') state.schedule.set(p.unit, v); }
    for (const m of this.decodeAll(machines.kvs, decodeMachine, bad)) state.machines.set(m.id, m);
    for (const [key, v] of metadata.kvs) {
      const p = k.parse(key);
      if (p?.kind !== 'metadata') continue;
      if (!state.metadata.has(p.machine)) state.metadata.set(p.machine, new Map());
      state.metadata.get(p.machine)!.set(p.key, v);
    }
    return state;
  }

  /** @inheritdoc */
  async applySchedule(guard: LeaderGuard, changes: ScheduleChange[]): Promise<ApplyResult> {
    const result: ApplyResult = { applied: 0, notLeader: false, txns: 0 };
    // changes packed in order into transactions (-1: each also puts engine/writer)
    const txns: { changes: ScheduleChange[]; ops: number; placesOnly: boolean }[] = [];
    let cur: (typeof txns)[number] | undefined;
    for (const c of changes) {
      const n = this.scheduleOps(c).length;
      if (!cur || cur.ops + n > MAX_TXN_OPS - 1) txns.push(cur = { changes: [], ops: 0, placesOnly: true });
      cur.changes.push(c);
      cur.ops += n;
      if (c.kind !== 'place') cur.placesOnly = false;
    }
    const ok: boolean[] = new Array(txns.length).fill(false);
    let error: unknown;
    const send = async (i: number): Promise<void> => {
      this.stats.requests++;
      result.txns++;
      try {
        const refused = await this.scheduleTxn(guard, txns[i].changes);
        if (refused) result[refused] = true; else ok[i] = true;
      } catch (err) {
        error ??= err;
      }
    };
    // a transaction that takes a unit off a machine is written alone, after everything before it: a unit
    // placed after it in the list may rely on it (a Conflicts= partner gone, capacity freed); transactions
    // of places only add keys, so a few of them go at once (etcd commits concurrent ones in one disk sync)
    const inFlight = new Set<Promise<void>>();
    const stop = () => result.notLeader || result.stale === true || error !== undefined;
    for (let i = 0; i < txns.length && !stop(); i++) {
      if (!txns[i].placesOnly) await Promise.all(inFlight);
      else if (inFlight.size >= PLACE_TXNS_IN_FLIGHT) await Promise.race(inFlight);
      if (stop()) break;
      const p: Promise<void> = send(i).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (!txns[i].placesOnly) await p;
    }
    await Promise.all(inFlight);
    // applied: the changes of the transactions committed before the first one that was not; transactions
    // after it may have committed too (they were in flight): the caller's watch brings them, and the
    // schedule-key compares refuse a plan that has not seen them yet
    for (let i = 0; i < txns.length && ok[i]; i++) result.applied += txns[i].changes.length;
    if (error !== undefined) throw error;
    return result;
  }

  /**
   * One schedule transaction: `changes` if the guard holds and every unit's schedule key is as its change
   * expects (see ScheduleWriter.applySchedule); else nothing, and why. The failure branch reads the leader
   * key in the same transaction, so 'stale' and 'notLeader' are told apart at the revision that refused.
   */
  private async scheduleTxn(guard: LeaderGuard, changes: ScheduleChange[]): Promise<'notLeader' | 'stale' | undefined> {
    const ops = changes.flatMap((c) => this.scheduleOps(c));
    ops.push({ request_put: { key: Buffer.from(this.keys.writer), value: Buffer.from(guard.holder) } });
    const res = await etcdCall('schedule txn', () => {
      const txn = this.client.if(guard.key, 'Create', '==', guard.createRevision);
      for (const c of changes) {
        // etcd: a missing key has create revision 0; a Value compare on a missing key fails
        if (c.kind === 'place') txn.and(this.keys.schedule(c.unit), 'Create', '==', 0);
        else txn.and(this.keys.schedule(c.unit), 'Value', '==', c.from);
      }
      return txn.then(...ops).else({ request_range: { key: Buffer.from(guard.key) } }).commit();
    });
    if (res.succeeded) return undefined;
    const leader = res.responses[0]?.response_range?.kvs?.[0];
    return leader && Number(leader.create_revision) === guard.createRevision ? 'stale' : 'notLeader';
  }

  private scheduleOps(c: ScheduleChange): IRequestOp[] {
    const k = this.keys;
    const put = (key: string, value: string): IRequestOp => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
    const del = (key: string): IRequestOp => ({ request_delete_range: { key: Buffer.from(key) } });
    switch (c.kind) {
      case 'place': return [put(k.schedule(c.unit), c.machine), put(k.assigned(c.machine, c.unit), c.unit)];
      case 'unschedule': return [del(k.schedule(c.unit)), del(k.assigned(c.from, c.unit))];
      case 'move': return [put(k.schedule(c.unit), c.to), del(k.assigned(c.from, c.unit)), put(k.assigned(c.to, c.unit), c.unit)];
    }
  }

  /** @inheritdoc */
  async getUnit(name: string): Promise<UnitRecord | null> {
    const key = this.keys.unit(name);
    const v = await this.getOne(key);
    return v === null ? null : decodeUnit(key, v);
  }

  /** [unit, state] of a desired/ key; undefined for a key that is not one. */
  private desiredEntry(key: string, v: string): [string, TargetState] | undefined {
    const p = this.keys.parse(key);
    return p?.kind === 'desired' ? [p.unit, decodeDesired(key, v)] : undefined;
  }

  /** @inheritdoc */
  async listUnits(): Promise<Revisioned<UnitRecord[]>> {
    const r = await this.range(this.keys.kindPrefix('units'));
    const bad: BadValue[] = [];
    const value = this.decodeAll(r.kvs, decodeUnit, bad);
    return { revision: r.revision, value, ...(bad.length ? { bad } : {}) };
  }

  /** @inheritdoc */
  async getDesired(name: string): Promise<TargetState | null> {
    const key = this.keys.desired(name);
    const v = await this.getOne(key);
    return v === null ? null : decodeDesired(key, v);
  }

  /** @inheritdoc */
  async listDesired(): Promise<Revisioned<Map<string, TargetState>>> {
    const r = await this.range(this.keys.kindPrefix('desired'));
    const bad: BadValue[] = [];
    const m = new Map(this.decodeAll(r.kvs, (key, v) => this.desiredEntry(key, v), bad));
    return { revision: r.revision, value: m, ...(bad.length ? { bad } : {}) };
  }

  /** @inheritdoc */
  async listAssigned(machine: string): Promise<Revisioned<string[]>> {
    const r = await this.range(this.keys.assignedPrefix(machine));
    const names: string[] = [];
    for (const [k] of r.kvs) { const p = this.keys.parse(k); if (p?.kind === 'assigned') names.push(p.unit); }
    return { revision: r.revision, value: names };
  }

  /** @inheritdoc */
  async listSchedule(): Promise<Revisioned<Map<string, string>>> {
    const r = await this.range(this.keys.kindPrefix('schedule'));
    const m = new Map<string, string>();
    for (const [k, v] of r.kvs) { const p = this.keys.parse(k); if (p?.kind === 'schedule') m.set(p.unit, v); }
    return { revision: r.revision, value: m };
  }

  /** @inheritdoc */
  async listMachines(): Promise<Revisioned<MachineRecord[]>> {
    const r = await this.range(this.keys.kindPrefix('machines'));
    const bad: BadValue[] = [];
    const value = this.decodeAll(r.kvs, decodeMachine, bad);
    return { revision: r.revision, value, ...(bad.length ? { bad } : {}) };
  }

  /** @inheritdoc */
  async getMetadata(machine: string): Promise<Map<string, string>> {
    const r = await this.range(this.keys.metadataPrefix(machine));
    const m = new Map<string, string>();
    for (const [k, v] of r.kvs) { const p = this.keys.parse(k); if (p?.kind === 'metadata') m.set(p.key, v); }
    return m;
  }

  /** @inheritdoc */
  async listStates(unit?: string): Promise<Revisioned<UnitStateEntry[]>> {
    const r = await this.range(unit ? this.keys.statesPrefix(unit) : this.keys.kindPrefix('states'));
    const bad: BadValue[] = [];
    const out = this.decodeAll(r.kvs, (k, v): UnitStateEntry | undefined => {
      const p = this.keys.parse(k);
      return p?.kind === 'states' ? { unit: p.unit, machine: p.machine, state: decodeState(k, v) } : undefined;
    }, bad);
    return { revision: r.revision, value: out, ...(bad.length ? { bad } : {}) };
  }

  /** @inheritdoc */
  async submitUnit(unit: UnitRecord, opts: { replace?: boolean; desired?: TargetState } = {}): Promise<SubmitOutcome> {
    const key = this.keys.unit(unit.name);
    const hkey = this.keys.history(unit.name);
    const value = JSON.stringify({ name: unit.name, text: unit.text, hash: unit.hash });
    for (;;) {
      this.stats.requests++;
      const [cur, hist] = await etcdCall('submit read', () => Promise.all([this.client.get(key).exec(), this.client.get(hkey).exec()]));
      const current = cur.kvs.length ? cur.kvs[0].value.toString() : null;
      const old = current === null ? null : decodeUnitForWrite(key, current);
      if (old) {
        if (old.hash === unit.hash) return 'unchanged';
        if (!opts.replace) return 'exists';
      }
      const writes: IRequestOp[] = [{ request_put: { key: Buffer.from(key), value: Buffer.from(value) } }];
      if (opts.desired) writes.push({ request_put: { key: Buffer.from(this.keys.desired(unit.name)), value: Buffer.from(opts.desired) } });
      const histRaw = hist.kvs.length ? hist.kvs[0].value.toString() : null;
      // a replace keeps the body it replaces (and the new one) in history/, in the same transaction
      if (old) writes.push({ request_put: { key: Buffer.from(hkey), value: Buffer.from(JSON.stringify(appendVersions(hkey, histRaw, old, unit))) } });
      // compare-and-swap on what we saw (unit and history), so two submitters cannot both "create" or lose a version
      this.stats.requests++;
      const cmp = current === null ? this.client.if(key, 'Create', '==', 0) : this.client.if(key, 'Value', '==', current);
      if (histRaw === null) cmp.and(hkey, 'Create', '==', 0); else cmp.and(hkey, 'Value', '==', histRaw);
      const res = await etcdCall('submit txn', () => cmp.then(...writes).commit());
      if (res.succeeded) return current === null ? 'created' : 'replaced';
    }
  }

  /**
   * Adds `old` (if missing) and `next` to history/<name> before a batch replaces `old` with `next`
   * (compare-and-swap; a version whose replace then loses a race stays listed, nothing is lost).
   */
  async keepVersions(old: UnitRecord, next: UnitRecord): Promise<void> {
    const hkey = this.keys.history(old.name);
    for (let attempt = 0; attempt < 20; attempt++) {
      const raw = await this.getOne(hkey);
      const value = JSON.stringify(appendVersions(hkey, raw, old, next));
      this.stats.requests++;
      const cmp = raw === null ? this.client.if(hkey, 'Create', '==', 0) : this.client.if(hkey, 'Value', '==', raw);
      if ((await etcdCall('history txn', () => cmp.then(this.client.put(hkey).value(value)).commit())).succeeded) return;
    }
    throw new UnavailableError('etcd.contention', `history of ${old.name} changed concurrently 20 times; try again`);
  }

  /** Deletes what belongs to destroyed units besides units/ and desired/: history, group count, deployment, promote. */
  async forgetUnits(names: string[]): Promise<void> {
    const ops: IRequestOp[] = names.flatMap((n) => [this.keys.history(n), this.keys.group(n), this.keys.deployment(n), this.keys.promote(n), this.keys.autoscale(n), this.keys.job(n)])
      .map((key) => ({ request_delete_range: { key: Buffer.from(key) } }));
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS) {
      this.stats.requests++;
      await etcdCall('forget txn', () => this.client.kv.txn({ compare: [], success: ops.slice(i, i + MAX_TXN_OPS), failure: [] }));
    }
  }

  /** @inheritdoc */
  async setDesired(name: string, state: TargetState): Promise<boolean> {
    this.stats.requests++;
    const res = await etcdCall('desired txn', () => this.client
      .if(this.keys.unit(name), 'Create', '>', 0)
      .then(this.client.put(this.keys.desired(name)).value(state)).commit());
    return res.succeeded;
  }

  /** @inheritdoc */
  async destroyUnit(name: string): Promise<boolean> {
    this.stats.requests++;
    const res = await etcdCall('destroy txn', () => this.client
      .if(this.keys.unit(name), 'Create', '>', 0)
      .then(...[this.keys.unit(name), this.keys.desired(name), this.keys.history(name), this.keys.group(name), this.keys.deployment(name), this.keys.promote(name), this.keys.autoscale(name), this.keys.job(name)]
        .map((key) => this.client.delete().key(key))).commit());
    return res.succeeded;
  }

  /** @inheritdoc */
  readUnits(names: string[]): Promise<Map<string, StoredUnit>> {
    return this.batch.readUnits(names);
  }

  /** @inheritdoc */
  applyUnitBatch(ops: UnitBatchOp[], onChunk?: (results: UnitBatchResult[]) => void): Promise<UnitBatchResult[]> {
    return this.batch.applyUnitBatch(ops, onChunk);
  }

  /** @inheritdoc */
  async applyUnitChanges(guard: LeaderGuard, changes: UnitChange[]): Promise<ApplyResult> {
    const k = this.keys;
    const put = (key: string, value: string): IRequestOp => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
    const del = (key: string): IRequestOp => ({ request_delete_range: { key: Buffer.from(key) } });
    const result: ApplyResult = { applied: 0, notLeader: false, txns: 0 };
    let batch: IRequestOp[] = [];
    let count = 0;
    const flush = async (): Promise<boolean> => {
      if (count === 0) return true;
      this.stats.requests++;
      result.txns++;
      const res = await etcdCall('group txn', () => this.client.if(guard.key, 'Create', '==', guard.createRevision).then(...batch).commit());
      if (!res.succeeded) { result.notLeader = true; return false; }
      result.applied += count;
      batch = []; count = 0;
      return true;
    };
    for (const c of changes) {
      let ops: IRequestOp[];
      if (c.kind === 'put-unit') {
        ops = [put(k.unit(c.record.name), JSON.stringify({ name: c.record.name, text: c.record.text, hash: c.record.hash }))];
        if (c.desired) ops.push(put(k.desired(c.record.name), c.desired));
      } else if (c.kind === 'delete-unit') {
        ops = [del(k.unit(c.unit)), del(k.desired(c.unit)), del(k.job(c.unit))];
      } else if (c.kind === 'put-desired') {
        ops = [put(k.desired(c.unit), c.desired)];
      } else if (c.kind === 'put-scale') {
        ops = [put(k.group(c.unit), String(c.count)), put(k.autoscale(c.unit), JSON.stringify(c.record))];
      } else if (c.kind === 'put-job') {
        ops = [put(k.job(c.job.unit), JSON.stringify(c.job))];
      } else if (c.kind === 'delete-job') {
        ops = [del(k.job(c.unit))];
      } else ops = [put(k.deployment(c.deployment.unit), JSON.stringify(c.deployment))];
      if (batch.length + ops.length > MAX_TXN_OPS && !(await flush())) return result;
      batch.push(...ops);
      count++;
    }
    await flush();
    return result;
  }

  /** @inheritdoc */
  async putDrainProgress(guard: LeaderGuard, progress: DrainProgress): Promise<'ok' | 'stale' | 'not-leader'> {
    const ck = this.keys.cordon(progress.machine);
    this.stats.requests++;
    const res = await etcdCall('drain txn', () => this.client.if(guard.key, 'Create', '==', guard.createRevision)
      .then(this.client.get(ck)).commit());
    if (!res.succeeded) return 'not-leader';
    const raw = res.responses[0]?.response_range?.kvs?.[0];
    if (!raw) return 'stale';
    let cordon: CordonRecord;
    try { cordon = decodeCordon(ck, raw.value.toString()); } catch { return 'stale'; }
    if (cordon.drain?.id !== progress.id) return 'stale';
    // written only if the cordon is still the one just read (its mod revision), so an uncordon in between wins
    this.stats.requests++;
    const put = await etcdCall('drain txn', () => this.client.if(guard.key, 'Create', '==', guard.createRevision)
      .and(ck, 'Mod', '==', Number(raw.mod_revision))
      .then(this.client.put(this.keys.drainProgress(progress.machine)).value(JSON.stringify(progress))).commit());
    if (put.succeeded) return 'ok';
    return (await this.currentLeaderRevision()) === guard.createRevision ? 'stale' : 'not-leader';
  }

  private async currentLeaderRevision(): Promise<number> {
    this.stats.requests++;
    const res = await etcdCall('get', () => this.client.getAll().prefix(this.keys.leader).exec());
    const kv = res.kvs.find((x) => x.key.toString() === this.keys.leader);
    return kv ? Number(kv.create_revision) : 0;
  }

  /** @inheritdoc */
  async getCordon(machine: string): Promise<CordonRecord | null> {
    const key = this.keys.cordon(machine);
    const v = await this.getOne(key);
    return v === null ? null : decodeCordon(key, v);
  }

  /** @inheritdoc */
  async listCordons(): Promise<Map<string, CordonRecord>> {
    const out = new Map<string, CordonRecord>();
    for (const [key, v] of (await this.range(this.keys.kindPrefix('cordon'))).kvs) {
      const p = this.keys.parse(key);
      if (p?.kind !== 'cordon') continue;
      try { out.set(p.machine, decodeCordon(key, v)); } catch { /* a bad value: listings show it as not cordoned */ }
    }
    return out;
  }

  /** @inheritdoc */
  async putCordon(machine: string, record: CordonRecord): Promise<void> {
    const pk = this.keys.drainProgress(machine);
    this.stats.requests++;
    const prev = await etcdCall('get', () => this.client.get(pk).string());
    let stale = prev !== null;
    if (prev !== null && record.drain) {
      try { stale = decodeDrainProgress(pk, prev).id !== record.drain.id; } catch { stale = true; }
    }
    // the cordon first: from then on the leader cannot write progress of an older drain (putDrainProgress)
    this.stats.requests++;
    await etcdCall('put', () => this.client.put(this.keys.cordon(machine)).value(JSON.stringify(record)).exec());
    if (stale) {
      this.stats.requests++;
      await etcdCall('delete', () => this.client.delete().key(pk).exec());
    }
  }

  /** @inheritdoc */
  async deleteCordon(machine: string): Promise<boolean> {
    this.stats.requests++;
    const res = await etcdCall('uncordon txn', () => this.client.if(this.keys.cordon(machine), 'Version', '>', 0)
      .then(this.client.delete().key(this.keys.cordon(machine)), this.client.delete().key(this.keys.drainProgress(machine))).commit());
    return res.succeeded;
  }

  /** @inheritdoc */
  async getDrainProgress(machine: string): Promise<DrainProgress | null> {
    const key = this.keys.drainProgress(machine);
    const v = await this.getOne(key);
    return v === null ? null : decodeDrainProgress(key, v);
  }

  /** @inheritdoc */
  async getHistory(name: string): Promise<UnitVersion[]> {
    const key = this.keys.history(name);
    const v = await this.getOne(key);
    return v === null ? [] : decodeHistory(key, v);
  }

  /** @inheritdoc */
  async setScale(template: string, count: number): Promise<boolean> {
    this.stats.requests++;
    const res = await etcdCall('scale txn', () => this.client
      .if(this.keys.unit(template), 'Create', '>', 0)
      .then(this.client.put(this.keys.group(template)).value(String(count))).commit());
    return res.succeeded;
  }

  /** @inheritdoc */
  async getScale(template: string): Promise<number | null> {
    const key = this.keys.group(template);
    const v = await this.getOne(key);
    return v === null ? null : decodeCount(key, v);
  }

  /** @inheritdoc */
  async listScales(): Promise<Map<string, number>> {
    const r = await this.range(this.keys.kindPrefix('groups'));
    const m = new Map<string, number>();
    for (const [k, v] of r.kvs) { const p = this.keys.parse(k); if (p?.kind === 'groups') m.set(p.unit, decodeCount(k, v)); }
    return m;
  }

  /** @inheritdoc */
  async listLoads(): Promise<Map<string, MachineLoad>> {
    const r = await this.range(this.keys.kindPrefix('load'));
    const m = new Map<string, MachineLoad>();
    for (const [k, v] of r.kvs) {
      const p = this.keys.parse(k);
      if (p?.kind !== 'load') continue;
      try { m.set(p.machine, decodeLoad(k, v)); } catch (err) { badValue(err, k); } // a bad report is left out
    }
    return m;
  }

  /** The autoscaler's stored decisions of every group (template → record); bad values are left out. */
  async listAutoscale(): Promise<Map<string, import('../autoscale/types').AutoscaleRecord>> {
    const r = await this.range(this.keys.kindPrefix('autoscale'));
    const m = new Map<string, import('../autoscale/types').AutoscaleRecord>();
    for (const [k, v] of r.kvs) {
      const p = this.keys.parse(k);
      if (p?.kind !== 'autoscale') continue;
      try { m.set(p.unit, decodeAutoscale(k, v)); } catch (err) { badValue(err, k); }
    }
    return m;
  }

  /** @inheritdoc */
  async listDeployments(): Promise<Deployment[]> {
    const r = await this.range(this.keys.kindPrefix('deployments'));
    return r.kvs.map(([k, v]) => decodeDeployment(k, v));
  }

  /** @inheritdoc */
  async listJobs(): Promise<JobRecord[]> {
    const r = await this.range(this.keys.kindPrefix('jobs'));
    const out: JobRecord[] = [];
    for (const [k, v] of r.kvs) { try { out.push(decodeJob(k, v)); } catch { /* a bad value: listed by nobody, skipped like a watch does */ } }
    return out;
  }

  /** @inheritdoc */
  async setPromote(name: string, id: string): Promise<void> {
    this.stats.requests++;
    await etcdCall('put', () => this.client.put(this.keys.promote(name)).value(id).exec());
  }

  /** @inheritdoc */
  async setMetadata(machine: string, key: string, value: string): Promise<void> {
    this.stats.requests++;
    await etcdCall('put', () => this.client.put(this.keys.metadata(machine, key)).value(value).exec());
  }

  /** @inheritdoc */
  async deleteMetadata(machine: string, key: string): Promise<boolean> {
    this.stats.requests++;
    const res = await etcdCall('delete', () => this.client.delete().key(this.keys.metadata(machine, key)).exec());
    return Number(res.deleted) > 0;
  }

  /** @inheritdoc */
  register(record: MachineRecord, ttlSeconds: number): Promise<MachineSession> {
    return registerMachine(this.client, this.keys, this.stats, record, ttlSeconds);
  }

  /** @inheritdoc */
  watch(scopes: WatchScope[], opts: { fromRevision?: number; signal?: AbortSignal } = {}): AsyncIterable<WatchBatch> {
    return watchScopes(this.client, this.keys, scopes, { ...opts, log: this.log });
  }

  /** @inheritdoc */
  campaign(value: string, ttlSeconds: number, signal: AbortSignal): Promise<Leadership | null> {
    return this.elector.campaign(value, ttlSeconds, signal);
  }

  /** @inheritdoc */
  currentLeader(): Promise<string | null> {
    return this.elector.currentLeader();
  }

  /** Closes the etcd client (open watches end, leases stop being kept alive). Idempotent. */
  close(): void {
    this.client.close();
  }
}
