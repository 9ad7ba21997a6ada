/**
 * Publishes this machine's real load to etcd (load/<machine>, on the machine's lease): samples every
 * `intervalMs`, writes only a significant change (load-change.ts) and so at most one put per interval:
 * a major change at once, a minor one once the last write is `minorEveryMs` old.
 * Kept apart from the state reporter: load is sampled on a timer, states follow systemd's signals.
 */
import type { MachineLoad, MachineSession } from '../etcd/registry';
import type { Logger } from '../log';
import type { Clock } from './clock';
import { loadChange } from './load-change';
import type { LoadSource } from './load-sampler';

/** Default sampling interval (ms): the write budget is one put per machine per interval at most. */
export const LOAD_INTERVAL_MS = 5000;
/** Default wait before a minor change is written (ms). */
export const MINOR_EVERY_MS = 30_000;
/** Deadline of one write (ms); etcd calls have their own, this bounds a hung session too. */
const WRITE_DEADLINE_MS = 5000;

/** Options of a LoadReporter. */
export interface LoadReporterOptions {
  source: LoadSource;
  /** The units to account (the service units running here), asked at each sample. */
  units: () => string[];
  clock: Clock;
  log: Logger;
  intervalMs?: number;
  /** A minor change is written once the last write is this old (default 30 s). */
  minorEveryMs?: number;
}

/** Sample → compare with the last write → maybe write, on a timer. */
export class LoadReporter {
  private session: MachineSession | null = null;
  private written: MachineLoad | null = null;
  private writtenAt = -Infinity;
  private timer: unknown;
  private busy = false;
  private closed = false;
  /** The last sample (tests and `shoalctl` of a local agent may read it). */
  last: MachineLoad | null = null;
  /** Puts made and samples taken since start (benches read them). */
  writes = 0;
  samples = 0;

  constructor(private readonly o: LoadReporterOptions) {}

  /** Starts sampling. Idempotent. */
  start(): void {
    if (this.timer === undefined && !this.closed) this.schedule(0);
  }

  /** Writes under `session` from now on; the next sample is written whatever it holds (a new lease has no report). */
  setSession(session: MachineSession | null): void {
    this.session = session;
    this.written = null;
    this.writtenAt = -Infinity;
  }

  /** Stops sampling. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.timer = this.o.clock.setTimeout(() => { this.timer = undefined; void this.tick(); }, ms);
  }

  /** One sample and, on a significant change, one write. Never throws; the next tick is always scheduled. */
  async tick(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    const started = this.o.clock.now();
    try {
      const load = await this.o.source.sample(this.o.units());
      this.samples++;
      this.last = load;
      const session = this.session;
      const change = session ? loadChange(this.written, load) : null;
      const due = change && (change.level === 'major' || started - this.writtenAt >= (this.o.minorEveryMs ?? MINOR_EVERY_MS));
      if (session && due) {
        await within(session.reportLoad(load), WRITE_DEADLINE_MS);
        this.writes++;
        if (this.session === session) { this.written = load; this.writtenAt = started; }
        this.o.log.debug('load reported', { level: change.level, why: change.why });
      }
    } catch (err) {
      this.o.log.debug('load sample or report failed; next interval', { err: String(err) });
    } finally {
      this.busy = false;
      const interval = this.o.intervalMs ?? LOAD_INTERVAL_MS;
      if (!this.closed) this.schedule(Math.max(0, interval - (this.o.clock.now() - started)));
    }
  }
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`load write: no answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (err) => { clearTimeout(t); reject(err); });
  });
}
