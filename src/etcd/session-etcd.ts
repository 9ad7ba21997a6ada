/**
 * Machine sessions: an agent's record on its own lease, kept alive while the process lives.
 * Creation is a transaction "create only if absent", so a second live agent with the same id is refused.
 */
import type { Etcd3, IRequestOp, Lease } from 'etcd3';
import { decodeMachine } from './codec';
import { ValidationError } from '../errors';
import { etcdCall } from './client';
import type { KeyLayout } from './keys';
import type { MachineLoad, MachineRecord, MachineSession, UnitStateRecord } from './registry';
import type { RequestStats } from './registry-etcd';

/**
 * Watches a lease's keep-alives: aborts `ctl` when etcd says the lease is gone, or when no keep-alive
 * succeeded for a whole TTL (etcd has expired it by then, or will before we can prove otherwise).
 * Returns a function that stops the watchdog.
 */
export function watchLease(lease: Lease, ttlSeconds: number, ctl: AbortController): () => void {
  let lastOk = Date.now();
  lease.on('keepaliveSucceeded', () => { lastOk = Date.now(); });
  lease.on('lost', (err) => ctl.abort(err));
  const timer = setInterval(() => {
    if (Date.now() - lastOk > ttlSeconds * 1000) ctl.abort(new Error(`no lease keep-alive for ${ttlSeconds} s`));
  }, Math.max(50, Math.min(500, (ttlSeconds * 1000) / 10)));
  timer.unref();
  ctl.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return () => clearInterval(timer);
}

/**
 * How long a restarting shoald's machine stays registered for the next process, in seconds: its cold start
 * took 8–11 s on a machine at load 30, longer than the 5 s TTL, and the engine then moved every unit away
 * (and they ran twice until the new agent stopped them). Only a restart gets it: a stop gives the lease up.
 */
export const RESTART_GRACE_S = 30;

/**
 * Moves every key on `leaseId` onto a new lease of `ttlSeconds`, values untouched (etcd's put with
 * ignore_value), the machine record first; the new lease is never kept alive: it lapses unless the next
 * agent takes the record over (takeOver revokes it). Throws on an etcd error (keys not moved stay on
 * the old lease).
 */
async function moveToLease(client: Etcd3, stats: RequestStats, leaseId: string, machineKey: string, ttlSeconds: number): Promise<void> {
  stats.requests += 2;
  const [grant, live] = await Promise.all([
    etcdCall('grace lease grant', () => client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 })),
    etcdCall('lease keys', () => client.leaseClient.leaseTimeToLive({ ID: leaseId, keys: true })),
  ]);
  const keys = (live.keys ?? []).map((k) => k.toString()).sort((a, b) => Number(b === machineKey) - Number(a === machineKey));
  for (let i = 0; i < keys.length; i += 128) {
    stats.requests++;
    const success: IRequestOp[] = keys.slice(i, i + 128).map((k) => ({ request_put: { key: Buffer.from(k), lease: grant.ID, ignore_value: true } }));
    await etcdCall('grace lease txn', () => client.kv.txn({ compare: [], success, failure: [] }));
  }
}

