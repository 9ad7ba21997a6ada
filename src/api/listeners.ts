/**
 * Listener policy: a unix socket or a loopback address may be plaintext without credentials; any
 * other address needs TLS with client certificates or a bearer token, or shoald refuses to start, and a
 * token there needs TLS unless `insecure_plaintext = true`. Callers get a role (docs/api.md): the
 * read-only token may list, show and follow; the operator token (or a verified client certificate) may
 * do everything. Tokens are swapped on SIGHUP (ApiTokens) without touching the listeners.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { ValidationError } from '../errors';
import { AuthError } from './grpc-errors';
import type { CallGuard } from './service';

/** The `[api]` section of shoald's config. */
export interface ApiConfig {
  /** Where to listen: `unix:///run/shoal/shoal.sock`, `/path.sock`, `127.0.0.1:7411`, `[::1]:7411`, `0.0.0.0:7411`. */
  listen: string[];
  /** Server certificate and key (PEM files); with `caFile`, clients must present a certificate signed by it. */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  /** The operator's bearer token (metadata `authorization: Bearer TOKEN`) on non-loopback listeners: every call. */
  token?: string;
  /** The read-only bearer token: list, status, journal, cat, explain, events, the web page (READ_METHODS). */
  readToken?: string;
  /** `insecure_plaintext = true`: accept tokens on a non-loopback listener without TLS (they travel in clear text). */
  insecurePlaintext?: boolean;
  /** TCP port of every machine's API, used to forward status/journal to another machine (default 7411). */
  port?: number;
}

/** The default: the unix socket only. */
export const DEFAULT_LISTEN = ['unix:///run/shoal/shoal.sock'];
/** The default API port for TCP listeners and forwarding. */
export const DEFAULT_API_PORT = 7411;

/** One listen address, classified. */
export interface Listener {
  /** The address as grpc-js binds it (`unix:///path` or `host:port`). */
  address: string;
  kind: 'unix' | 'loopback' | 'network';
  /** Socket path for unix listeners. */
  path?: string;
}

/** The host of `host:port` / `[v6]:port` (brackets removed). */
export function hostOf(address: string): string {
  const m = /^\[([^\]]+)\]:\d+$/.exec(address) ?? /^([^:]+):\d+$/.exec(address);
  if (!m) throw new ValidationError('api.bad-listen', `listen address ${JSON.stringify(address)}: expected unix:///path, /path, host:port or [v6]:port`, { section: 'api', key: 'listen' });
  return m[1];
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Classifies one address; throws ValidationError for a malformed one. */
export function classifyListener(address: string): Listener {
  if (address.startsWith('/')) return { address: `unix://${address}`, kind: 'unix', path: address };
  if (address.startsWith('unix:')) {
    const path = address.replace(/^unix:(\/\/)?/, '');
    if (!path.startsWith('/')) throw new ValidationError('api.bad-listen', `listen address ${address}: the socket path must be absolute`, { section: 'api', key: 'listen' });
    return { address: `unix://${path}`, kind: 'unix', path };
  }
  return { address, kind: isLoopback(hostOf(address)) ? 'loopback' : 'network' };
}

/**
 * Throws ValidationError `api.insecure-listener` when a network listener would accept anyone, and
 * `api.plaintext-token` when it would take tokens in clear text without `insecure_plaintext = true`.
 */
export function checkPolicy(l: Listener, cfg: ApiConfig): void {
  if (l.kind !== 'network') return;
  const tokens = !!(cfg.token || cfg.readToken);
  if (!cfg.tls?.caFile && !tokens) {
    throw new ValidationError(
      'api.insecure-listener',
      `refusing to listen on ${l.address}: a non-loopback listener needs TLS with client certificates ` +
      '(tls_cert, tls_key and tls_ca) or a bearer token (token); or listen on a unix socket or 127.0.0.1',
      { section: 'api', key: 'listen' },
    );
  }
  if (tokens && !cfg.tls && !cfg.insecurePlaintext) {
    throw new ValidationError(
      'api.plaintext-token',
      `refusing to listen on ${l.address}: a token on a non-loopback listener without TLS travels in clear text; ` +
      'add tls_cert and tls_key (and tls_ca) to [api], or set insecure_plaintext = true in [api] to accept that',
      { section: 'api', key: 'insecure_plaintext' },
    );
  }
}

