/**
 * shoald's configuration: a TOML file (default /etc/shoal/shoal.toml, optional when absent) overridden by
 * SHOAL_* environment variables. Bad values fail with a ValidationError naming the file and the key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { ValidationError } from '../errors';
import { PLACEMENT_STRATEGIES, type PlacementStrategy } from '../units/types';
import { parseCpu, parseMemory } from '../units/resources';
import { metadataProblem } from '../units/metadata';
import { apiConfig } from '../api/api-config';
import type { ApiConfig } from '../api/listeners';
import { httpConfig, type HttpConfig } from '../web/http-config';
import type { EtcdConnection } from '../etcd/client';

/** What shoald runs. */
export type Role = 'engine' | 'agent';

/** Typed daemon configuration. */
export interface DaemonConfig {
  roles: Role[];
  /** `[etcd]`: endpoints, prefix, TLS files, etcd auth, deadlines (SHOAL_ETCD, SHOAL_ETCD_* override). */
  etcd: EtcdConnection & { prefix: string };
  machine: {
    /** undefined: read /etc/machine-id. */
    id?: string;
    address?: string;
    metadata: Record<string, string>;
    ttlSeconds: number;
    /** Load sampling interval, ms (default 5 s; machine.load_interval_ms / SHOAL_LOAD_INTERVAL_MS). */
    loadIntervalMs?: number;
    /** Overrides of the probed capacity (nspawn nodes see the host's hardware). */
    cpuMillis?: number;
    memoryBytes?: number;
    /** Disk capacity for Disk= reservations (machine.capacity_disk / SHOAL_CAPACITY_DISK; default: the size of /var/lib's filesystem). */
    diskBytes?: number;
  };
  /** autoscaleIntervalMs: how often the leader evaluates autoscaled groups (default 5 s). */
  engine: { id?: string; ttlSeconds: number; strategy?: PlacementStrategy; autoscaleIntervalMs?: number };
  /** `[api]`: listeners, token, TLS (src/api/api-config.ts; SHOAL_API_* override). */
  api: ApiConfig;
  /** `[http]`: the web status page and /metrics (src/web/http-config.ts; SHOAL_HTTP_LISTEN overrides). */
  http: HttpConfig;
}

/** The default config file. */
export const DEFAULT_CONFIG_PATH = '/etc/shoal/shoal.toml';

type Raw = Record<string, unknown>;

