/**
 * The shared set-up of the engine tests on a real etcd: one etcd for the file (started before, stopped
 * after), registries on their own prefixes (closed at the end), engines started and stopped, machine
 * records, and a bounded wait. The engine runs with a short TTL and a 20 ms debounce. etcd serves TLS with
 * client certificates and has auth on (every registry logs in as user `shoal` with its password).
 */
type Tap = { before(fn: () => unknown): void; teardown(fn: () => unknown): void };
import { startEtcd, type EtcdServer } from './etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord } from '../../src/etcd/registry';
import { Engine, type EngineOptions } from '../../src/engine/engine';
import { createLogger, silentLogger } from '../../src/log';

/** One etcd for the test file `t`; `reg` and `startEngine` use it (only after t.before ran). */
export function engineOnEtcd(t: Tap) {
  let etcd: EtcdServer | undefined;
  const regs: EtcdRegistry[] = [];
  // the secure path, as in production: TLS with a client certificate and etcd auth (user shoal, password)
  t.before(async () => { etcd = await startEtcd({ tls: true, auth: true }); });
  t.teardown(async () => { for (const r of regs) r.close(); await etcd?.close(); });
  const reg = (prefix: string) => {
    const r = new EtcdRegistry({ ...etcd!.connection, prefix, callTimeoutMs: 2000 });
    regs.push(r);
    return r;
  };
  /** An engine (TTL 2 s unless `opts` says) on `prefix`; DEBUG_ENGINE=1 shows its log. */
  const startEngine = (prefix: string, id = 'e1', opts: Partial<EngineOptions> = {}) => {
    const engine = new Engine({
      registry: reg(prefix), id, log: process.env.DEBUG_ENGINE ? createLogger({ level: 'debug' }) : silentLogger,
      ttlSeconds: 2, debounceMs: 20, safetyIntervalMs: 60_000, ...opts,
    });
    const ac = new AbortController();
    const done = engine.run(ac.signal);
    return { engine, stop: async () => { ac.abort(); await done; } };
  };
  return { reg, startEngine };
}

/** A machine record with 4 cores and 8 GiB. */
export function machineRecord(id: string, metadata: Record<string, string> = {}): MachineRecord {
  return { id, metadata, capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }, version: 'test', startedAt: new Date().toISOString() };
}

/** Polls `f` every 30 ms until it returns something other than false/undefined; throws after `ms`. */
export async function until<T>(f: () => Promise<T | false | undefined>, ms: number, what: string): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== false && v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}
