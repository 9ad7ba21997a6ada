/**
 * The etcd3 client as shoal configures it, and the error boundary: every etcd3 error becomes a typed
 * ShoalError here (UnavailableError for anything connection-shaped, EtcdRefusedError when etcd refused
 * shoal's certificate or credentials: retrying cannot help, the setting it names must change).
 */
import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import { watchBackoff } from '../backoff';
import { ShoalError, UnavailableError, ValidationError } from '../errors';
import { etcdErrors, etcdRequests } from '../metrics';

/** etcd refuses a transaction with more than 128 compares, or 128 success or failure operations (--max-txn-ops default). */
export const MAX_TXN_OPS = 128;

/** TLS files (PEM paths) for etcd, as the `[etcd]` settings ca, cert and key name them. */
export interface EtcdTls {
  /** CA that signed etcd's serving certificate (default: the system's roots). */
  ca?: string;
  /** Client certificate and its key, for etcd's --client-cert-auth. */
  cert?: string;
  key?: string;
}

/** How to reach etcd. */
export interface EtcdConnection {
  /** Client URLs, e.g. `https://10.0.0.1:2379`; several = members of one cluster (calls fail over). */
  endpoints: string[];
  /** Deadline of one unary call in ms (default 5000). */
  callTimeoutMs?: number;
  /** Deadline to establish a connection in ms (default min(callTimeoutMs, 3000)). */
  dialTimeoutMs?: number;
  tls?: EtcdTls;
  /** etcd auth (user name and password); without it and with auth on, etcd takes the client certificate's CN. */
  auth?: { username: string; password: string };
}

/** etcd refused shoal: its certificate, its CA or its credentials are wrong. Not retryable. */
export class EtcdRefusedError extends ShoalError {
  constructor(message: string, cause?: unknown) {
    super('etcd.refused', message, { cause });
    this.name = 'EtcdRefusedError';
  }
}

/**
 * A call on a host that failed (no connection, or no answer before the deadline) skips that host for a
 * while, as long as another one is not skipped, so one dead member of three costs a call nothing:
 * BROKEN_MS after the first failure, doubling with each failure in a row up to MAX_BROKEN_MS, reset by a
 * success. A member whose machine lost power answers nothing (no RST): every call that tries it waits
 * for its whole deadline, so a fixed 2 s pause had 1 call in 3 wait for the deadline every few seconds
 * (the Vagrant node-kill scenario). etcd3's own circuit breaker would refuse every call for 5 s after three
 * failures, which turns a 1 s restart of a single etcd into 5 s of outage: with one endpoint (or every
 * endpoint skipped) calls always go through.
 */
export const BROKEN_MS = 2000;
export const MAX_BROKEN_MS = 30_000;

/** The per-host policy of createEtcdClient (exported for its test); `now` in ms. */
export function hostPolicies(endpoints: string[], now: () => number = Date.now) {
  const brokenUntil = new Map<string, number>();
  const failures = new Map<string, number>();
  const usable = (h: string) => (brokenUntil.get(h) ?? 0) <= now();
  const policy = (host: string) => ({
    execute: async (fn: (ctx: { signal: AbortSignal; attempt: number }) => unknown, signal?: AbortSignal) => {
      if (!usable(host) && endpoints.some((h) => h !== host && usable(h))) throw new Error(`etcd ${host}: skipped, failed to connect recently`);
      try {
        const out = await fn({ signal: signal ?? new AbortController().signal, attempt: 0 });
        brokenUntil.delete(host);
        failures.delete(host);
        return out;
      } catch (err) {
        if (connectionShaped(err)) {
          const n = (failures.get(host) ?? 0) + 1;
          failures.set(host, n);
          brokenUntil.set(host, now() + Math.min(BROKEN_MS * 2 ** Math.min(n - 1, 16), MAX_BROKEN_MS));
        }
        throw err;
      }
    },
    onSuccess: () => ({ dispose() {} }),
    onFailure: () => ({ dispose() {} }),
  });
  return policy;
}

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

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ValidationError('etcd.tls-file', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { key: setting });
  }
}

/** etcd3's credentials from the TLS file settings; throws ValidationError naming the setting of a missing file. */
function credentials(tls: EtcdTls | undefined): IOptions['credentials'] {
  if (!tls || (tls.ca === undefined && tls.cert === undefined && tls.key === undefined)) return undefined;
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ValidationError('etcd.tls-pair', tls.cert === undefined ? 'etcd.key is set without etcd.cert' : 'etcd.cert is set without etcd.key', { key: tls.cert === undefined ? 'etcd.cert' : 'etcd.key' });
  }
  return {
    // grpc-js: null = the system's roots
    rootCertificate: (tls.ca !== undefined ? readPem(tls.ca, 'etcd.ca') : null) as Buffer,
    certChain: tls.cert !== undefined ? readPem(tls.cert, 'etcd.cert') : undefined,
    privateKey: tls.key !== undefined ? readPem(tls.key, 'etcd.key') : undefined,
  };
}

/**
 * A new etcd3 client: unary calls have a deadline (streams do not), calls skip a member that just failed
 * to connect, prompt reconnects. Throws ValidationError when a TLS file cannot be read (naming its setting).
 */
