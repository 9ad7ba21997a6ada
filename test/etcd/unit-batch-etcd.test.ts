/** Unit batches against a real etcd: per-unit outcomes, transactions of at most 128 ops, no lost or doubled write under races. */
import t from 'tap';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { UnitBatchOp, UnitBatchResult } from '../../src/etcd/registry';
import { seededRandom } from '../../src/seeded-random';
import { dump, revision } from './etcdctl';

let etcd: EtcdServer;
const regs: EtcdRegistry[] = [];
const newReg = (prefix: string) => { const r = new EtcdRegistry({ ...etcd.connection, prefix, callTimeoutMs: 5000 }); regs.push(r); return r; };
const rec = (name: string, v = 1) => ({ name, text: `[Service]\nExecStart=/bin/sleep ${v}\n`, hash: `h${v}` });

t.before(async () => { etcd = await startEtcd({ tls: true, auth: true }); });
t.teardown(async () => { for (const r of regs) r.close(); await etcd.close(); });

t.test('300 new units: one blind write transaction per 64 units (etcd refuses more than 128 ops)', async (t) => {
  const reg = newReg('/b1/');
  const ops: UnitBatchOp[] = Array.from({ length: 300 }, (_, i) => ({ kind: 'submit', unit: rec(`u${i}.service`), desired: 'launched' }));
  const chunks: number[] = [];
  const rev0 = revision(etcd);
  const before = reg.stats.requests;
  const res = await reg.applyUnitBatch(ops, (r) => chunks.push(r.length));
  t.same(chunks.sort((a, b) => b - a), [64, 64, 64, 64, 44], 'results reported per chunk as committed');
  t.equal(reg.stats.requests - before, 5, '5 chunks, one write each');
  t.equal(revision(etcd) - rev0, 5, 'each chunk is one transaction (one revision)');
  t.ok(res.every((r) => r.outcome === 'created' && r.previous === null && r.hash === 'h1'));
  const kv = dump(etcd, '/b1/');
  t.equal(Object.keys(kv).length, 600);
  t.equal(kv['/b1/desired/u299.service'], 'launched');

  const before2 = reg.stats.requests;
  const again = await reg.applyUnitBatch(ops);
  t.ok(again.every((r) => r.outcome === 'unchanged' && r.previous === 'launched'), 'same bodies: unchanged, nothing written');
  t.equal(reg.stats.requests - before2, 5, 'the refused blind write returned what is stored: no second request');
  t.equal(revision(etcd) - rev0, 5, 'no write for an unchanged batch');
});

t.test('every outcome, per unit', async (t) => {
  const reg = newReg('/b2/');
  await reg.applyUnitBatch([
    { kind: 'submit', unit: rec('a.service'), desired: 'launched' },
    { kind: 'submit', unit: rec('b.service'), desired: 'loaded' },
    { kind: 'submit', unit: rec('c.service') },
    { kind: 'submit', unit: rec('d.service'), desired: 'inactive' },
  ]);
  const res = await reg.applyUnitBatch([
    { kind: 'submit', unit: rec('a.service', 2) },
    { kind: 'submit', unit: rec('b.service', 2), replace: true },
    { kind: 'desired', name: 'c.service', state: 'loaded', skipFrom: ['launched'] },
    { kind: 'desired', name: 'x.service', state: 'loaded' },
    { kind: 'desired', name: 'y@1.service', state: 'launched', orCreate: rec('y@1.service', 7) },
    { kind: 'destroy', name: 'd.service' },
    { kind: 'destroy', name: 'z.service' },
  ]);
  const o = (r: UnitBatchResult) => [r.name, r.outcome, r.previous, r.hash];
  t.same(res.map(o), [
    ['a.service', 'exists', 'launched', 'h1'],
    ['b.service', 'replaced', 'loaded', 'h2'],
    ['c.service', 'set', null, 'h1'],
    ['x.service', 'not-found', null, ''],
    ['y@1.service', 'created', null, 'h7'],
    ['d.service', 'destroyed', 'inactive', ''],
    ['z.service', 'not-found', null, ''],
  ]);
  const skip = await reg.applyUnitBatch([{ kind: 'desired', name: 'a.service', state: 'loaded', skipFrom: ['launched'] }]);
  t.equal(skip[0].outcome, 'skipped');
  const kv = dump(etcd, '/b2/');
  t.same(Object.keys(kv).sort(), [
    '/b2/desired/a.service', '/b2/desired/b.service', '/b2/desired/c.service', '/b2/desired/y@1.service',
    '/b2/history/b.service', // b was replaced: its versions are kept (docs/groups.md)
    '/b2/units/a.service', '/b2/units/b.service', '/b2/units/c.service', '/b2/units/y@1.service',
  ]);
  t.equal(JSON.parse(kv['/b2/units/a.service']).hash, 'h1', 'exists: left alone');
  t.equal(kv['/b2/desired/a.service'], 'launched', 'skipped: left alone');
  t.equal(kv['/b2/desired/c.service'], 'loaded');
  t.equal(kv['/b2/desired/y@1.service'], 'launched');
  const read = await reg.readUnits(['a.service', 'x.service']);
  t.same(read.get('a.service'), { unit: rec('a.service'), desired: 'launched' });
  t.same(read.get('x.service'), { unit: null, desired: null });
  await t.rejects(reg.applyUnitBatch([{ kind: 'destroy', name: 'a.service' }, { kind: 'destroy', name: 'a.service' }]), /distinct/);
});

t.test('racing batches: each unit created exactly once, no write lost (seeded)', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 100_000);
  const rnd = seededRandom(seed);
  for (let round = 0; round < 5; round++) {
    const prefix = `/b3-${round}/`;
    const a = newReg(prefix);
    const b = newReg(prefix);
    const n = 50 + Math.floor(rnd() * 200);
    const names = Array.from({ length: n }, (_, i) => `r${i}.service`);
    const pick = () => names.filter(() => rnd() < 0.7).map((name): UnitBatchOp => ({ kind: 'submit', unit: rec(name, 1 + Math.floor(rnd() * 2)) }));
    const [ra, rb] = await Promise.all([a.applyUnitBatch(pick()), b.applyUnitBatch(pick())]);
    const created = new Map<string, number>();
    for (const r of [...ra, ...rb]) if (r.outcome === 'created') created.set(r.name, (created.get(r.name) ?? 0) + 1);
    const kv = dump(etcd, prefix);
    for (const [name, count] of created) if (count !== 1) t.fail(`seed ${seed}: ${name} created ${count} times`);
    for (const r of [...ra, ...rb]) {
      const stored = JSON.parse(kv[`${prefix}units/${r.name}`]).hash;
      if (r.outcome === 'created' && created.get(r.name) === 1) {
        const other = [...ra, ...rb].find((x) => x !== r && x.name === r.name);
        if (other && other.outcome === 'unchanged' && other.hash !== stored) t.fail(`seed ${seed}: ${r.name} unchanged with a different hash`);
      }
      if (r.outcome === 'exists' && r.hash !== stored) t.fail(`seed ${seed}: ${r.name} 'exists' reports ${r.hash}, stored ${stored}`);
    }
    t.equal(Object.keys(kv).filter((k) => k.includes('/units/')).length, created.size, `seed ${seed} round ${round}: every stored unit was created by exactly one batch`);
  }
});
