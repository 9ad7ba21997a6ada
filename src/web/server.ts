/**
 * shoald's HTTP listener: the read-only web status page (static files from src/web/static, the cluster view
 * as JSON and as server-sent events), `explain` of one unit, and Prometheus metrics at /metrics (prom-client's
 * default registry). Policy as the API's (src/api/listeners.ts): beyond loopback the listener needs the `[api]`
 * token or TLS with client certificates, and a request from a non-loopback peer without credentials gets 401.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join, resolve } from 'node:path';
import { Counter, Gauge, register } from 'prom-client';
import type { Logger } from '../log';
import { ShoalError } from '../errors';
import type { ApiConfig } from '../api/listeners';
import { ApiTokens, checkPolicy, classifyListener, type Listener } from '../api/listeners';
import type { ApiRegistry } from '../api/api-registry';
import type { LeaderElector } from '../etcd/registry';
import type { PlacementStrategy } from '../units/types';
import type { HttpConfig } from './http-config';
import type { EventFollower, StatusHub } from './hub';

/** What the listener needs besides its config. */
export interface WebDeps {
  /** shoald's API registry (an EtcdRegistry: it reads the leader key too). */
  registry: ApiRegistry & Partial<Pick<LeaderElector, 'currentLeader'>>;
  log: Logger;
  strategy?: () => PlacementStrategy | undefined;
  /** The cluster events stream for the page's feed (shoald's EventStore). */
  events?: EventFollower;
  /** Most followers of the live page at once (default 100): more get 503. */
  maxFollowers?: number;
  /** A live page with more than this many bytes unsent is cut off (default 4 MiB). */
  maxBufferedBytes?: number;
}

/** Requests served by this listener, by route (a fixed set) and status code. */
const requests = new Counter({ name: 'shoal_http_requests_total', help: 'HTTP requests to the web page and /metrics listener, by route and status code', labelNames: ['route', 'code'] });
/** Live pages following the cluster (server-sent event streams) now. */
const followers = new Gauge({ name: 'shoal_http_page_streams', help: 'Live web pages following the cluster on this shoald' });
const ROUTES = new Set(['/metrics', '/api/status', '/api/explain', '/api/events']);

/** Deadline of one plain (non-streaming) request, ms: a client that reads slowly is cut off. */
const REQUEST_DEADLINE_MS = 10_000;
/** Deadline of a /metrics collection, ms. */
const METRICS_DEADLINE_MS = 5_000;
/** A comment on every stream this often, ms, so proxies and dead peers are noticed. */
const KEEPALIVE_MS = 15_000;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png',
};

/** The page's files (src/web/static, found from src/web or dist/src/web), read once. */
function loadStatic(): Map<string, { type: string; body: Buffer }> {
  // from src/web, dist/src/web, or the bundled shoald (dist/shoald.js)
  const dir = [join(__dirname, 'static'), resolve(__dirname, '..', '..', '..', 'src', 'web', 'static'), resolve(__dirname, '..', 'src', 'web', 'static')]
    .find((d) => existsSync(join(d, 'index.html')));
  if (!dir) throw new ShoalError('http.no-page', `the web page's files are missing (looked for src/web/static/index.html from ${__dirname})`);
  const out = new Map<string, { type: string; body: Buffer }>();
  for (const f of ['index.html', 'app.js', 'render.js', 'style.css']) {
    out.set(`/${f}`, { type: TYPES[f.slice(f.lastIndexOf('.'))], body: readFileSync(join(dir, f)) });
  }
  out.set('/', out.get('/index.html')!);
  return out;
}

function isLoopbackPeer(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a.startsWith('127.') || a === '::1';
}

/** True when `header` carries `token`: `Bearer TOKEN`, or Basic with TOKEN as the password (what a browser prompts for). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  let got: string | undefined;
  if (/^Bearer /i.test(header)) got = header.slice(7).trim();
  else if (/^Basic /i.test(header)) {
    const plain = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    got = plain.slice(plain.indexOf(':') + 1);
  }
  if (got === undefined) return false;
  const a = Buffer.from(got);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The running listener. */
