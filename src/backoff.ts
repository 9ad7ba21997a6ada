/**
 * shoal's one retry backoff: cockatiel's exponential backoff with decorrelated jitter (AWS's "Exponential
 * Backoff and Jitter"), so that after an etcd restart the agents and engines do not all retry at one instant.
 * Every retry loop (etcd, D-Bus) uses it; etcd3's watch reconnects use `watchBackoff()`.
 */
import { ExponentialBackoff, halfJitterGenerator, type IBackoff } from 'cockatiel';

/** Bounds of one backoff, in ms. */
export interface BackoffOptions {
  /** First delay (about; jittered). */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /**
   * 'decorrelated' (default): cockatiel's decorrelated jitter, whose delays may be far below the nominal
   * `initialMs·2^n` (the first one near 0). 'half': cockatiel's half jitter, the n-th delay (n from 0) in
   * [`initialMs·2^n`/2, `initialMs·2^n`), capped at `maxMs`: a known minimum, for a schedule that must keep
   * below a rate limit (health restarts against systemd's StartLimitBurst=, src/health/monitor.ts).
   */
  jitter?: 'decorrelated' | 'half';
}

/** A retry schedule: `next()` after each failure, `reset()` after a success. */
export class Backoff {
  private readonly factory: ExponentialBackoff<unknown>;
  private current: IBackoff<unknown> | undefined;

  constructor(readonly options: BackoffOptions) {
    this.factory = new ExponentialBackoff({
      initialDelay: options.initialMs, maxDelay: options.maxMs, ...(options.jitter === 'half' ? { generator: halfJitterGenerator } : {}),
    });
  }

  /** The delay before the next attempt, ms: grows roughly ×2 per failure up to `maxMs`, jittered. */
  next(): number {
    this.current = this.current ? this.current.next(undefined) : this.factory.next();
    return Math.min(this.options.maxMs, Math.max(1, Math.round(this.current.duration)));
  }

  /** Starts over from `initialMs` (call after a success). */
  reset(): void {
    this.current = undefined;
  }
}

/** etcd3's `faultHandling.watchBackoff`: 50 ms up to 1 s, jittered (etcd3's default grows to 30 s). */
export function watchBackoff(): ExponentialBackoff<unknown> {
  return new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 });
}