export function createEtcdClient(conn: EtcdConnection): Etcd3 {
  const timeout = conn.callTimeoutMs ?? 5000;
  const policy = hostPolicies(conn.endpoints.map((e) => e.replace(/^https?:\/\//, '')));
  const faultHandling = {
    host: (h: string) => (conn.endpoints.length > 1 ? policy(h.replace(/^https?:\/\//, '')) : passThrough),
    global: passThrough,
    watchBackoff: watchBackoff(),
  } as unknown as IOptions['faultHandling'];
  const creds = credentials(conn.tls);
  return new Etcd3({
    hosts: conn.endpoints,
    dialTimeout: conn.dialTimeoutMs ?? Math.min(timeout, 3000),
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling,
    grpcOptions: GRPC_OPTIONS,
    ...(creds ? { credentials: creds } : {}),
    ...(conn.auth ? { auth: { ...conn.auth, callOptions: () => ({ deadline: Date.now() + timeout }) } } : {}),
  });
}

function connectionShaped(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /DEADLINE_EXCEEDED|deadline exceeded|ECONNREFUSED|UNAVAILABLE|No connection established|ECONNRESET|EHOSTUNREACH|ETIMEDOUT/i.test(msg);
}

/**
 * When etcd refused shoal for its TLS set-up or credentials: a message naming the setting to fix.
 * `conn` gives the settings' values (paths, user name); undefined when the error is anything else.
 */
export function refusal(err: unknown, conn?: Pick<EtcdConnection, 'tls' | 'auth'>): string | undefined {
  const msg = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.constructor.name : '';
  const cert = conn?.tls?.cert;
  const user = conn?.auth?.username;
  const last = (msg.match(/Last error: (?:Error: )?([^(\n]*?)(?:\s*\(\d{4}-[^)]*\))?\.? Resolution note|Last error: (?:Error: )?([^\n]*)/) ?? [])
    .slice(1).find((s) => s !== undefined)?.trim();
  if (/alert bad certificate|alert certificate required|alert unknown ca|alert certificate unknown|SSL alert number (42|46|48|116)/i.test(msg)) {
    return cert !== undefined
      ? `etcd refused the client certificate (etcd.cert = ${cert}): ${last ?? msg}`
      : `etcd requires a client certificate and none is configured (set etcd.cert and etcd.key): ${last ?? msg}`;
  }
  if (/unable to verify|self[- ]signed certificate|unable to get (local )?issuer|certificate has expired|certificate is not yet valid|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME/i.test(msg)) {
    return `etcd's certificate is not trusted (etcd.ca = ${conn?.tls?.ca ?? 'unset: the system roots'}): ${last ?? msg}`;
  }
  if (/wrong version number|packet length too long|http request|WRONG_VERSION_NUMBER/i.test(msg)) {
    return `etcd does not speak TLS on this endpoint (etcd.endpoints: use http://, or turn TLS on in etcd): ${last ?? msg}`;
  }
  if (name === 'EtcdAuthenticationFailedError' || /authentication failed, invalid user ID or password/.test(msg)) {
    return `etcd refused the user name or password (etcd.username = ${user ?? 'unset'}, etcd.password): ${msg.replace(/^\d+ [A-Z_]+: /, '')}`;
  }
  if (/authentication is not enabled/.test(msg)) {
    return `etcd.username is set but etcd's authentication is not enabled (remove etcd.username and etcd.password, or run etcdctl auth enable): ${msg.replace(/^\d+ [A-Z_]+: /, '')}`;
  }
  if (name === 'EtcdPermissionDeniedError' || name === 'GRPCUnauthenticatedError' || /etcdserver: permission denied|user name is empty|invalid auth token/.test(msg)) {
    const who = user !== undefined ? `etcd.username = ${user}` : cert !== undefined ? `the CN of etcd.cert = ${cert}` : 'no user: set etcd.username and etcd.password, or a client certificate';
    return `etcd denied access (${who}): ${msg.replace(/^\d+ [A-Z_]+: /, '')}`;
  }
  return undefined;
}

/**
 * True when the server closed the connection during the TLS handshake: what a plain-http etcd does to
 * a TLS client, but also what a server dying mid-handshake does, so one sighting proves nothing.
 */
export function tlsHandshakeCut(err: unknown): boolean {
  const msgs = [err instanceof Error ? err.message : String(err), (err as { cause?: Error })?.cause?.message ?? ''];
  return msgs.some((m) => /disconnected before secure TLS connection was established/.test(m));
}

/**
 * Converts anything etcd3 threw into a ShoalError; ShoalErrors pass through. A refusal (certificate,
 * CA, credentials) becomes EtcdRefusedError naming the setting; connection-shaped failures (no answer
 * before the deadline, refused, no connection) read "cannot reach etcd", without gRPC's status text;
 * the original error is the cause.
 */
export function toShoalError(err: unknown, op: string, conn?: Pick<EtcdConnection, 'tls' | 'auth'>): ShoalError {
  if (err instanceof ShoalError) return err;
  const refused = refusal(err, conn);
  if (refused) return new EtcdRefusedError(`${op}: ${refused}`, err);
  const msg = err instanceof Error ? err.message : String(err);
  const why = /DEADLINE_EXCEEDED|deadline exceeded/i.test(msg) ? 'no answer before the deadline'
    : /ECONNREFUSED/.test(msg) ? 'connection refused'
      : /UNAVAILABLE|No connection established|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|connect/i.test(msg) ? 'no connection'
        : undefined;
  if (why) return new UnavailableError('etcd.unavailable', `cannot reach etcd: ${op}: ${why}`, err);
  return new UnavailableError('etcd.unavailable', `etcd ${op} failed: ${msg}`, err);
}

/** Runs one etcd operation, converting its errors at the boundary. */
export async function etcdCall<T>(op: string, fn: () => Promise<T>, conn?: Pick<EtcdConnection, 'tls' | 'auth'>): Promise<T> {
  etcdRequests.inc({ op });
  try {
    return await fn();
  } catch (err) {
    etcdErrors.inc({ op });
    throw toShoalError(err, op, conn);
  }
}
