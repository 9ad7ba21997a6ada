/**
 * shoald: the daemon. Runs the engine and/or agent roles against etcd until SIGTERM/SIGINT, then stops
 * cleanly (the engine resigns leadership). Exit status: 0 after a clean stop, 2 on bad config, 1 on failure.
 */
import { hostname } from 'node:os';
import { ShoalError, ValidationError } from '../errors';
import { EtcdRegistry } from '../etcd/registry-etcd';
import { EtcdRefusedError, tlsHandshakeCut } from '../etcd/client';
import { createLogger, type Logger } from '../log';
import type { Engine } from '../engine/engine';
import { runAgentRole } from './agent-hook';
import type { Agent } from '../agent/agent';
import { reloadConfig } from './reload';
import { loadConfig, type DaemonConfig } from './config';
import { engineId, machineId } from './machine';
import { STOP_DRAIN_MS } from '../drain/types';
import { apiRegistry, startApi } from '../api/api-config';
import type { ApiServer } from '../api/server';
import { startWeb, type WebServer } from '../web/server';
import { createEtcdClient } from '../etcd/client';
import { KeyLayout } from '../etcd/keys';
import { EventStore } from '../events/store';
import { setEventSink } from '../events/emit';
import { interpreterOnly, manageTiering, optimizing } from './tiering';
import { dropIpServerNameWarning } from '../tls-warning';

export { withStartFlags } from './tiering';

/** Parses `--config PATH` / `--config=PATH`; throws ValidationError on anything else. */
export function parseArgs(argv: string[]): { config?: string; help: boolean } {
  const out: { config?: string; help: boolean } = { help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') out.help = true;
    else if (a === '--config' || a === '-c') {
      if (argv[i + 1] === undefined) throw new ValidationError('cli.missing-value', '--config needs a path', { key: '--config' });
      out.config = argv[++i];
    } else if (a.startsWith('--config=')) out.config = a.slice('--config='.length);
    else throw new ValidationError('cli.unknown-option', `unknown argument "${a}"`, { key: a });
  }
  return out;
}

const USAGE = `usage: shoald [--config PATH]
  Runs shoal's engine and/or agent (roles = ["engine", "agent"] by default).
  Config: /etc/shoal/shoal.toml or --config; SHOAL_* environment variables override it
  (SHOAL_ETCD (endpoints, comma-separated), SHOAL_ETCD_CA, SHOAL_ETCD_CERT, SHOAL_ETCD_KEY, SHOAL_ETCD_USERNAME,
  SHOAL_ETCD_PASSWORD, SHOAL_ETCD_DIAL_TIMEOUT, SHOAL_ETCD_REQUEST_TIMEOUT (seconds), SHOAL_PREFIX, SHOAL_ROLES, SHOAL_MACHINE_ID, SHOAL_METADATA=k=v,k2=v2, SHOAL_TTL,
  SHOAL_ENGINE_TTL, SHOAL_ENGINE_ID, SHOAL_CAPACITY_CPU (cores or millicores: 2, 1.5, 500m), SHOAL_CAPACITY_MEMORY (bytes or
  K/M/G/T, 1024-based: 512M, 1G), SHOAL_ADDRESS, SHOAL_HTTP_LISTEN (web page and /metrics,
  default 127.0.0.1:7412, "" for none), SHOAL_V8_OPT=always (V8's optimizing compiler also outside
  a leading engine's term)). Exit status 2 on a bad config or argument, or when etcd
  refuses shoal's certificate or credentials.
`;

/** The running roles, kept so a SIGHUP can apply a reloaded config to them. */
export interface DaemonRoles {
  engine?: Engine;
  agent?: Agent;
  api?: ApiServer;
  /** The web page and /metrics listener (absent when `[http] listen = ""`). */
  web?: WebServer;
}