export class WebServer {
  private statusHub: StatusHub | null = null;
  private server: http.Server | null = null;
  private readonly listener: Listener;
  private readonly files: Map<string, { type: string; body: Buffer }>;
  /** stream → the Authorization header it was opened with (checked again when the tokens rotate). */
  private readonly streams = new Map<http.ServerResponse, string | undefined>();
  /** The tokens checked now; swapped by updateTokens (SIGHUP), as the API's. */
  private readonly tokens: ApiTokens;

  /** Throws ValidationError `api.insecure-listener` for a non-loopback address without a token or client-certificate TLS. */
  constructor(private readonly cfg: { listen: string }, private readonly api: ApiConfig, private readonly deps: WebDeps) {
    this.listener = classifyListener(cfg.listen);
    checkPolicy(this.listener, api);
    this.tokens = new ApiTokens(api);
    this.files = loadStatic();
  }

  /**
   * Rotates the tokens (SIGHUP): requests from now on are checked against the new ones, the listener and
   * its connections stay. A live page opened with a token that is no longer valid is cut off (the browser
   * then asks again); loopback and client-certificate pages go on.
   */
  updateTokens(next: Pick<ApiConfig, 'token' | 'readToken'>): void {
    this.tokens.update(next);
    for (const [res, auth] of this.streams) {
      if (!this.allowed(res.req.socket, auth)) res.destroy();
    }
  }