/** Loads the config: file (when `path` is given it must exist), then environment overrides. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  const file = path ?? DEFAULT_CONFIG_PATH;
  let raw: Raw = {};
  if (path !== undefined || existsSync(file)) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (err) {
      throw new ValidationError('config.unreadable', `cannot read config: ${(err as Error).message}`, { file });
    }
    try { raw = parseToml(text) as Raw; } catch (err) {
      const e = err as { line?: number; message: string };
      throw new ValidationError('config.bad-toml', e.message.split('\n')[0], { file, line: e.line });
    }
  }
  return buildConfig(raw, env, file);
}

/** Builds a typed config from parsed TOML and the environment (exported for tests). */
export function buildConfig(raw: Raw, env: NodeJS.ProcessEnv, file = '<config>'): DaemonConfig {
  const bad = (key: string, msg: string) => new ValidationError('config.bad-value', msg, { file, key });
  const envBad = (name: string, msg: string) => new ValidationError('config.bad-env', msg, { key: name });
  const etcd = table(raw, 'etcd', bad);
  const machine = table(raw, 'machine', bad);
  const engine = table(raw, 'engine', bad);
  const api = table(raw, 'api', bad);
  const http = table(raw, 'http', bad);

  const roles = env.SHOAL_ROLES !== undefined ? parseRoles(env.SHOAL_ROLES.split(','), (m) => envBad('SHOAL_ROLES', m))
    : raw.roles !== undefined ? parseRoles(strList(raw.roles, 'roles', bad), (m) => bad('roles', m)) : (['engine', 'agent'] as Role[]);
  const endpoints = env.SHOAL_ETCD ? env.SHOAL_ETCD.split(',').map((s) => s.trim()).filter(Boolean)
    : etcd.endpoints !== undefined ? strList(etcd.endpoints, 'etcd.endpoints', bad) : ['http://127.0.0.1:2379'];
  for (const e of endpoints) if (!/^https?:\/\/[^/]+\/?$/.test(e)) throw (env.SHOAL_ETCD ? envBad('SHOAL_ETCD', `not an etcd URL: "${e}"`) : bad('etcd.endpoints', `not an etcd URL: "${e}"`));
  const prefix = env.SHOAL_PREFIX ?? optStr(etcd.prefix, 'etcd.prefix', bad) ?? '/shoal/';
  if (!prefix.startsWith('/')) throw bad('etcd.prefix', `must start with "/": "${prefix}"`);
  const etcdConn = etcdSecurity(etcd, env, endpoints, bad, envBad);

  const metadata: Record<string, string> = {};
  if (machine.metadata !== undefined) {
    const m = table(machine, 'metadata', (_k, msg) => bad('machine.metadata', msg));
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw bad(`machine.metadata.${k}`, 'must be a string');
      metadata[k] = String(v);
    }
  }
  for (const [k, v] of Object.entries(metadata)) {
    const problem = metadataProblem(k, v);
    if (problem) throw bad(`machine.metadata.${k}`, problem);
  }
  if (env.SHOAL_METADATA) Object.assign(metadata, parseMetadata(env.SHOAL_METADATA, (m) => envBad('SHOAL_METADATA', m)));

  const id = env.SHOAL_MACHINE_ID ?? optStr(machine.id, 'machine.id', bad);
  if (id !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) {
    throw (env.SHOAL_MACHINE_ID ? envBad('SHOAL_MACHINE_ID', `bad machine id "${id}"`) : bad('machine.id', `bad machine id "${id}" (letters, digits, . _ -)`));
  }
  return {
    roles,
    etcd: { endpoints, prefix: prefix.endsWith('/') ? prefix : `${prefix}/`, ...etcdConn },
    machine: {
      id,
      address: env.SHOAL_ADDRESS ?? optStr(machine.address, 'machine.address', bad),
      metadata,
      ttlSeconds: num(env.SHOAL_TTL, 'SHOAL_TTL', envBad) ?? num(machine.ttl, 'machine.ttl', bad) ?? 5,
      loadIntervalMs: num(env.SHOAL_LOAD_INTERVAL_MS, 'SHOAL_LOAD_INTERVAL_MS', envBad) ?? num(machine.load_interval_ms, 'machine.load_interval_ms', bad),
      cpuMillis: size(env.SHOAL_CAPACITY_CPU, 'SHOAL_CAPACITY_CPU', envBad, parseCpu) ?? size(machine.capacity_cpu, 'machine.capacity_cpu', bad, parseCpu),
      memoryBytes: size(env.SHOAL_CAPACITY_MEMORY, 'SHOAL_CAPACITY_MEMORY', envBad, parseMemory)
        ?? size(machine.capacity_memory, 'machine.capacity_memory', bad, parseMemory),
      diskBytes: size(env.SHOAL_CAPACITY_DISK, 'SHOAL_CAPACITY_DISK', envBad, parseMemory) ?? size(machine.capacity_disk, 'machine.capacity_disk', bad, parseMemory),
    },
    engine: {
      id: env.SHOAL_ENGINE_ID ?? optStr(engine.id, 'engine.id', bad),
      ttlSeconds: num(env.SHOAL_ENGINE_TTL, 'SHOAL_ENGINE_TTL', envBad) ?? num(engine.ttl, 'engine.ttl', bad) ?? 5,
      strategy: strategy(env.SHOAL_STRATEGY ?? optStr(engine.strategy, 'engine.strategy', bad), bad),
      autoscaleIntervalMs: num(env.SHOAL_AUTOSCALE_INTERVAL_MS, 'SHOAL_AUTOSCALE_INTERVAL_MS', envBad) ?? num(engine.autoscale_interval_ms, 'engine.autoscale_interval_ms', bad),
    },
    api: apiConfig(api, env, file),
    http: httpConfig(http, env, file),
  };
}

/** `[etcd]` settings beside endpoints and prefix, each with its SHOAL_ETCD_<NAME> override. */
const ETCD_KEYS = ['endpoints', 'prefix', 'ca', 'cert', 'key', 'username', 'password', 'dial_timeout', 'request_timeout'];

/**
 * TLS files, etcd auth and deadlines of `[etcd]` (timeouts in seconds, fractions allowed), each
 * overridden by SHOAL_ETCD_CA, _CERT, _KEY, _USERNAME, _PASSWORD, _DIAL_TIMEOUT, _REQUEST_TIMEOUT.
 * Only the keys that are set appear in the result. Rules: cert and key together; TLS files need
 * https:// endpoints and https:// endpoints are not mixed with http://; a user name needs a password.
 */