/** What a caller may do. */
export type Role = 'read' | 'operator';

/** Who made a call: recorded with every write (docs/api.md). */
export interface Identity {
  /** `local` (unix socket / loopback), `token:operator`, `token:read`, or `cert:<client certificate CN>`. */
  name: string;
  role: Role;
}

/**
 * The calls the read-only role may make: lists, status, journal, cat, explain, events, the web page.
 * Every other call (and any call added later) needs the operator role.
 */
export const READ_METHODS: ReadonlySet<string> = new Set([
  'GetUnit', 'ListUnitFiles', 'ListUnits', 'ListMachines', 'WatchUnitStates', 'Explain', 'UnitStatus', 'Journal',
  'UnitHistory', 'ListDeployments', 'ListJobs', 'DrainStatus', 'WatchEvents', 'ListEvents',
]);

/** True when `id` may make the call `method` (a gRPC method name, e.g. `SubmitUnit`). */
export function allowed(id: Identity, method: string): boolean {
  return id.role === 'operator' || READ_METHODS.has(method);
}

/** The tokens guards check now; `update` swaps them (SIGHUP) without restarting a listener. */
export class ApiTokens {
  operator?: string;
  read?: string;
  constructor(cfg: Pick<ApiConfig, 'token' | 'readToken'>) { this.update(cfg); }
  update(cfg: Pick<ApiConfig, 'token' | 'readToken'>): void {
    this.operator = cfg.token;
    this.read = cfg.readToken;
  }
}

/** The peer's verified client certificate, as grpc-js gives it (absent on plaintext listeners). */
export interface PeerInfo {
  getAuthContext?(): { sslPeerCertificate?: { subject?: { CN?: string | string[] } } } | undefined;
}

function sameSecret(got: string, want: string | undefined): boolean {
  if (!want) return false;
  const a = Buffer.from(got);
  const b = Buffer.from(`Bearer ${want}`);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Server credentials for `l`: plaintext on unix/loopback, TLS (mTLS with a CA) on the network when configured. */
export function serverCredentials(g: typeof grpc, l: Listener, cfg: ApiConfig): grpc.ServerCredentials {
  if (l.kind !== 'network' || !cfg.tls) return g.ServerCredentials.createInsecure();
  const { certFile, keyFile, caFile } = cfg.tls;
  const ca = caFile ? readFileSync(caFile) : null;
  return g.ServerCredentials.createSsl(ca, [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }], !!caFile);
}

const LOCAL: Identity = { name: 'local', role: 'operator' };

/**
 * The per-call check for `l`: who calls. Unix socket and loopback callers are `local` operators. On a
 * network listener with tokens configured a token is required (the operator's or the read-only one, as
 * `tokens` holds them at the time of the call); with mTLS and no token, a verified client certificate
 * is an operator named by its CN. AuthError otherwise.
 */
export function callGuard(l: Listener, cfg: ApiConfig, tokens: ApiTokens = new ApiTokens(cfg)): CallGuard {
  if (l.kind !== 'network') return () => LOCAL;
  return (md, peer) => {
    const got = String(md.get('authorization')[0] ?? '');
    if (tokens.operator || tokens.read) {
      if (sameSecret(got, tokens.operator)) return { name: 'token:operator', role: 'operator' };
      if (sameSecret(got, tokens.read)) return { name: 'token:read', role: 'read' };
      throw new AuthError('missing or wrong bearer token: pass --token or set SHOAL_TOKEN');
    }
    // no token configured: checkPolicy let this listener start only with client certificates (verified by TLS)
    const cn = peer?.getAuthContext?.()?.sslPeerCertificate?.subject?.CN;
    return { name: `cert:${(Array.isArray(cn) ? cn[0] : cn) ?? 'unknown'}`, role: 'operator' };
  };
}
