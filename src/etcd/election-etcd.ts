/**
 * Leader election on one key (`engine/leader`): a candidate creates it, only if absent, on its own lease.
 * The create revision it gets is the guard every placement transaction compares against.
 * Followers wait on a watch of the key (no polling) and try again when it is deleted.
 */
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { sleep, withDeadline } from '../abort';
import { Backoff } from '../backoff';
import type { Logger } from '../log';
import { etcdCall } from './client';
import type { KeyLayout } from './keys';
import type { LeaderGuard, Leadership } from './registry';
import type { RequestStats } from './registry-etcd';
import { watchLease } from './session-etcd';

/** LeaderElector on etcd3 (see registry.ts). */
export class EtcdElector {
  constructor(
    private readonly client: Etcd3, private readonly keys: KeyLayout, private readonly stats: RequestStats, private readonly log: Logger,
  ) {}

  /** @inheritdoc LeaderElector.campaign */
  async campaign(value: string, ttlSeconds: number, signal: AbortSignal): Promise<Leadership | null> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
    let failures = 0;
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
        backoff.reset();
        failures = 0;
        await this.waitForVacancy(Number(res.header.revision), signal);
      } catch (err) {
        // logged (first and every 10th): a permission error must not leave a silent non-leader
        if (failures++ % 10 === 0) this.log.warn('cannot campaign for leadership; retrying', { failures, err: String(err) });
        if (lease) await lease.revoke().catch(() => lease?.release());
        await sleep(backoff.next(), signal);
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

  /**
   * Resolves once the leader key is deleted after `revision` (or the signal aborts). Creating the watch
   * has a deadline (UnavailableError: the caller retries) and every listener is removed on the way out,
   * so a process-long signal does not collect one per lost election.
   */
  private async waitForVacancy(revision: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const creating = this.client.watch().key(this.keys.leader).startRevision(String(revision + 1)).create();
    let w: Watcher;
    try {
      w = await withDeadline(creating, WATCH_CALL_MS, 'etcd.unavailable', 'etcd watch of the leader key');
    } catch (err) {
      void creating.then((late) => withDeadline(late.cancel(), WATCH_CALL_MS, 'etcd.unavailable', 'watch cancel')).catch(() => undefined);
      throw err;
    }
    let wake = () => {};
    try {
      await new Promise<void>((resolve) => {
        wake = () => resolve();
        w.on('delete', wake);
        w.on('error', wake); // cancelled (e.g. compacted): campaign again, the txn decides
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', wake, { once: true });
      });
    } finally {
      signal.removeEventListener('abort', wake); // w's own listeners go with w (an 'error' needs one)
      await withDeadline(w.cancel(), WATCH_CALL_MS, 'etcd.unavailable', 'watch cancel').catch(() => undefined);
    }
  }

  /** @inheritdoc LeaderElector.currentLeader */
  async currentLeader(): Promise<string | null> {
    this.stats.requests++;
    return etcdCall('get leader', () => this.client.get(this.keys.leader).string());
  }
}

/** Deadline of creating or cancelling the leader-key watch, ms. */
const WATCH_CALL_MS = 5000;
