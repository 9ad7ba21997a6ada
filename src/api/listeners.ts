/**
 * Listener policy: a unix socket or a loopback address may be plaintext without credentials; any
 * other address needs TLS with client certificates or a bearer token, or shoald refuses to start.
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
  /** Bearer token required (metadata `authorization: Bearer TOKEN`) on non-loopback listeners. */
  token?: string;
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

/** Throws ValidationError `api.insecure-listener` when a network listener would accept anyone. */
export function checkPolicy(l: Listener, cfg: ApiConfig): void {
  if (l.kind !== 'network') return;
  if (cfg.tls?.caFile || cfg.token) return;
  throw new ValidationError(
    'api.insecure-listener',
    `refusing to listen on ${l.address}: a non-loopback listener needs TLS with client certificates ` +
    '(tls_cert, tls_key and tls_ca) or a bearer token (token); or listen on a unix socket or 127.0.0.1',
    { section: 'api', key: 'listen' },
  );
}

/** Server credentials for `l`: plaintext on unix/loopback, TLS (mTLS with a CA) on the network when configured. */
export function serverCredentials(g: typeof grpc, l: Listener, cfg: ApiConfig): grpc.ServerCredentials {
  if (l.kind !== 'network' || !cfg.tls) return g.ServerCredentials.createInsecure();
  const { certFile, keyFile, caFile } = cfg.tls;
  const ca = caFile ? readFileSync(caFile) : null;
  return g.ServerCredentials.createSsl(ca, [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }], !!caFile);
}

/** The per-call check for `l`: the bearer token on network listeners when one is configured. */
export function callGuard(l: Listener, cfg: ApiConfig): CallGuard {
  if (l.kind !== 'network' || !cfg.token) return () => {};
  const want = Buffer.from(`Bearer ${cfg.token}`);
  return (md) => {
    const got = Buffer.from(String(md.get('authorization')[0] ?? ''));
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new AuthError('missing or wrong bearer token: pass --token or set SHOAL_TOKEN');
    }
  };
}
