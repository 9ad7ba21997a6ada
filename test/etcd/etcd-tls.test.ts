/**
 * etcd over TLS with client-certificate auth, and with etcd's user/password auth, against real etcd
 * servers: the registry works through them (writes, watches, leases, the election), and a client that
 * etcd refuses (no client certificate, a certificate or CA from elsewhere, a wrong password, no user)
 * gets EtcdRefusedError naming the setting to fix; shoald exits 2 at once saying why, instead of retrying.
 */
import t, { type Test } from 'tap';

interface Tap { type(v: unknown, c: new (...a: never[]) => unknown, m?: string): unknown; match(v: unknown, re: RegExp): unknown; equal(a: unknown, b: unknown, m?: string): unknown }
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { makeCerts, startEtcd, SHOAL_PASSWORD, type EtcdCerts, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { EtcdRefusedError, type EtcdConnection } from '../../src/etcd/client';
import type { RegistryEvent } from '../../src/etcd/registry';

const ROOT = join(__dirname, '..', '..');
const TS_LOADER = join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs');
let tls: EtcdServer;
let auth: EtcdServer;
let plainEtcd: EtcdServer;
let other: EtcdCerts;
const regs: EtcdRegistry[] = [];
const reg = (conn: EtcdConnection, prefix = '/tls/') => { const r = new EtcdRegistry({ ...conn, prefix, callTimeoutMs: 3000 }); regs.push(r); return r; };

t.before(async () => {
  [tls, auth, plainEtcd] = await Promise.all([startEtcd({ tls: true }), startEtcd({ tls: true, auth: true }), startEtcd()]);
  other = makeCerts(); // a second CA: its certificates mean nothing to the servers above
});
t.teardown(async () => { for (const r of regs) r.close(); await Promise.all([tls?.close(), auth?.close(), plainEtcd?.close()]); });

/** Asserts that etcd refuses `conn` with EtcdRefusedError (not retryable) whose message matches `re`. */
async function refusedWith(t: Test, conn: EtcdConnection, re: RegExp) {
  const err = await reg(conn).checkAccess().then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof EtcdRefusedError, `refused, not "unreachable": ${(err as Error)?.message}`);
  t.match((err as Error)?.message, re);
  t.equal((err as EtcdRefusedError)?.retryable, false, 'not retryable');
}

t.test('over TLS with a client certificate: writes, a watch, a lease and the election work', async (t) => {
  t.match(tls.endpoint, /^https:/);
  const r = reg(tls.connection);
  await r.checkAccess();
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const watcher = reg(tls.connection);
  const from = (await watcher.readCluster()).revision;
  const seen = (async () => {
    for await (const b of watcher.watch([{ kind: 'units' }], { fromRevision: from, signal: ac.signal })) {
      if (b.events.some((e: RegistryEvent) => e.type === 'unit' && e.unit === 'a.service')) return true;
    }
    return false;
  })();
  t.equal(await r.submitUnit({ name: 'a.service', text: '[Service]\nExecStart=/bin/true\n', hash: 'h' }, { desired: 'launched' }), 'created');
  t.ok(await seen, 'the watch saw the unit');
  const s = await r.register({ id: 'm1', metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 't', startedAt: '' }, 5);
  t.ok(s, 'a machine session (lease) was granted');
  t.ok(await r.campaign('{"id":"e"}', 5, ac.signal), 'leadership over TLS');
  t.match(tls.etcdctl('get', '/tls/desired/a.service', '--print-value-only'), /launched/, 'etcdctl with the client certificate reads it');
});

t.test('no client certificate: refused, naming etcd.cert and etcd.key', async (t) => {
  await refusedWith(t, { endpoints: [tls.endpoint], tls: { ca: tls.certs!.ca } }, /etcd requires a client certificate and none is configured \(set etcd\.cert and etcd\.key\)/);
});

t.test('a client certificate of another CA: refused, naming etcd.cert and its path', async (t) => {
  await refusedWith(t, { endpoints: [tls.endpoint], tls: { ca: tls.certs!.ca, cert: other.cert, key: other.key } },
    new RegExp(`etcd refused the client certificate \\(etcd\\.cert = ${other.cert}\\)`));
});

t.test("etcd's certificate signed by a CA shoal does not trust: refused, naming etcd.ca", async (t) => {
  await refusedWith(t, { endpoints: [tls.endpoint], tls: { ca: other.ca, cert: tls.certs!.cert, key: tls.certs!.key } },
    new RegExp(`etcd's certificate is not trusted \\(etcd\\.ca = ${other.ca}\\)`));
});

t.test('an unreadable TLS file is a config error naming the setting', async (t) => {
  t.throws(() => reg({ endpoints: [tls.endpoint], tls: { ca: '/nonexistent/ca.pem' } }), /etcd\.ca: cannot read \/nonexistent\/ca\.pem: ENOENT/);
});

