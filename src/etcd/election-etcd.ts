/**
 * Leader election on one key (`engine/leader`): a candidate creates it, only if absent, on its own lease.
 * The create revision it gets is the guard every placement transaction compares against.
 * Followers wait on a watch of the key (no polling) and try again when it is deleted.
 */
import type { Etcd3, Lease } from 'etcd3';
import { etcdCall } from './client';
import type { KeyLayout } from './keys';
import type { LeaderGuard, Leadership } from './registry';
import type { RequestStats } from './registry-etcd';
import { watchLease } from './session-etcd';

/** LeaderElector on etcd3 (see registry.ts). */
export class EtcdElector {
  constructor(private readonly client: Etcd3, private readonly keys: KeyLayout, private readonly stats: RequestStats) {}

  /** @inheritdoc LeaderElector.campaign */
  async campaign(value: string, ttlSeconds: number, signal: AbortSignal): Promise<Leadership | null> {
    let backoff = 100;
    while (!signal.aborted) {
      let lease: Lease | undefined;
      try {
        lease = this.client.lease(ttlSeconds, { autoKeepAlive: true });
        this.stats.requests++;
        const leaseId = await etcdCall('lease grant', () => lease!.grant());
        const key = this.keys.leader;
        this.stats.requests++;
        const res = await etcdCall('campaign txn', () => this.client
          .if(key, 'Create', '==', 0)
          .then(this.client.put(key).value(value).lease(leaseId))
          .else(this.client.get(key))
          .commit());
        if (res.succeeded) return this.lead(lease, { key, leaseId, createRevision: Number(res.header.revision), holder: value }, ttlSeconds, signal);
        await lease.revoke().catch(() => lease?.release());
        lease = undefined;
        backoff = 100;
        await this.waitForVacancy(Number(res.header.revision), signal);
      } catch {
        if (lease) await lease.revoke().catch(() => lease?.release());
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 2000);
      }
    }
    return null;
  }

  private lead(lease: Lease, guard: LeaderGuard, ttlSeconds: number, signal: AbortSignal): Leadership | null {
    if (signal.aborted) { void lease.revoke().catch(() => lease.release()); return null; }
    const ctl = new AbortController();
    watchLease(lease, ttlSeconds, ctl);
    // someone deleting the key by hand also ends the term
    void this.waitForVacancy(guard.createRevision, ctl.signal)
      .then(() => { if (!ctl.signal.aborted) ctl.abort(new Error('leader key deleted')); })
      .catch(() => undefined); // could not watch: the lease watchdog and the txn guard still hold
    let resigned = false;
    return {
      guard,
      lost: ctl.signal,
      resign: async () => {
        if (resigned) return;
        resigned = true;
        if (!ctl.signal.aborted) ctl.abort(new Error('resigned'));
        await lease.revoke().catch(() => lease.release());
      },
    };
  }

  /** Resolves once the leader key is deleted after `revision` (or the signal aborts). */
  private async waitForVacancy(revision: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const w = await this.client.watch().key(this.keys.leader).startRevision(String(revision + 1)).create();
    try {
      await new Promise<void>((resolve) => {
        w.on('delete', () => resolve());
        w.on('error', () => resolve()); // cancelled (e.g. compacted): campaign again, the txn decides
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      await w.cancel().catch(() => undefined);
    }
  }

  /** @inheritdoc LeaderElector.currentLeader */
  async currentLeader(): Promise<string | null> {
    this.stats.requests++;
    return etcdCall('get leader', () => this.client.get(this.keys.leader).string());
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