/** Registers `record` on a new lease; see MachineRegistrar.register. */
export async function registerMachine(
  client: Etcd3, keys: KeyLayout, stats: RequestStats, record: MachineRecord, ttlSeconds: number,
): Promise<MachineSession> {
  const lease = client.lease(ttlSeconds, { autoKeepAlive: true });
  stats.requests++;
  const leaseId = await etcdCall('lease grant', () => lease.grant()).catch((err) => { lease.release(); throw err; });
  const key = keys.machine(record.id);
  stats.requests++;
  const res = await etcdCall('register txn', () => client
    .if(key, 'Create', '==', 0)
    .then(client.put(key).value(JSON.stringify(record)).lease(leaseId))
    .commit()).catch((err) => { lease.revoke().catch(() => undefined); throw err; });
  if (!res.succeeded && !(await takeOver(client, key, stats, record, leaseId))) {
    await lease.revoke().catch(() => undefined);
    throw new ValidationError('machine.duplicate-id',
      `machine id ${record.id} is already registered by a live agent; give this machine another id (machine_id / SHOAL_MACHINE_ID)`,
      { key: 'machine_id' }, { machine: record.id });
  }
  const ctl = new AbortController();
  watchLease(lease, ttlSeconds, ctl);
  let closed = false;
  const session: MachineSession = {
    machineId: record.id,
    lost: ctl.signal,
    async update(r: MachineRecord) {
      stats.requests++;
      await etcdCall('machine put', () => client.put(key).value(JSON.stringify(r)).lease(leaseId).exec());
    },
    async reportState(unit: string, state: UnitStateRecord | null) {
      stats.requests++;
      const k = keys.state(unit, record.id);
      if (state === null) await etcdCall('state delete', () => client.delete().key(k).exec());
      else await etcdCall('state put', () => client.put(k).value(JSON.stringify(state)).lease(leaseId).exec());
    },
    async reportStates(states: ReadonlyArray<readonly [string, UnitStateRecord | null]>) {
      if (states.length === 0) return;
      if (states.length > 128) throw new RangeError(`reportStates: ${states.length} states, at most 128 per transaction`);
      stats.requests++;
      const success: IRequestOp[] = states.map(([unit, state]) => {
        const k = Buffer.from(keys.state(unit, record.id));
        return state === null
          ? { request_delete_range: { key: k } }
          : { request_put: { key: k, value: Buffer.from(JSON.stringify(state)), lease: leaseId } };
      });
      await etcdCall('states txn', () => client.kv.txn({ compare: [], success, failure: [] }));
    },
    async reportLoad(load: MachineLoad) {
      stats.requests++;
      await etcdCall('load put', () => client.put(keys.load(record.id)).value(JSON.stringify(load)).lease(leaseId).exec());
    },
    async handOver(graceSeconds = Math.max(ttlSeconds, RESTART_GRACE_S)) {
      if (closed) return;
      stats.requests++;
      await etcdCall('lease keep-alive', () => lease.keepaliveOnce()).catch(() => undefined);
      // only a record with a session token can be taken over by the next agent: without one a grace only delays it
      if (graceSeconds > ttlSeconds && record.session) await moveToLease(client, stats, leaseId, key, graceSeconds).catch(() => undefined);
      session.detach();
    },
    detach() {
      if (closed) return;
      closed = true;
      if (!ctl.signal.aborted) ctl.abort(new Error('session detached'));
      lease.release();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!ctl.signal.aborted) ctl.abort(new Error('session closed'));
      await lease.revoke().catch(() => lease.release());
    },
  };
  return session;
}

/**
 * When the live record at `key` has `record.session`'s token (this machine's own restarted agent), moves
 * it onto `leaseId` in one transaction guarded on its mod revision, then revokes the old lease (which
 * drops only the old states; the agent reports them again). False when the record is someone else's.
 */
async function takeOver(client: Etcd3, key: string, stats: RequestStats, record: MachineRecord, leaseId: string): Promise<boolean> {
  if (!record.session) return false;
  stats.requests++;
  const got = await etcdCall('machine get', () => client.get(key).exec());
  const kv = got.kvs[0];
  if (!kv || decodeMachine(key, kv.value.toString()).session !== record.session) return false;
  stats.requests++;
  const res = await etcdCall('takeover txn', () => client
    .if(key, 'Mod', '==', Number(kv.mod_revision))
    .then(client.put(key).value(JSON.stringify(record)).lease(leaseId))
    .commit());
  if (!res.succeeded) return false;
  if (kv.lease !== '0' && kv.lease !== leaseId) {
    stats.requests++;
    // best effort: if it fails the old lease simply expires after its TTL
    await etcdCall('old lease revoke', () => client.leaseClient.leaseRevoke({ ID: kv.lease })).catch(() => undefined);
  }
  return true;
}
