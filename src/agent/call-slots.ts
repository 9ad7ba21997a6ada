/**
 * At most `max` calls in flight, the others waiting in order (FIFO), each wait bounded by its own deadline.
 * Pure logic (timers only); the D-Bus driver (systemd-dbus.ts) holds one per connection: dbus-daemon refuses
 * a call beyond its max_replies_per_connection.
 */

/** Thrown by `acquire` when no slot frees up within its deadline. */
export class SlotTimeout extends Error {
  override name = 'SlotTimeout';
}

interface Waiter {
  grant: () => void;
  fail: (err: Error) => void;
}

export class CallSlots {
  private inFlight = 0;
  private readonly waiters: Waiter[] = [];
  private closedWith: Error | undefined;

  constructor(readonly max: number) {}

  /** Calls holding a slot now (tests). */
  get used(): number {
    return this.inFlight;
  }

  /** Calls waiting for a slot now (tests). */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves once a call may go out (the caller must `release()` after it); rejects with SlotTimeout when
   * none frees up within `ms`, and with the close error at once when `close` is (or was) called.
   */
  acquire(ms: number): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.inFlight < this.max) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        grant: () => { clearTimeout(t); this.inFlight++; resolve(); },
        fail: (err) => { clearTimeout(t); reject(err); },
      };
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new SlotTimeout(`not sent within ${ms} ms (${this.max} calls in flight)`));
      }, ms);
      this.waiters.push(w);
    });
  }

  /** Gives a slot back; the longest waiting call takes it. */
  release(): void {
    this.inFlight--;
    this.waiters.shift()?.grant();
  }

  /** Fails every waiting call with `err` now, and every later `acquire` (the connection is gone). */
  close(err: Error): void {
    this.closedWith ??= err;
    for (const w of this.waiters.splice(0)) w.fail(this.closedWith);
  }
}
