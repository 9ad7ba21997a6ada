/**
 * Starts a real etcd server (Debian's etcd-server package) for one test file, on free loopback
 * ports in a temporary data dir, and stops it afterwards. Fails loudly when etcd is not installed:
 * a test that needs etcd never passes without one. `startEtcd({ tls: true })` serves TLS with
 * client-certificate auth (certificates from testbed/certs), `auth: true` also turns etcd's
 * user/password auth on; `connection` is what a client needs either way.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EtcdConnection } from '../../src/etcd/client';

/** Options of startEtcd. */
export interface EtcdServerOptions {
  /** Serve https with --client-cert-auth; certificates in a temporary dir (default false). */
  tls?: boolean;
  /** Turn etcd auth on: users `root` (password ROOT_PASSWORD) and `shoal` (SHOAL_PASSWORD, read-write on every key). */
  auth?: boolean;
}

/** Passwords of the users `startEtcd({ auth: true })` creates. */
export const ROOT_PASSWORD = 'root-pw';
export const SHOAL_PASSWORD = 'shoal-pw';

/** Files of `startEtcd({ tls: true })` (PEM). */
export interface EtcdCerts {
  dir: string;
  ca: string;
  cert: string;
  key: string;
}

export interface EtcdServer {
  /** Client URL, e.g. `http://127.0.0.1:23791` (`https://` with tls). */
  endpoint: string;
  /** What a client needs: endpoints, and with tls the CA and client certificate, with auth the user `shoal`. */
  connection: EtcdConnection;
  /** With tls: the CA and the client certificate. */
  certs?: EtcdCerts;
  /** Runs etcdctl (v3) against this server with the right flags; returns its stdout, throws on exit != 0. */
  etcdctl(...args: string[]): string;
  dataDir: string;
  /** Kills the server (SIGKILL when `hard`) and waits for it to exit; data dir kept. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same ports and data dir; resolves when healthy. */
  restart(): Promise<void>;
  /** Sends SIGSTOP / SIGCONT (etcd "unreachable" without losing data). */
  pause(): void;
  resume(): void;
  /** Stops the server and deletes the data dir. Idempotent. */
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const CERTS_SCRIPT = resolve(__dirname, '..', '..', 'testbed', 'certs');

/** Makes a CA, a server certificate for 127.0.0.1 and a client certificate in a new temporary dir. */
export function makeCerts(): EtcdCerts {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-pki-'));
  execFileSync(CERTS_SCRIPT, [dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { dir, ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem') };
}

/** Starts etcd and resolves once `/health` says true (and, with auth, once auth is on). */
export async function startEtcd(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
  const which = spawnSync('sh', ['-c', 'command -v etcd']);
  if (which.status !== 0) {
    throw new Error('etcd is not installed: apt-get install -y etcd-server (the tests need a real etcd)');
  }
  const clientPort = await freePort();
  const peerPort = await freePort();
  const metricsPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'shoal-etcd-'));
  const certs = opts.tls ? makeCerts() : undefined;
  const endpoint = `${certs ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  // /health in plain http on its own port, so the helper need not be a TLS client
  const health = `http://127.0.0.1:${metricsPort}/health`;
  const tlsArgs = certs ? ['--cert-file', join(certs.dir, 'server.pem'), '--key-file', join(certs.dir, 'server-key.pem'),
    '--trusted-ca-file', certs.ca, '--client-cert-auth'] : [];
  const ctlArgs = ['--endpoints', endpoint, '--command-timeout=5s',
    ...(certs ? ['--cacert', certs.ca, '--cert', certs.cert, '--key', certs.key] : []),
    ...(opts.auth ? ['--user', `root:${ROOT_PASSWORD}`] : [])];
  const etcdctl = (...args: string[]) => execFileSync('etcdctl', [...ctlArgs, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 }).toString();
  let proc: ChildProcess | undefined;
  let closed = false;

  const launch = async () => {
    proc = spawn('etcd', [
      '--name', 'test', '--data-dir', dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`, '--listen-metrics-urls', `http://127.0.0.1:${metricsPort}`, ...tlsArgs,
      // single member: a short election timeout makes it leader in ~0.1 s instead of ~1 s
      '--heartbeat-interval=10', '--election-timeout=100', '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (b) => { stderr = (stderr + b.toString()).slice(-4000); });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}: ${stderr}`);
      try {
        const res = await fetch(health, { signal: AbortSignal.timeout(500) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy in 15 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const stop = async (hard = false) => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGCONT');
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };

  await launch();
  if (opts.auth) {
    const ctl = (...args: string[]) => execFileSync('etcdctl', [...ctlArgs.filter((a) => !a.startsWith('root:') && a !== '--user'), ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    ctl('user', 'add', `root:${ROOT_PASSWORD}`);
    ctl('role', 'add', 'shoal');
    ctl('role', 'grant-permission', 'shoal', '--prefix=true', 'readwrite', '/');
    ctl('user', 'add', `shoal:${SHOAL_PASSWORD}`);
    ctl('user', 'grant-role', 'shoal', 'shoal');
    ctl('auth', 'enable');
  }
  const connection: EtcdConnection = {
    endpoints: [endpoint],
    ...(certs ? { tls: { ca: certs.ca, cert: certs.cert, key: certs.key } } : {}),
    ...(opts.auth ? { auth: { username: 'shoal', password: SHOAL_PASSWORD } } : {}),
  };
  return {
    endpoint,
    connection,
    certs,
    etcdctl,
    dataDir,
    stop,
    restart: async () => { await stop(); await launch(); },
    pause: () => { proc?.kill('SIGSTOP'); },
    resume: () => { proc?.kill('SIGCONT'); },
    close: async () => {
      if (closed) return;
      closed = true;
      await stop(true);
      rmSync(dataDir, { recursive: true, force: true });
      if (certs) rmSync(certs.dir, { recursive: true, force: true });
    },
  };
}

/** shoald's SHOAL_ETCD* environment for `etcd` (endpoint, and with tls/auth its files and the user shoal). */
export function shoaldEtcdEnv(etcd: EtcdServer): Record<string, string> {
  const c = etcd.connection;
  return {
    SHOAL_ETCD: c.endpoints.join(','),
    ...(c.tls?.ca ? { SHOAL_ETCD_CA: c.tls.ca } : {}), ...(c.tls?.cert ? { SHOAL_ETCD_CERT: c.tls.cert } : {}), ...(c.tls?.key ? { SHOAL_ETCD_KEY: c.tls.key } : {}),
    ...(c.auth ? { SHOAL_ETCD_USERNAME: c.auth.username, SHOAL_ETCD_PASSWORD: c.auth.password } : {}),
  };
}
