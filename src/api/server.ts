/**
 * ApiServer: shoald's gRPC API on every configured listener (one grpc-js server per listener, so each
 * has its own credentials and call guard). start() binds everything or fails with the reason; close() is idempotent.
 */
import { chmodSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log';
import { UnavailableError } from '../errors';
import type { MachineRecord } from '../etcd/registry';
import type { ApiRegistry } from './api-registry';
import { ApiClient } from './client';
import type { LocalUnitInspector } from './local-units';
import { shoalService } from './proto';
import { shoalHandlers, type ServiceDeps } from './service';
import type { PlacementStrategy } from '../units/types';
import { ApiTokens, DEFAULT_API_PORT, DEFAULT_LISTEN, callGuard, checkPolicy, classifyListener, serverCredentials, type ApiConfig, type Listener } from './listeners';
import { PermissionError } from './grpc-errors';

/** What the server needs besides its config. */
export interface ApiServerDeps {
  registry: ApiRegistry;
  log: Logger;
  /** This machine's id when shoald runs the agent role (status/journal of its units are served here). */
  machineId?: string;
  /** Reads local status/journal; required with `machineId`. */
  inspector?: LocalUnitInspector;
  /** The cluster's default placement strategy (engine config), for explain. */
  strategy?: () => PlacementStrategy | undefined;
  /** The cluster's events, for WatchEvents. */
  events?: ServiceDeps['events'];
}

/** `host:port` of another machine's API from its record's address. */
export function forwardEndpoint(m: MachineRecord, port: number): string {
  const a = m.address ?? '';
  if (/^\[.*\]:\d+$/.test(a) || /^[^:]+:\d+$/.test(a)) return a;
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

/** Connect attempt to an existing API socket (ms): a hung owner's full backlog must not hold up a start. */
const SOCKET_PROBE_MS = 1000;

/** True when something accepts connections on the unix socket `path` within SOCKET_PROBE_MS (no answer: false). */
function socketLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const timer = setTimeout(() => { s.destroy(); resolve(false); }, SOCKET_PROBE_MS);
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(timer); resolve(false); });
  });
}

/** Creates the socket's directory and removes a socket file left behind (a live one too, with a warning). Throws on fs errors but ENOENT. */
export async function prepareSocket(path: string, log: Logger): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch { /* not there */ }
  if (!isSocket) return;
  if (await socketLive(path)) log.warn('replacing a live API socket: another shoald on this machine? set [api] listen', { path });
  // force: a shoald starting beside it may have removed it meanwhile (ENOENT failed that start)
  rmSync(path, { force: true });
}

/** The running API. */
export class ApiServer {
  private readonly servers: grpc.Server[] = [];
  private readonly bound: string[] = [];
  private closed = false;
  /** The tokens every listener's guard checks; swapped by updateTokens (SIGHUP). */
  private readonly tokens: ApiTokens;

  constructor(private readonly cfg: ApiConfig, private readonly deps: ApiServerDeps) {
    this.tokens = new ApiTokens(cfg);
  }

  /**
   * Rotates the tokens (SIGHUP): calls from now on are checked against the new ones; connections and
   * calls in progress (a journal -f) are not dropped. Forwarding uses the new ones too.
   */
  updateTokens(next: Pick<ApiConfig, 'token' | 'readToken'>): void {
    this.tokens.update(next);
  }

  /** Addresses actually bound (a `:0` port replaced by the chosen one). */
  addresses(): string[] {
    return [...this.bound];
  }

  /** Checks every listener's policy first (nothing is bound if one is refused), then binds them all. */
  async start(): Promise<void> {
    const listen = this.cfg.listen.length ? this.cfg.listen : DEFAULT_LISTEN;
    const listeners = listen.map(classifyListener);
    for (const l of listeners) checkPolicy(l, this.cfg);
    try {
      for (const l of listeners) await this.bind(l);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private async bind(l: Listener): Promise<void> {
    const port = this.cfg.port ?? DEFAULT_API_PORT;
    const handlers = shoalHandlers({
      registry: this.deps.registry, log: this.deps.log, machineId: this.deps.machineId, inspector: this.deps.inspector, strategy: this.deps.strategy, events: this.deps.events,
      connect: (m) => this.forwardClient(m, port),
    }, callGuard(l, this.cfg, this.tokens));
    const server = new grpc.Server();
    server.addService(shoalService().service, handlers);
    if (l.path) await prepareSocket(l.path, this.deps.log);
    const got = await new Promise<number>((resolve, reject) => {
      server.bindAsync(l.address, serverCredentials(grpc, l, this.cfg), (err, p) => (err ? reject(err) : resolve(p)));
    }).catch((err: Error) => {
      server.forceShutdown();
      throw new UnavailableError('api.listen-failed', `cannot listen on ${l.address}: ${err.message}`, err);
    });
    if (l.path) chmodSync(l.path, 0o660); // root and the socket's group only
    this.servers.push(server);
    this.bound.push(l.kind === 'unix' ? l.address : l.address.replace(/:0$/, `:${got}`));
    this.deps.log.info('api listening', { address: this.bound[this.bound.length - 1], kind: l.kind });
    if (l.kind === 'network' && !this.cfg.tls) {
      this.deps.log.warn('api token travels in clear text on this listener: add tls_cert/tls_key outside a trusted network', { address: l.address });
    }
  }

  /**
   * A client to another machine's shoald for status/journal: TLS verified against the cluster CA
   * (`tls_ca`, presenting this shoald's certificate), with the read-only token when there is one (least
   * privilege), else the operator's. Without `tls_ca` only `insecure_plaintext = true` allows it.
   */
  private forwardClient(m: MachineRecord, port: number): ApiClient {
    const tls = this.cfg.tls;
    if (!tls?.caFile && !this.cfg.insecurePlaintext) {
      throw new PermissionError(`not forwarding to machine ${m.id}: forwarding needs TLS verified against the cluster CA ([api] tls_cert, tls_key, tls_ca), or insecure_plaintext = true`);
    }
    return new ApiClient({
      endpoint: forwardEndpoint(m, port), token: this.tokens.read ?? this.tokens.operator,
      caFile: tls?.caFile, certFile: tls?.caFile ? tls.certFile : undefined, keyFile: tls?.caFile ? tls.keyFile : undefined,
    });
  }

  /** Stops every listener (in-flight calls get up to 2 s). Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      const t = setTimeout(() => { s.forceShutdown(); resolve(); }, 2000);
      s.tryShutdown(() => { clearTimeout(t); resolve(); });
    })));
  }
}