/** Runs the configured roles until `signal` aborts; resolves when every role has stopped. */
export async function runDaemon(config: DaemonConfig, log: Logger, signal: AbortSignal, running: DaemonRoles = {}): Promise<void> {
  const registry = new EtcdRegistry({ ...config.etcd, log: log.child({ component: 'etcd' }) });
  const roles: Promise<void>[] = [];
  const failed = new AbortController();
  const both = AbortSignal.any([signal, failed.signal]);
  const guard = (name: string, p: Promise<void>) => p.catch((err) => { log.error(`${name} role failed`, { reason: (err as Error).message }); failed.abort(err); throw err; });
  let api: ApiServer | undefined;
  let web: WebServer | null = null;
  // the API's own client, with a short deadline: a user's read during an etcd outage fails fast
  const apiReg = apiRegistry(config.etcd);
  // cluster events (src/events): emitEvent() from any module goes here; the leader's recorder derives the rest
  const eventsClient = createEtcdClient(config.etcd);
  const events = new EventStore(eventsClient, new KeyLayout(config.etcd.prefix), log.child({ component: 'events' }));
  const previousSink = setEventSink(events);
  let recorder: Promise<void> | undefined;
  try {
    // etcd refusing shoal's certificate or credentials is a setting to fix, not an outage to wait out:
    // checked before the roles start, and again until etcd first answers when it is unreachable now
    if (!(await etcdAccess(registry, log))) roles.push(guard('etcd access check', untilEtcdAnswers(registry, config.etcd.endpoints, both)));
    // the API first: a refused listener (e.g. non-loopback without TLS client certs or a token) stops shoald here
    api = await startApi(config.api, { registry: apiReg, log, machineId: config.roles.includes('agent') ? machineId(config) : undefined, strategy: () => config.engine.strategy, events });
    running.api = api;
    // the page and /metrics: refused like the API beyond loopback without a token or client certificates
    web = await startWeb(config.http, config.api, { registry: apiReg, log, strategy: () => config.engine.strategy, events });
    if (web) running.web = web;
    if (config.roles.includes('engine')) {
      if (interpreterOnly()) log.warn('the engine role under --lite-mode/--jitless: V8 runs without its compilers and a leader plans several times slower; give those flags to agent-only machines (deploy/shoald-agent-only.conf)');
      // loaded only for the engine role: an agent-only shoald never loads the scheduler
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Engine } = require('../engine/engine') as typeof import('../engine/engine');
      // with the agent role on, the engine is this machine's: the same id (list-machines and the page show
      // which machine leads); an engine-only process without one is told apart by host and pid
      const id = engineId(config, hostname(), process.pid);
      // a machine the engine has not seen die gets its own TTL plus a margin to re-register (issue 9)
      // two TTLs + 3 s: an agent whose register call was in flight when etcd came back gets a whole retry
      const machineGraceMs = (2 * config.machine.ttlSeconds + 3) * 1000;
      const engine = new Engine({ registry, id, log: log.child({ component: 'engine' }), ttlSeconds: config.engine.ttlSeconds, strategy: config.engine.strategy, machineGraceMs, autoscaleIntervalMs: config.engine.autoscaleIntervalMs, onLeading: optimizing });
      running.engine = engine;
      roles.push(guard('engine', engine.run(both)));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runRecorder } = require('../events/recorder') as typeof import('../events/recorder');
      recorder = runRecorder({ client: eventsClient, store: events, isLeader: () => engine.isLeader, log: log.child({ component: 'events' }) }, both);
    }
    if (config.roles.includes('agent')) {
      roles.push(guard('agent', runAgentRole({ config, registry, log: log.child({ component: 'agent' }), signal: both, onAgent: (a) => { running.agent = a; } })));
    }
    const results = await Promise.allSettled(roles);
    const bad = results.find((r) => r.status === 'rejected');
    if (bad) throw (bad as PromiseRejectedResult).reason;
  } finally {
    await web?.close();
    await api?.close();
    await recorder;
    setEventSink(previousSink);
    eventsClient.close();
    // resource figures for operators and bench/scale.ts (maxRSS is in KiB)
    log.info('etcd usage', { requests: registry.stats.requests, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) });
    registry.close();
    apiReg.close();
  }
}

/** True when etcd answered; throws EtcdRefusedError when it refused shoal; false when it is unreachable now. */
async function etcdAccess(registry: EtcdRegistry, log: Logger): Promise<boolean> {
  try {
    await registry.checkAccess();
    return true;
  } catch (err) {
    if (err instanceof EtcdRefusedError) throw err;
    log.warn('etcd not reachable yet; starting anyway', { reason: (err as Error).message });
    return false;
  }
}

/** TLS handshakes cut this many checks in a row (1 s apart): etcd serves plain http where shoal expects TLS. */
const HANDSHAKE_CUTS = 3;