function etcdSecurity(etcd: Raw, env: NodeJS.ProcessEnv, endpoints: string[], bad: (k: string, m: string) => Error,
  envBad: (k: string, m: string) => Error): Omit<EtcdConnection, 'endpoints'> {
  for (const k of Object.keys(etcd)) if (!ETCD_KEYS.includes(k)) throw bad(`etcd.${k}`, `unknown setting (${ETCD_KEYS.join(', ')})`);
  const str = (name: string) => {
    const e = env[`SHOAL_ETCD_${name.toUpperCase()}`];
    if (e !== undefined && e !== '') return { value: e, key: `SHOAL_ETCD_${name.toUpperCase()}`, fail: envBad };
    const v = optStr(etcd[name], `etcd.${name}`, bad);
    if (v === '') throw bad(`etcd.${name}`, 'must not be empty');
    return v === undefined ? undefined : { value: v, key: `etcd.${name}`, fail: bad };
  };
  const seconds = (name: string) => {
    const e = env[`SHOAL_ETCD_${name.toUpperCase()}`];
    const s = num(e, `SHOAL_ETCD_${name.toUpperCase()}`, envBad) ?? num(etcd[name], `etcd.${name}`, bad);
    return s === undefined ? undefined : Math.round(s * 1000);
  };
  const [ca, cert, key, username, password] = ['ca', 'cert', 'key', 'username', 'password'].map(str);
  const out: Omit<EtcdConnection, 'endpoints'> = {};
  if (cert && !key) throw cert.fail(cert.key, 'a client certificate needs its key (etcd.key / SHOAL_ETCD_KEY)');
  if (key && !cert) throw key.fail(key.key, 'a client key needs its certificate (etcd.cert / SHOAL_ETCD_CERT)');
  const https = endpoints.filter((e) => e.startsWith('https://')).length;
  if (https > 0 && https < endpoints.length) {
    throw (env.SHOAL_ETCD ? envBad('SHOAL_ETCD', 'mixes https:// and http:// endpoints') : bad('etcd.endpoints', 'mixes https:// and http:// endpoints'));
  }
  const tlsFile = ca ?? cert;
  if (tlsFile && https === 0) throw tlsFile.fail(tlsFile.key, `TLS files need https:// etcd endpoints (got ${endpoints.join(', ')})`);
  if (ca || cert) out.tls = { ...(ca ? { ca: ca.value } : {}), ...(cert && key ? { cert: cert.value, key: key.value } : {}) };
  if (username && !password) throw username.fail(username.key, 'a user name needs a password (etcd.password / SHOAL_ETCD_PASSWORD)');
  if (password && !username) throw password.fail(password.key, 'a password needs a user name (etcd.username / SHOAL_ETCD_USERNAME)');
  if (username && password) out.auth = { username: username.value, password: password.value };
  const dial = seconds('dial_timeout');
  const call = seconds('request_timeout');
  if (dial !== undefined) out.dialTimeoutMs = dial;
  if (call !== undefined) out.callTimeoutMs = call;
  return out;
}

function table(o: Raw, key: string, bad: (k: string, m: string) => Error): Raw {
  const v = o[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(key, 'must be a table');
  return v as Raw;
}

function strList(v: unknown, key: string, bad: (k: string, m: string) => Error): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(key, 'must be a list of strings');
  return v as string[];
}

function optStr(v: unknown, key: string, bad: (k: string, m: string) => Error): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(key, 'must be a string');
  return v;
}

function num(v: unknown, key: string, bad: (k: string, m: string) => Error): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = typeof v === 'string' ? Number(v) : typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw bad(key, `must be a positive number, got ${JSON.stringify(String(v))}`);
  return n;
}

/**
 * A capacity in the syntax unit files use for `[X-Shoal] CPU=` (cores or `500m` → millicores) and
 * `Memory=` (bytes or K/M/G/T, 1024-based → bytes): a TOML number is read as its text (`2` = 2 cores).
 */
function size(v: unknown, key: string, bad: (k: string, m: string) => Error, parse: (s: string) => number): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'bigint') throw bad(key, 'must be a string or a number');
  let n: number;
  try { n = parse(String(v).trim()); } catch (err) { throw bad(key, (err as Error).message); }
  if (n <= 0) throw bad(key, `must be more than 0, got ${JSON.stringify(String(v))}`);
  return n;
}

function parseRoles(list: string[], fail: (m: string) => Error): Role[] {
  const roles = list.map((s) => s.trim()).filter(Boolean);
  for (const r of roles) if (r !== 'engine' && r !== 'agent') throw fail(`unknown role "${r}" (engine, agent)`);
  if (roles.length === 0) throw fail('no roles');
  return [...new Set(roles)] as Role[];
}

/** `k=v,k2=v2` → object. */
export function parseMetadata(s: string, fail: (m: string) => Error): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw fail(`"${part}" is not key=value`);
    const [k, v] = [part.slice(0, i).trim(), part.slice(i + 1).trim()];
    const problem = metadataProblem(k, v);
    if (problem) throw fail(problem);
    out[k] = v;
  }
  return out;
}

function strategy(v: string | undefined, bad: (k: string, m: string) => Error): PlacementStrategy | undefined {
  if (v === undefined) return undefined;
  if (!(PLACEMENT_STRATEGIES as readonly string[]).includes(v)) throw bad('engine.strategy', `unknown strategy "${v}" (${PLACEMENT_STRATEGIES.join(', ')})`);
  return v as PlacementStrategy;
}
