/**
 * The `[http]` section of shoald's config: where the HTTP listener (web status page and /metrics) listens.
 *
 *   [http]
 *   listen = "127.0.0.1:7412"   # SHOAL_HTTP_LISTEN; "" turns the listener off
 *
 * Beyond loopback it follows the API's policy (src/api/listeners.ts) with the `[api]` credentials: a
 * bearer token (`[api] token`) or TLS with client certificates (`[api] tls_cert`, `tls_key`, `tls_ca`),
 * or shoald refuses to start.
 */
import { ValidationError } from '../errors';
import { hostOf } from '../api/listeners';

/** The `[http]` section. */
export interface HttpConfig {
  /** `host:port` or `[v6]:port`; null: no listener. */
  listen: string | null;
  /** False for the default address: when it is taken (another shoald, a test) shoald runs without the page. */
  explicit: boolean;
}

/** The default listener: loopback only. */
export const DEFAULT_HTTP_LISTEN = '127.0.0.1:7412';

const KEYS = ['listen'];

/** `[http]` (parsed TOML, may be undefined) + environment → HttpConfig. Env wins. Throws ValidationError naming the key. */
export function httpConfig(section: Record<string, unknown> | undefined, env: NodeJS.ProcessEnv = {}, file?: string): HttpConfig {
  const s = section ?? {};
  const bad = (key: string, msg: string, fromEnv = false) => (fromEnv
    ? new ValidationError('config.bad-env', msg, { key: 'SHOAL_HTTP_LISTEN' })
    : new ValidationError('config.bad-http', msg, { file, section: 'http', key }));
  for (const k of Object.keys(s)) if (!KEYS.includes(k)) throw bad(k, `unknown key (known: ${KEYS.join(', ')})`);
  const fromEnv = env.SHOAL_HTTP_LISTEN !== undefined;
  const raw = fromEnv ? env.SHOAL_HTTP_LISTEN : s.listen ?? DEFAULT_HTTP_LISTEN;
  if (typeof raw !== 'string') throw bad('listen', 'must be a string like "127.0.0.1:7412"');
  const listen = raw.trim();
  if (listen === '') return { listen: null, explicit: true };
  try {
    hostOf(listen);
  } catch {
    throw bad('listen', `listen address ${JSON.stringify(listen)}: expected host:port or [v6]:port`, fromEnv);
  }
  const port = Number(/:(\d+)$/.exec(listen)![1]);
  if (port > 65535) throw bad('listen', `listen address ${JSON.stringify(listen)}: port ${port} is not a TCP port`, fromEnv);
  return { listen, explicit: fromEnv || s.listen !== undefined };
}