/**
 * Checks access every second until etcd answers (resolves) or refuses shoal (throws EtcdRefusedError),
 * which includes every TLS handshake being cut HANDSHAKE_CUTS times in a row.
 */
async function untilEtcdAnswers(registry: EtcdRegistry, endpoints: string[], signal: AbortSignal): Promise<void> {
  let cuts = 0;
  while (!signal.aborted) {
    try {
      await registry.checkAccess();
      return;
    } catch (err) {
      if (err instanceof EtcdRefusedError) throw err;
      cuts = tlsHandshakeCut(err) ? cuts + 1 : 0;
      if (cuts >= HANDSHAKE_CUTS) {
        throw new EtcdRefusedError(`etcd closed every TLS handshake at ${endpoints.join(', ')} ${cuts} times in a row: `
          + 'does it serve plain http there? (etcd.endpoints: use http://, or turn TLS on in etcd)', err);
      }
    }
    await new Promise((r) => { const t = setTimeout(r, 1000); signal.addEventListener('abort', () => { clearTimeout(t); r(undefined); }, { once: true }); });
  }
}

/** Where shoald's memory is, in MiB (logged on SIGUSR2; bench/memory.ts reads it): RSS, V8 heap by space, off-heap. */
export function memoryFigures(): Record<string, number> {
  const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
  const m = process.memoryUsage();
  const out: Record<string, number> = { rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  for (const s of (require('node:v8') as typeof import('node:v8')).getHeapSpaceStatistics()) out[s.space_name] = mib(s.space_size);
  return out;
}

/** Milliseconds since this process started (node's start-up included), for start-up figures in the log. */
export function uptimeMs(): number {
  return Math.round(process.uptime() * 1000);
}

/**
 * Longest a stop may take, ms: a stop for good drains ≤ STOP_DRAIN_MS, waits ≤ 10 s for the rest to move,
 * then ≤ 5 s to stop them. Below systemd's TimeoutStopSec (90 s, set in deploy/shoald.service).
 */
const SHUTDOWN_MS = STOP_DRAIN_MS + 25_000;

/** Entry point used by bin/shoald. */
export async function main(argv = process.argv.slice(2), opts: { tiering?: boolean } = {}): Promise<number> {
  dropIpServerNameWarning(); // DEP0123 for etcd members reached by IP address (see tls-warning.ts)
  const log = createLogger({ fields: { component: 'shoald' } });
  let config: DaemonConfig;
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
    if (args.help) { process.stdout.write(USAGE); return 0; }
    config = loadConfig(args.config);
  } catch (err) {
    process.stderr.write(`shoald: ${(err as Error).message}\n`);
    return 2;
  }
  // bin/shoald asks for it (and has set the flags before loading the bundle): V8's compilers only while leading
  if (opts.tiering === true) manageTiering();
  const ac = new AbortController();
  const stop = (sig: string) => {
    log.info('stopping', { signal: sig });
    ac.abort();
    // every step of a stop has its own deadline; this one is the last word (systemd would wait 90 s, then SIGKILL)
    setTimeout(() => { log.error('stop took too long; exiting', { afterMs: SHUTDOWN_MS }); process.exit(1); }, SHUTDOWN_MS).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  const running: DaemonRoles = {};
  const onHup = () => { void reloadConfig(args.config, config, running, log).then((next) => { config = next; }); };
  process.on('SIGHUP', onHup);
  const onUsr2 = () => log.info('memory', memoryFigures());
  process.on('SIGUSR2', onUsr2);
  // uptimeMs: from the process's start (node's own start-up and module load included): a busy machine's cold start
  log.info('starting', { roles: config.roles.join(','), etcd: config.etcd.endpoints.join(','), prefix: config.etcd.prefix, uptimeMs: uptimeMs() });
  try {
    await runDaemon(config, log, ac.signal, running);
    log.info('stopped');
    return 0;
  } catch (err) {
    log.error('shoald failed', { code: err instanceof ShoalError ? err.code : undefined, reason: (err as Error).message });
    // a setting to fix (etcd refused shoal, an unreadable etcd TLS file): exit 2, which systemd units do not restart
    return err instanceof EtcdRefusedError || (err instanceof ValidationError && err.code.startsWith('etcd.')) ? 2 : 1;
  } finally {
    process.off('SIGHUP', onHup);
    process.off('SIGUSR2', onUsr2);
  }
}

if (require.main === module) {
  void main().then((code) => process.exit(code));
}
