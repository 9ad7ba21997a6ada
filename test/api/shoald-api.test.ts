/** shoald starts the API from its config: a non-loopback listener without credentials stops it at startup; a unix socket serves. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { shoaldEtcdEnv, startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { ApiClient } from '../../src/api/client';

const ROOT = join(__dirname, '..', '..');
const TS_LOADER = join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs');
let etcd: EtcdServer;
let dir: string;

function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('this machine has no non-loopback IPv4 address (ip -4 addr)');
}

function shoald(env: Record<string, string>) {
  const p = spawn(process.execPath, [`--import=file://${TS_LOADER}`, join(ROOT, 'src/daemon/main.ts'), '--config', '/dev/null'], {
    env: { ...process.env, SHOAL_ROLES: 'engine', ...shoaldEtcdEnv(etcd), SHOAL_PREFIX: '/sapi/', ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  p.stderr!.on('data', (b) => { err += b.toString(); });
  const exit = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  return { p, exit, stderr: () => err };
}

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  dir = mkdtempSync(join(tmpdir(), 'shoal-sapi-'));
});
t.teardown(async () => {
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('a non-loopback listener without TLS client certs or token: shoald refuses to start and says why', async (t) => {
  const d = shoald({ SHOAL_API_LISTEN: `${externalAddress()}:0` });
  const timer = setTimeout(() => d.p.kill('SIGKILL'), 30_000);
  t.equal(await d.exit, 1);
  clearTimeout(timer);
  t.match(d.stderr(), /code=api\.insecure-listener/);
  t.match(d.stderr(), /refusing to listen on .*needs TLS with client certificates .* or a bearer token/);
});

t.test('a token on a non-loopback listener without TLS: refused unless insecure_plaintext = true', async (t) => {
  const d = shoald({ SHOAL_API_LISTEN: `${externalAddress()}:0`, SHOAL_API_TOKEN: 't' });
  const timer = setTimeout(() => d.p.kill('SIGKILL'), 30_000);
  t.equal(await d.exit, 1);
  clearTimeout(timer);
  t.match(d.stderr(), /code=api\.plaintext-token/);
  t.match(d.stderr(), /a token on a non-loopback listener without TLS travels in clear text.*insecure_plaintext = true/);
});

t.test('with a token and insecure_plaintext it starts; a unix socket serves shoalctl; SIGTERM stops it cleanly', async (t) => {
  const sock = join(dir, 'shoal.sock');
  const d = shoald({ SHOAL_API_LISTEN: `unix://${sock},${externalAddress()}:0`, SHOAL_API_TOKEN: 't', SHOAL_API_INSECURE_PLAINTEXT: 'true' });
  const c = new ApiClient({ endpoint: sock, timeoutMs: 2000 });
  let ok = false;
  // generous: shoald starts through the TypeScript loader, slow on a loaded machine
  for (const until = Date.now() + 60_000; Date.now() < until && !ok && d.p.exitCode === null;) {
    ok = await c.listUnitFiles().then(() => true, () => false);
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(ok, `the API answers on the socket (${d.stderr().slice(-300)})`);
  t.same(await c.setDesiredState(['x.service'], 'launched').catch((e) => e.code), 'unit.not-found', 'a real call through shoald');
  c.close();
  d.p.kill('SIGTERM');
  t.equal(await d.exit, 0);
  t.match(d.stderr(), /api listening.*kind=unix/);
});