t.test('etcd auth: the right password works, a wrong one is refused', async (t) => {
  const ok = reg(auth.connection);
  await ok.checkAccess();
  t.equal(await ok.submitUnit({ name: 'b.service', text: '[Service]\nExecStart=/bin/true\n', hash: 'h' }), 'created', 'writes as user shoal');
  await refusedWith(t, { ...auth.connection, auth: { username: 'shoal', password: 'wrong' } },
    /etcd refused the user name or password \(etcd\.username = shoal, etcd\.password\): etcdserver: authentication failed/);
  // with auth on and no user name, etcd takes the client certificate's CN as the user (here "shoal")
  await reg({ endpoints: auth.connection.endpoints, tls: auth.connection.tls }).checkAccess();
  t.pass('a certificate whose CN is an etcd user gets in without a password');
});

let spawned = 0;
/** Runs shoald (engine role) with `env`; resolves with its exit code and stderr, or null if it still runs after `ms`. */
function shoald(env: Record<string, string>, ms: number, started?: (p: ChildProcess) => void): Promise<{ code: number | null; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = `unix://${tmpdir()}/shoal-tls-test-${process.pid}-${++spawned}.sock`;
    const p = spawn(process.execPath, [`--import=file://${TS_LOADER}`, join(ROOT, 'src/daemon/main.ts'), '--config', '/dev/null'],
      { env: { ...process.env, SHOAL_ROLES: 'engine', SHOAL_PREFIX: '/sd/', SHOAL_API_LISTEN: sock, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    started?.(p);
    let stderr = '';
    p.stderr!.on('data', (b) => { stderr += b.toString(); });
    const timer = setTimeout(() => { p.kill('SIGKILL'); }, ms);
    p.once('exit', (code, sig) => { clearTimeout(timer); resolve({ code: sig === 'SIGKILL' ? null : code, stderr, ms: Date.now() - t0 }); });
  });
}

t.test('shoald refused by etcd exits 2 at once and says why; with the right settings it runs', async (t) => {
  const certEnv = { SHOAL_ETCD: tls.endpoint, SHOAL_ETCD_CA: tls.certs!.ca };
  const noCert = await shoald(certEnv, 60_000);
  t.equal(noCert.code, 2, 'no client certificate: exit 2 (systemd units do not restart it)');
  t.match(noCert.stderr, /etcd requires a client certificate and none is configured \(set etcd\.cert and etcd\.key\)/);
  const badPw = await shoald({ SHOAL_ETCD: auth.endpoint, SHOAL_ETCD_CA: auth.certs!.ca, SHOAL_ETCD_CERT: auth.certs!.cert, SHOAL_ETCD_KEY: auth.certs!.key,
    SHOAL_ETCD_USERNAME: 'shoal', SHOAL_ETCD_PASSWORD: 'wrong' }, 60_000);
  t.equal(badPw.code, 2, 'a wrong password: exit 2');
  t.match(badPw.stderr, /etcd refused the user name or password \(etcd\.username = shoal/);
  const missing = await shoald({ ...certEnv, SHOAL_ETCD_CERT: '/nonexistent/c.pem', SHOAL_ETCD_KEY: '/nonexistent/k.pem' }, 60_000);
  t.equal(missing.code, 2, 'an unreadable certificate: exit 2');
  t.match(missing.stderr, /etcd\.cert: cannot read \/nonexistent\/c\.pem/);
  // https:// to an etcd serving plain http: every TLS handshake is cut; after 3 in a row (1 s apart) it is a refusal
  const plain = await shoald({ SHOAL_ETCD: plainEtcd.endpoint.replace('http:', 'https:'), SHOAL_ETCD_CA: tls.certs!.ca, SHOAL_ETCD_CERT: tls.certs!.cert, SHOAL_ETCD_KEY: tls.certs!.key }, 60_000);
  t.equal(plain.code, 2, 'TLS to a plain-http etcd: exit 2');
  t.match(plain.stderr, /etcd closed every TLS handshake at https:\/\/127\.0\.0\.1:\d+ 3 times in a row: does it serve plain http there\?/);
  // the right settings: shoald campaigns and becomes the leader over TLS + auth, then stops cleanly on SIGTERM
  const watch = reg(auth.connection, '/sd/');
  let proc: ChildProcess | undefined;
  const good = shoald({ SHOAL_ETCD: auth.endpoint, SHOAL_ETCD_CA: auth.certs!.ca, SHOAL_ETCD_CERT: auth.certs!.cert, SHOAL_ETCD_KEY: auth.certs!.key,
    SHOAL_ETCD_USERNAME: 'shoal', SHOAL_ETCD_PASSWORD: SHOAL_PASSWORD }, 90_000, (p) => { proc = p; });
  const deadline = Date.now() + 60_000;
  let leader: string | null = null;
  while (!leader && Date.now() < deadline) { leader = await watch.currentLeader().catch(() => null); if (!leader) await new Promise((r) => setTimeout(r, 100)); }
  t.ok(leader, 'a shoald with the right certificate and password became the leader');
  proc?.kill('SIGTERM');
  t.equal((await good).code, 0, 'it ran until SIGTERM and stopped cleanly');
});
