/**
 * The etcd3 client as shoal configures it, and the error boundary: every etcd3 error becomes a typed
 * ShoalError here (UnavailableError for anything connection-shaped).
 */
import { Etcd3, type IOptions } from 'etcd3';
import { watchBackoff } from '../backoff';
import { ShoalError, UnavailableError } from '../errors';
import { etcdErrors, etcdRequests } from '../metrics';

/** etcd refuses a transaction with more than 128 compares, or 128 success or failure operations (--max-txn-ops default). */
export const MAX_TXN_OPS = 128;

/** How to reach etcd. */
export interface EtcdConnection {
  /** Client URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** Deadline of one unary call in ms (default 5000). */
  callTimeoutMs?: number;
}

/** Passes calls straight through. etcd3's default per-host circuit breaker would refuse every call for 5 s
 *  after three failures, which turns a 1 s etcd restart into 5 s of outage with a single endpoint. */
const passThrough = {
  execute: (fn: (ctx: { signal: AbortSignal; attempt: number }) => unknown, signal?: AbortSignal) =>
    Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal, attempt: 0 })),
  onSuccess: () => ({ dispose() {} }),
  onFailure: () => ({ dispose() {} }),
};

/**
 * gRPC reconnects: 100 ms up to 1 s (grpc-js jitters them by ±20 %). Its default grows to 120 s, so after a
 * long etcd outage an agent could stay in reconnect backoff long after etcd is back (and miss re-registering
 * in time). etcd3's own watch reconnects use shoal's jittered backoff (its default grows to 30 s).
 */
const GRPC_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };

/** A new etcd3 client: unary calls have a deadline (streams do not), no circuit breaker, prompt reconnects. */
export function createEtcdClient(conn: EtcdConnection): Etcd3 {
  const timeout = conn.callTimeoutMs ?? 5000;
  const faultHandling = {
    host: () => passThrough,
    global: passThrough,
    watchBackoff: watchBackoff(),
  } as unknown as IOptions['faultHandling'];
  return new Etcd3({
    hosts: conn.endpoints,
    dialTimeout: Math.min(timeout, 3000),
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling,
    grpcOptions: GRPC_OPTIONS,
  });
}

/**
 * Converts anything etcd3 threw into a ShoalError; ShoalErrors pass through. Connection-shaped failures
 * (no answer before the deadline, refused, no connection) read "cannot reach etcd", without gRPC's
 * status text; the original error is the cause.
 */
export function toShoalError(err: unknown, op: string): ShoalError {
  if (err instanceof ShoalError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const why = /DEADLINE_EXCEEDED|deadline exceeded/i.test(msg) ? 'no answer before the deadline'
    : /ECONNREFUSED/.test(msg) ? 'connection refused'
      : /UNAVAILABLE|No connection established|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|connect/i.test(msg) ? 'no connection'
        : undefined;
  if (why) return new UnavailableError('etcd.unavailable', `cannot reach etcd: ${op}: ${why}`, err);
  return new UnavailableError('etcd.unavailable', `etcd ${op} failed: ${msg}`, err);
}

/** Runs one etcd operation, converting its errors at the boundary. */
export async function etcdCall<T>(op: string, fn: () => Promise<T>): Promise<T> {
  etcdRequests.inc({ op });
  try {
    return await fn();
  } catch (err) {
    etcdErrors.inc({ op });
    throw toShoalError(err, op);
  }
}