  /** The live view, loaded on the first page visit: a shoald nobody looks at never loads the scheduler for it. */
  get hub(): StatusHub {
    if (!this.statusHub) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { StatusHub: Hub } = require('./hub') as typeof import('./hub');
      this.statusHub = new Hub({ registry: this.deps.registry, log: this.deps.log, strategy: this.deps.strategy, maxBufferedBytes: this.deps.maxBufferedBytes, events: this.deps.events });
    }
    return this.statusHub;
  }

  /** Binds the listener; rejects with the reason (address in use, ...). */
  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => { this.handle(req, res).catch((err) => this.fail(res, err)); };
    const tls = this.listener.kind === 'network' ? this.api.tls : undefined;
    const server = tls
      ? https.createServer({
        cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), ...(tls.caFile ? { ca: readFileSync(tls.caFile), requestCert: true, rejectUnauthorized: false } : {}),
      }, handler)
      : http.createServer(handler);
    server.headersTimeout = 5_000;
    server.requestTimeout = REQUEST_DEADLINE_MS;
    server.keepAliveTimeout = 5_000;
    server.maxConnections = 512;
    this.server = server;
    const { host, port } = splitHostPort(this.cfg.listen);
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => { server.off('error', rej); res(); });
    });
    this.deps.log.info('web page listening', { address: this.address(), tls: !!tls });
  }

  /** `host:port` actually bound (useful with port 0). */
  address(): string {
    const a = this.server?.address() as AddressInfo | null;
    if (!a) return '';
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** Stops listening, ends every stream. Idempotent. */
  async close(): Promise<void> {
    this.statusHub?.close();
    for (const s of this.streams.keys()) s.destroy();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((res) => server.close(() => res()));
  }

  private allowed(socket: Socket, authorization: string | undefined): boolean {
    if (isLoopbackPeer(socket.remoteAddress)) return true;
    if (this.api.tls?.caFile && (socket as TLSSocket).authorized) return true;
    // the page is read-only: the operator's token and the read-only one both open it (docs/api.md, roles)
    const { operator, read } = this.tokens;
    return (!!operator && tokenMatches(authorization, operator)) || (!!read && tokenMatches(authorization, read));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const route = ROUTES.has(path) ? path : this.files.has(path) ? 'page' : 'other';
    res.once('finish', () => requests.inc({ route, code: String(res.statusCode) }));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'");
    if (!this.allowed(req.socket, req.headers.authorization)) {
      if (this.tokens.operator || this.tokens.read) res.setHeader('WWW-Authenticate', 'Basic realm="shoal", charset="UTF-8"');
      return this.text(res, 401, 'unauthorized: send the API token (Authorization: Bearer TOKEN, or any user name with the token as password) or a client certificate\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.setHeader('Allow', 'GET, HEAD'); return this.text(res, 405, 'read-only: GET only\n'); }
    const url = new URL(req.url ?? '/', 'http://x');
    const file = this.files.get(url.pathname);
    if (file) {
      res.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-cache', 'Content-Length': file.body.length });
      res.end(req.method === 'HEAD' ? undefined : file.body);
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        const text = await withDeadline(register.metrics(), METRICS_DEADLINE_MS, 'collecting metrics');
        return this.send(res, 200, register.contentType, text);
      }
      case '/api/status': return this.json(res, await this.hub.status());
      case '/api/explain': {
        const unit = url.searchParams.get('unit');
        if (!unit) return this.text(res, 400, 'explain needs ?unit=NAME\n');
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { explainUnit } = require('../api/explain') as typeof import('../api/explain');
        return this.json(res, await explainUnit(this.deps.registry, unit, this.deps.strategy?.()));
      }
      case '/api/events': return this.stream(req, res);
      default: return this.text(res, 404, `not found: ${url.pathname}\n`);
    }
  }

  /** Server-sent events: `status` (the whole view), `feed` (new entries), `feed-all` (the kept feed, on connect), `problem` (etcd unreachable, or null when fine). */
  private stream(req: http.IncomingMessage, res: http.ServerResponse): void {
    if ((this.statusHub?.size ?? 0) >= (this.deps.maxFollowers ?? 100)) return this.text(res, 503, 'too many live pages open on this machine; try another machine or later\n');
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 2000\n\n');
    this.streams.set(res, req.headers.authorization);
    const sock: Socket = req.socket;
    sock.setNoDelay(true);
    const unfollow = this.hub.follow({
      send: (frame) => { if (!res.destroyed) res.write(frame); return res.writableLength; },
      close: () => res.destroy(),
    });
    const ping = setInterval(() => { if (!res.destroyed) res.write(': ping\n\n'); }, KEEPALIVE_MS);
    followers.inc();
    res.on('close', () => { clearInterval(ping); this.streams.delete(res); followers.dec(); unfollow(); requests.inc({ route: '/api/events', code: '200' }); });
  }

  private json(res: http.ServerResponse, body: unknown): void {
    this.send(res, 200, 'application/json; charset=utf-8', JSON.stringify(body));
  }

  private text(res: http.ServerResponse, code: number, body: string): void {
    this.send(res, code, 'text/plain; charset=utf-8', body);
  }

  private send(res: http.ServerResponse, code: number, type: string, body: string): void {
    // a reader that does not take the answer in time is cut off; it holds nothing else up
    res.setTimeout(REQUEST_DEADLINE_MS, () => res.destroy());
    res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-cache', 'Content-Length': Buffer.byteLength(body) });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  private fail(res: http.ServerResponse, err: unknown): void {
    const e = err as ShoalError;
    const code = e.code === 'unit.not-found' ? 404 : e.name === 'ValidationError' ? 400 : e.name === 'UnavailableError' ? 503 : 500;
    if (code === 500) this.deps.log.error('web request failed', { reason: e.message });
    if (res.headersSent) { res.destroy(); return; }
    this.text(res, code, `${e.message}\n`);
  }
}

function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  return { host: m![1], port: Number(m![2]) };
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new ShoalError('http.deadline', `${what} took longer than ${ms} ms`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Starts the listener of `cfg` for shoald; null when `[http] listen = ""`. Close it on shutdown. */
export async function startWeb(cfg: HttpConfig, api: ApiConfig, deps: WebDeps): Promise<WebServer | null> {
  if (cfg.listen === null) return null;
  const log = deps.log.child({ component: 'http' });
  const server = new WebServer({ listen: cfg.listen }, api, { ...deps, log });
  try {
    await server.start();
  } catch (err) {
    await server.close();
    if (cfg.explicit || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw new ShoalError('http.listen', `cannot listen on ${cfg.listen} ([http] listen): ${(err as Error).message}`);
    // the default address, taken by another shoald on this host (tests, several daemons): run on without the page
    log.warn('web page not served: its default address is in use; set [http] listen (SHOAL_HTTP_LISTEN)', { address: cfg.listen });
    return null;
  }
  return server;
}
