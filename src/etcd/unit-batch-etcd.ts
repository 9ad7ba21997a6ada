/**
 * Unit batches on etcd: chunks of 64 units, each read in one transaction of ranges and written in one
 * transaction guarded by a compare on every key read (its mod revision, 0 when absent). A refused write
 * returns the keys' current values in its failure branch, so a conflict costs one request, not a re-read.
 * A chunk of submits skips the read (new units are the common case): one request per 64 new units.
 */
import type { Etcd3, IKeyValue, IRequestOp, IResponseOp, ICompare } from 'etcd3';
import { UnavailableError } from '../errors';
import { decodeDesiredForWrite, decodeUnitForWrite } from './codec';
import type { KeyLayout } from './keys';
import type { StoredUnit, UnitBatchOp, UnitBatchResult, UnitRecord } from './registry';
import { decideUnitOp, opName, type UnitOpWrites } from './unit-batch';
import { etcdCall, MAX_TXN_OPS } from './client';

/** Units per chunk: two keys each (units/<name>, desired/<name>) in every list of the transaction. */
export const UNITS_PER_TXN = MAX_TXN_OPS / 2;
/** Chunks written at once: etcd batches concurrent transactions into one disk sync. */
const CHUNKS_IN_FLIGHT = 8;
/** Write attempts of one chunk under concurrent change before giving up. */
const MAX_ATTEMPTS = 20;

/** A stored unit with the mod revisions it was read at (0 when the key is absent). */
interface Seen extends StoredUnit {
  unitMod: string;
  desiredMod: string;
}

const range = (key: string): IRequestOp => ({ request_range: { key: Buffer.from(key) } });
const put = (key: string, value: string): IRequestOp => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
const del = (key: string): IRequestOp => ({ request_delete_range: { key: Buffer.from(key) } });
const sameMod = (key: string, mod: string): ICompare => ({ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: mod });

function first(r: IResponseOp | undefined): IKeyValue | undefined {
  return r?.response_range?.kvs?.[0];
}

/** What else a batch keeps consistent: versions of replaced units, and the keys of destroyed ones (docs/groups.md). */
export interface BatchHooks {
  /** Before a write that replaces `old` with `next` (history/ keeps both). */
  beforeReplace?: (old: UnitRecord, next: UnitRecord) => Promise<void>;
  /** After a chunk destroyed `names`. */
  afterDestroy?: (names: string[]) => Promise<void>;
}

/** Batch reads and writes of units on one etcd3 client; `stats.requests` counts each transaction. */
export class EtcdUnitBatch {
  constructor(
    private readonly client: Etcd3, private readonly keys: KeyLayout, private readonly stats: { requests: number },
    private readonly hooks: BatchHooks = {},
  ) {}

  /** Reads units/<name> and desired/<name> of each name, 64 names per transaction. */
  private async readChunk(names: string[]): Promise<Seen[]> {
    const ops: IRequestOp[] = [];
    for (const n of names) ops.push(range(this.keys.unit(n)), range(this.keys.desired(n)));
    this.stats.requests++;
    const res = await etcdCall('batch read', () => this.client.kv.txn({ compare: [], success: ops, failure: [] }));
    return names.map((_, i) => this.decode(first(res.responses[2 * i]), first(res.responses[2 * i + 1])));
  }

  private decode(unitKv: IKeyValue | undefined, desiredKv: IKeyValue | undefined): Seen {
    return {
      // a bad stored value never fails the batch: it is overwritten like any other (see decodeUnitForWrite)
      unit: unitKv ? decodeUnitForWrite(unitKv.key.toString(), unitKv.value.toString()) : null,
      desired: desiredKv ? decodeDesiredForWrite(desiredKv.key.toString(), desiredKv.value.toString()) : null,
      unitMod: unitKv?.mod_revision ?? '0',
      desiredMod: desiredKv?.mod_revision ?? '0',
    };
  }

