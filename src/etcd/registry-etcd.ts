/**
 * The registry on etcd (etcd3): reads, API writes and guarded schedule writes. Watches, machine
 * sessions and the election live in watch-etcd.ts, session-etcd.ts and election-etcd.ts; this class
 * puts them behind the interfaces of registry.ts.
 */
import { Range, type Etcd3, type IRequestOp } from 'etcd3';
import type { TargetState } from '../units/types';
import { createEtcdClient, etcdCall, MAX_TXN_OPS, type EtcdConnection } from './client';
import { decodeDesired, decodeMachine, decodeState, decodeUnit } from './codec';
import { EtcdElector } from './election-etcd';
import { KeyLayout } from './keys';
import type {
  AgentRegistry, ApplyResult, ClusterState, EngineRegistry, LeaderElector, LeaderGuard, Leadership, MachineRecord,
  MachineSession, MetadataWriter, Revisioned, ScheduleChange, StateReader, StoredUnit, SubmitOutcome, UnitBatchOp,
  UnitBatchResult, UnitBatchWriter, UnitRecord, UnitStateEntry, UnitWriter, WatchBatch, WatchScope,
} from './registry';
import { registerMachine } from './session-etcd';
import { watchScopes } from './watch-etcd';
import { EtcdUnitBatch } from './unit-batch-etcd';

export { MAX_TXN_OPS } from './client';
/** Keys per page when reading a prefix (keeps each response far below gRPC's 4 MiB default). */
const PAGE = 2000;

/** Counts etcd requests (unary calls and txns; not watch events or keep-alives). */
export interface RequestStats {
  requests: number;
}

/** Options of EtcdRegistry. */
export interface EtcdRegistryOptions extends EtcdConnection {
  prefix?: string;
}

/** Every registry interface, on one etcd3 client. `close()` closes the client. */
export class EtcdRegistry implements EngineRegistry, AgentRegistry, StateReader, UnitWriter, UnitBatchWriter, MetadataWriter, LeaderElector {
  readonly keys: KeyLayout;
  readonly stats: RequestStats = { requests: 0 };
  private readonly client: Etcd3;
  private readonly elector: EtcdElector;
  private readonly batch: EtcdUnitBatch;

  constructor(opts: EtcdRegistryOptions) {
    this.keys = new KeyLayout(opts.prefix);
    this.client = createEtcdClient(opts);
    this.elector = new EtcdElector(this.client, this.keys, this.stats);
    this.batch = new EtcdUnitBatch(this.client, this.keys, this.stats);
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

  private async getOne(key: string): Promise<string | null> {
    this.stats.requests++;
    return etcdCall('get', () => this.client.get(key).string());
  }

  /** @inheritdoc */
  async readCluster(): Promise<ClusterState> {
    const k = this.keys;
    const units = await this.range(k.kindPrefix('units'));
    const rev = units.revision;
    const [desired, schedule, machines, metadata] = await Promise.all([
      this.range(k.kindPrefix('desired'), rev), this.range(k.kindPrefix('schedule'), rev),
      this.range(k.kindPrefix('machines'), rev), this.range(k.kindPrefix('metadata'), rev),
    ]);
    const state: ClusterState = {
      revision: rev, units: new Map(), desired: new Map(), schedule: new Map(), machines: new Map(), metadata: new Map(),
    };
    for (const [key, v] of units.kvs) { const u = decodeUnit(key, v); state.units.set(u.name, u); }
    for (const [key, v] of desired.kvs) { const p = k.parse(key); if (p?.kind === 'desired') state.desired.set(p.unit, decodeDesired(key, v)); }
    for (const [key, v] of schedule.kvs) { const p = k.parse(key); if (p?.kind === 'schedule') state.schedule.set(p.unit, v); }
    for (const [key, v] of machines.kvs) { const m = decodeMachine(key, v); state.machines.set(m.id, m); }
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
    let batch: IRequestOp[][] = [];
    let ops = 0;
    const flush = async (): Promise<boolean> => {
      if (batch.length === 0) return true;
      this.stats.requests++;
      result.txns++;
      const flat = batch.flat();
      flat.push({ request_put: { key: Buffer.from(this.keys.writer), value: Buffer.from(guard.holder) } });
      const res = await etcdCall('schedule txn', () =>
        this.client.if(guard.key, 'Create', '==', guard.createRevision).then(...flat).commit());
      if (!res.succeeded) { result.notLeader = true; return false; }
      result.applied += batch.length;
      batch = []; ops = 0;
      return true;
    };
    for (const c of changes) {
      const cOps = this.scheduleOps(c);
      if (ops + cOps.length > MAX_TXN_OPS - 1 && !(await flush())) return result; // -1: the engine/writer put
      batch.push(cOps);
      ops += cOps.length;
    }
    await flush();
    return result;
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

  /** @inheritdoc */
  async listUnits(): Promise<Revisioned<UnitRecord[]>> {
    const r = await this.range(this.keys.kindPrefix('units'));
    return { revision: r.revision, value: r.kvs.map(([k, v]) => decodeUnit(k, v)) };
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
    const m = new Map<string, TargetState>();
    for (const [k, v] of r.kvs) { const p = this.keys.parse(k); if (p?.kind === 'desired') m.set(p.unit, decodeDesired(k, v)); }
    return { revision: r.revision, value: m };
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
    return { revision: r.revision, value: r.kvs.map(([k, v]) => decodeMachine(k, v)) };
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
    const out: UnitStateEntry[] = [];
    for (const [k, v] of r.kvs) {
      const p = this.keys.parse(k);
      if (p?.kind === 'states') out.push({ unit: p.unit, machine: p.machine, state: decodeState(k, v) });
    }
    return { revision: r.revision, value: out };
  }

  /** @inheritdoc */
  async submitUnit(unit: UnitRecord, opts: { replace?: boolean; desired?: TargetState } = {}): Promise<SubmitOutcome> {
    const key = this.keys.unit(unit.name);
    const value = JSON.stringify({ name: unit.name, text: unit.text, hash: unit.hash });
    const writes: IRequestOp[] = [{ request_put: { key: Buffer.from(key), value: Buffer.from(value) } }];
    if (opts.desired) writes.push({ request_put: { key: Buffer.from(this.keys.desired(unit.name)), value: Buffer.from(opts.desired) } });
    for (;;) {
      const current = await this.getOne(key);
      if (current !== null) {
        const old = decodeUnit(key, current);
        if (old.hash === unit.hash) return 'unchanged';
        if (!opts.replace) return 'exists';
      }
      // compare-and-swap on the value we saw, so two submitters cannot both "create"
      this.stats.requests++;
      const cmp = current === null
        ? this.client.if(key, 'Create', '==', 0)
        : this.client.if(key, 'Value', '==', current);
      const res = await etcdCall('submit txn', () => cmp.then(...writes).commit());
      if (res.succeeded) return current === null ? 'created' : 'replaced';
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
      .then(this.client.delete().key(this.keys.unit(name)), this.client.delete().key(this.keys.desired(name))).commit());
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
    return watchScopes(this.client, this.keys, scopes, opts);
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
