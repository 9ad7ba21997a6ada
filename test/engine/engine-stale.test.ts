/**
 * The engine against a real etcd when its model is behind etcd's schedule: a placement committed whose
 * event has not reached the engine (a write in flight with a failed one, a timed-out write that committed
 * after all). The engine's own writes must be refused as stale, never placed over it: the unit would run
 * on two machines (schedule/ overwritten, the old machine's assigned/ key left behind).
 */
import t from 'tap';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord, MachineSession, WatchBatch, WatchScope } from '../../src/etcd/registry';
import { Engine } from '../../src/engine/engine';
import { silentLogger } from '../../src/log';
import { unitHash } from '../../src/units/unit-hash';
import { parseUnitFile } from '../../src/units/unit-file';
import { dump, etcdctl } from '../etcd/etcdctl';

let etcd: EtcdServer;
const regs: EtcdRegistry[] = [];
t.before(async () => { etcd = await startEtcd(); });
t.teardown(async () => { for (const r of regs) r.close(); await etcd.close(); });

/**
 * The real registry whose watches hold back schedule/ events while `holding` (the lag of a watch, made
 * long): they are delivered, in order, with the first batch after `release()`.
 */
class LaggingRegistry extends EtcdRegistry {
  holding = true;
  private readonly held: WatchBatch['events'] = [];
  release(): void { this.holding = false; }
  override watch(scopes: WatchScope[], opts: { fromRevision?: number; signal?: AbortSignal } = {}): AsyncIterable<WatchBatch> {
    const inner = super.watch(scopes, opts);
    const holding = () => this.holding;
    const held = this.held;
    return (async function* () {
      for await (const b of inner) {
        if (holding()) {
          held.push(...b.events.filter((e) => e.type === 'schedule'));
          yield { ...b, events: b.events.filter((e) => e.type !== 'schedule') };
        } else {
          yield { ...b, events: [...held.splice(0), ...b.events] };
        }
      }
    })();
  }
}

async function until(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('a placement the engine has not seen is never placed over: refused as stale, then moved once seen', async (t) => {
  const P = '/stale1/';
  const api = new EtcdRegistry({ endpoints: [etcd.endpoint], prefix: P, callTimeoutMs: 2000 });
  const lagging = new LaggingRegistry({ endpoints: [etcd.endpoint], prefix: P, callTimeoutMs: 2000 });
  regs.push(api, lagging);
  const rec = (id: string, disk: string): MachineRecord => ({
    id, metadata: { disk }, capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }, version: 'test', startedAt: new Date().toISOString(),
  });
  const sessions: MachineSession[] = [await api.register(rec('m1', 'ssd'), 5), await api.register(rec('m2', 'hdd'), 5)];
  t.teardown(async () => { for (const s of sessions) await s.close(); });
  const engine = new Engine({ registry: lagging, id: 'e1', log: silentLogger, ttlSeconds: 5, debounceMs: 20, safetyIntervalMs: 60_000 });
  const ac = new AbortController();
  const running = engine.run(ac.signal);
  t.teardown(async () => { ac.abort(); await running; });
  await until(() => engine.isLeader, 5000, 'leadership');
  await until(() => engine.stats.passes > 0, 5000, 'a first pass');

  // committed while the engine's watch lags: db.service on m2 (the engine would pick m1: disk=ssd)
  etcdctl(etcd, 'put', `${P}schedule/db.service`, 'm2');
  etcdctl(etcd, 'put', `${P}assigned/m2/db.service`, 'db.service');
  const text = '[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nMachineMetadata=disk=ssd\n';
  await api.submitUnit({ name: 'db.service', text, hash: unitHash(parseUnitFile(text)) }, { desired: 'launched' });
  await until(() => engine.stats.stale > 0, 5000, 'a stale refusal');
  const assigned = () => Object.keys(dump(etcd, `${P}assigned/`)).sort();
  t.same(assigned(), [`${P}assigned/m2/db.service`], 'not placed over: assigned/ only on m2');
  t.equal(dump(etcd, `${P}schedule/`)[`${P}schedule/db.service`], 'm2');
  t.equal(engine.stats.refused, 0, 'told apart from a lost leadership');
  t.ok(engine.isLeader, 'still leading');

  // the watch catches up: the engine sees db.service on m2 and moves it to m1, where it belongs
  lagging.release();
  await api.setMetadata('m1', 'poke', '1'); // a batch to carry the held events
  await until(() => dump(etcd, `${P}schedule/`)[`${P}schedule/db.service`] === 'm1', 10_000, 'the move to m1');
  t.same(assigned(), [`${P}assigned/m1/db.service`], 'one machine at every step: moved, not copied');
});