  /** @see UnitBatchWriter.readUnits */
  async readUnits(names: string[]): Promise<Map<string, StoredUnit>> {
    const out = new Map<string, StoredUnit>();
    const distinct = [...new Set(names)];
    for (let i = 0; i < distinct.length; i += UNITS_PER_TXN) {
      const chunk = distinct.slice(i, i + UNITS_PER_TXN);
      const seen = await this.readChunk(chunk);
      chunk.forEach((n, j) => out.set(n, { unit: seen[j].unit, desired: seen[j].desired }));
    }
    return out;
  }

  /** @see UnitBatchWriter.applyUnitBatch */
  async applyUnitBatch(ops: UnitBatchOp[], onChunk?: (results: UnitBatchResult[]) => void): Promise<UnitBatchResult[]> {
    const names = ops.map(opName);
    if (new Set(names).size !== names.length) throw new Error('applyUnitBatch: unit names must be distinct');
    const chunks: UnitBatchOp[][] = [];
    for (let i = 0; i < ops.length; i += UNITS_PER_TXN) chunks.push(ops.slice(i, i + UNITS_PER_TXN));
    const done: UnitBatchResult[][] = new Array(chunks.length);
    let next = 0;
    let failed = false;
    // a few chunks in flight (their names are distinct, so they never conflict); the first failure stops new ones
    const worker = async () => {
      while (next < chunks.length && !failed) {
        const i = next++;
        try { done[i] = await this.applyChunk(chunks[i]); } catch (err) { failed = true; throw err; }
        onChunk?.(done[i]);
      }
    };
    const results = await Promise.allSettled(Array.from({ length: Math.min(CHUNKS_IN_FLIGHT, chunks.length) }, worker));
    const err = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (err) throw err.reason;
    return done.flat();
  }

  private async applyChunk(ops: UnitBatchOp[]): Promise<UnitBatchResult[]> {
    const k = this.keys;
    // a chunk of submits is written blind, as if every unit were new: its failure branch returns what is
    // stored, so new units cost one request and existing ones two; other ops need the read to decide
    const blind = ops.every((op) => op.kind === 'submit');
    const seen = blind ? ops.map((): Seen => ({ unit: null, desired: null, unitMod: '0', desiredMod: '0' })) : await this.readChunk(ops.map(opName));
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const decisions: UnitOpWrites[] = ops.map((op, i) => decideUnitOp(op, seen[i]));
      const compare: ICompare[] = [];
      const success: IRequestOp[] = [];
      const failure: IRequestOp[] = [];
      const writers: number[] = [];
      decisions.forEach((d, i) => {
        if (!d.putUnit && d.putDesired === undefined && !d.destroy) return;
        const name = opName(ops[i]);
        writers.push(i);
        compare.push(sameMod(k.unit(name), seen[i].unitMod), sameMod(k.desired(name), seen[i].desiredMod));
        failure.push(range(k.unit(name)), range(k.desired(name)));
        if (d.putUnit) success.push(put(k.unit(name), JSON.stringify({ name, text: d.putUnit.text, hash: d.putUnit.hash })));
        if (d.putDesired !== undefined) success.push(put(k.desired(name), d.putDesired));
        if (d.destroy) success.push(del(k.unit(name)), del(k.desired(name)));
      });
      const results = decisions.map((d, i): UnitBatchResult => ({ name: opName(ops[i]), outcome: d.outcome, previous: d.previous, hash: d.hash }));
      if (writers.length === 0) return results;
      for (const i of writers) {
        const old = seen[i].unit;
        const next = decisions[i].putUnit;
        if (old && next && old.hash !== next.hash) await this.hooks.beforeReplace?.(old, { name: old.name, text: next.text, hash: next.hash });
      }
      this.stats.requests++;
      const res = await etcdCall('batch txn', () => this.client.kv.txn({ compare, success, failure }));
      if (res.succeeded) {
        const gone = writers.filter((i) => decisions[i].destroy).map((i) => opName(ops[i]));
        if (gone.length) await this.hooks.afterDestroy?.(gone);
        return results;
      }
      writers.forEach((i, j) => { seen[i] = this.decode(first(res.responses[2 * j]), first(res.responses[2 * j + 1])); });
    }
    throw new UnavailableError('etcd.contention', `units ${ops.map(opName).slice(0, 3).join(', ')}…: changed concurrently ${MAX_ATTEMPTS} times while being written; try again`);
  }
}
