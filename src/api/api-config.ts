/**
 * The `[api]` section of shoald's TOML config and its SHOAL_API_* overrides, and `startApi` for shoald.
 *
 *   [api]
 *   listen = ["unix:///run/shoal/shoal.sock", "0.0.0.0:7411"]   # SHOAL_API_LISTEN (comma-separated)
 *   port = 7411              # other machines' API port, for forwarding status/journal   SHOAL_API_PORT
 *   token = "..."            # operator: every call; or token_file = "/etc/shoal/token"   SHOAL_API_TOKEN / SHOAL_API_TOKEN_FILE
 *   read_token = "..."       # read-only: list, status, journal, cat, explain, events, the web page; or read_token_file
 *                            # SHOAL_API_READ_TOKEN / SHOAL_API_READ_TOKEN_FILE (both re-read on SIGHUP)
 *   insecure_plaintext = true   # accept tokens on a non-loopback listener without TLS   SHOAL_API_INSECURE_PLAINTEXT
 *   tls_cert = "/etc/shoal/server.pem"   # SHOAL_API_TLS_CERT
 *   tls_key = "/etc/shoal/server.key"    # SHOAL_API_TLS_KEY
 *   tls_ca = "/etc/shoal/ca.pem"         # clients must present a cert signed by it   SHOAL_API_TLS_CA
 */
import { readFileSync } from 'node:fs';
import { ValidationError } from '../errors';
import type { Logger } from '../log';
import type { ApiRegistry } from './api-registry';
import { DEFAULT_API_PORT, DEFAULT_LISTEN, type ApiConfig } from './listeners';
import { SystemctlInspector } from './local-units';
import { ApiServer, type ApiServerDeps } from './server';
import { EtcdRegistry } from '../etcd/registry-etcd';
import type { PlacementStrategy } from '../units/types';

const KEYS = ['listen', 'port', 'token', 'token_file', 'read_token', 'read_token_file', 'insecure_plaintext', 'tls_cert', 'tls_key', 'tls_ca'];

/** A token given inline or in a file (env wins over the file's keys); undefined when neither. */
function readToken(inline: string | undefined, file: string | undefined, key: string, cfgFile: string | undefined): string | undefined {
  if (inline) return inline;
  if (!file) return undefined;
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw bad(cfgFile, key, `cannot read ${file}: ${(err as Error).message}`);
  }
  if (!token) throw bad(cfgFile, key, `${file} is empty`);
  return token;
}

function bad(file: string | undefined, key: string, msg: string): ValidationError {
  return new ValidationError('config.bad-api', msg, { file, section: 'api', key });
}

function str(v: unknown, file: string | undefined, key: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw bad(file, key, 'must be a string');
  return v;
}

/** `[api]` (already parsed TOML, may be undefined) + environment → ApiConfig. Env wins. Throws ValidationError naming the key. */
export function apiConfig(section: Record<string, unknown> | undefined, env: NodeJS.ProcessEnv = {}, file?: string): ApiConfig {
  const s = section ?? {};
  for (const k of Object.keys(s)) if (!KEYS.includes(k)) throw bad(file, k, `unknown key (known: ${KEYS.join(', ')})`);
  let listen: string[] = DEFAULT_LISTEN;
  if (env.SHOAL_API_LISTEN) listen = env.SHOAL_API_LISTEN.split(',').map((x) => x.trim()).filter(Boolean);
  else if (s.listen !== undefined) {
    if (!Array.isArray(s.listen) || !s.listen.every((x) => typeof x === 'string')) throw bad(file, 'listen', 'must be a list of addresses');
    listen = s.listen as string[];
  }
  const portRaw = env.SHOAL_API_PORT ?? s.port;
  const port = portRaw === undefined ? DEFAULT_API_PORT : Number(portRaw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(file, 'port', `${JSON.stringify(portRaw)} is not a TCP port`);
  const token = readToken(env.SHOAL_API_TOKEN || str(s.token, file, 'token'), env.SHOAL_API_TOKEN_FILE || str(s.token_file, file, 'token_file'), 'token_file', file);
  const readTok = readToken(env.SHOAL_API_READ_TOKEN || str(s.read_token, file, 'read_token'),
    env.SHOAL_API_READ_TOKEN_FILE || str(s.read_token_file, file, 'read_token_file'), 'read_token_file', file);
  if (token && readTok && token === readTok) throw bad(file, 'read_token', 'the read-only token must differ from the operator token');
  const plainRaw = env.SHOAL_API_INSECURE_PLAINTEXT ?? s.insecure_plaintext;
  if (plainRaw !== undefined && ![true, false, 'true', 'false'].includes(plainRaw as string | boolean)) {
    throw bad(file, 'insecure_plaintext', `${JSON.stringify(plainRaw)}: expected true or false`);
  }
  const certFile = env.SHOAL_API_TLS_CERT || str(s.tls_cert, file, 'tls_cert');
  const keyFile = env.SHOAL_API_TLS_KEY || str(s.tls_key, file, 'tls_key');
  const caFile = env.SHOAL_API_TLS_CA || str(s.tls_ca, file, 'tls_ca');
  if (!!certFile !== !!keyFile) throw bad(file, certFile ? 'tls_key' : 'tls_cert', 'tls_cert and tls_key go together');
  if (caFile && !certFile) throw bad(file, 'tls_ca', 'tls_ca needs tls_cert and tls_key (the server\'s own certificate)');
  const cfg: ApiConfig = { listen, port };
  if (token) cfg.token = token;
  if (readTok) cfg.readToken = readTok;
  if (plainRaw === true || plainRaw === 'true') cfg.insecurePlaintext = true;
  if (certFile && keyFile) cfg.tls = { certFile, keyFile, ...(caFile ? { caFile } : {}) };
  return cfg;
}

/**
 * Deadline of the API's etcd calls (ms). A user waiting on `shoalctl` wants an answer: during an etcd
 * outage a read fails in this time with "cannot reach etcd" instead of the roles' 5 s deadline.
 */
export const API_ETCD_CALL_TIMEOUT_MS = 1500;

/** The registry the API reads and writes through: its own etcd client, with the API's deadline. */
export function apiRegistry(conn: { endpoints: string[]; prefix: string }): EtcdRegistry {
  return new EtcdRegistry({ ...conn, callTimeoutMs: API_ETCD_CALL_TIMEOUT_MS });
}

/** What shoald passes to startApi. */
export interface StartApiDeps {
  registry: ApiRegistry;
  log: Logger;
  /** This machine's id when shoald runs the agent role: status/journal of its units are served here. */
  machineId?: string;
  /** The cluster's default placement strategy (engine config), for explain. */
  strategy?: () => PlacementStrategy | undefined;
  /** The cluster's events (src/events), for WatchEvents. */
  events?: ApiServerDeps['events'];
}

/** Starts the API for shoald (systemctl/journalctl as the local inspector on agent machines). Close it on shutdown. */
export async function startApi(cfg: ApiConfig, deps: StartApiDeps): Promise<ApiServer> {
  const server = new ApiServer(cfg, {
    registry: deps.registry, log: deps.log.child({ component: 'api' }),
    machineId: deps.machineId, inspector: deps.machineId ? new SystemctlInspector() : undefined, strategy: deps.strategy, events: deps.events,
  });
  await server.start();
  return server;
}
