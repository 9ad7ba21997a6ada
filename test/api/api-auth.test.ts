/**
 * Listener policy on a real non-loopback address of this machine: refused at startup without
 * credentials; callers without a token / client certificate refused; token and mTLS accepted.
 * Also status/journal forwarded from one shoald to the one of the machine that runs the unit.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineSession } from '../../src/etcd/registry';
import { ApiServer } from '../../src/api/server';
import { ApiClient } from '../../src/api/client';
import { AuthError, PermissionError } from '../../src/api/grpc-errors';
import { allowed } from '../../src/api/listeners';
import type { LocalUnitInspector } from '../../src/api/local-units';
import { UnavailableError, ValidationError } from '../../src/errors';
import { silentLogger } from '../../src/log';

/** The first non-internal IPv4 address of this machine; the test fails without one. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address: the network listener tests need one (ip -4 addr)');
}

const IP = externalAddress();
let etcd: EtcdServer;
let reg: EtcdRegistry;
let dir: string;
const servers: ApiServer[] = [];
const clients: ApiClient[] = [];
const sessions: MachineSession[] = [];
const client = (o: ConstructorParameters<typeof ApiClient>[0]) => { const c = new ApiClient({ timeoutMs: 3000, ...o }); clients.push(c); return c; };
const serve = async (cfg: ConstructorParameters<typeof ApiServer>[0], extra: Partial<ConstructorParameters<typeof ApiServer>[1]> = {}) => {
  const s = new ApiServer(cfg, { registry: reg, log: silentLogger, ...extra });
  servers.push(s);
  await s.start();
  return s;
};

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for IP, and a client certificate signed by the CA; another CA's client cert too. */
function makeCerts(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'rogue-ca']) openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '1', '-subj', `/CN=${ca}`);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=IP:${IP}\n`);
  const sign = (name: string, ca: string, ext?: string) => {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', ...(ext ? ['-extfile', ext] : []));
  };
  sign('server', 'ca', 'san.ext');
  sign('client', 'ca');
  sign('rogue', 'rogue-ca');
}

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  reg = new EtcdRegistry({ ...etcd.connection, prefix: '/auth/', callTimeoutMs: 3000 });
  dir = mkdtempSync(join(tmpdir(), 'shoal-auth-'));
  makeCerts();
});

t.teardown(async () => {
  for (const c of clients) c.close();
  for (const s of sessions) await s.close();
  for (const s of servers) await s.close();
  reg?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('a non-loopback listener without TLS client certs or a token is refused at startup', async (t) => {
  const s = new ApiServer({ listen: [`unix://${dir}/a.sock`, `${IP}:0`] }, { registry: reg, log: silentLogger });
  const err = await s.start().then(() => null, (e) => e);
  t.ok(err instanceof ValidationError);
  t.equal(err.code, 'api.insecure-listener');
  t.match(err.message, new RegExp(`refusing to listen on ${IP.replace(/\./g, '\\.')}:0.*client certificates.*token`));
  await t.rejects(client({ endpoint: `${dir}/a.sock`, timeoutMs: 500 }).listMachines(), UnavailableError, 'nothing was bound, not even the socket');
  const tlsOnly = new ApiServer({ listen: ['0.0.0.0:0'], tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') } }, { registry: reg, log: silentLogger });
  await t.rejects(tlsOnly.start(), { code: 'api.insecure-listener' }, 'server TLS without client certificates is not enough');
  await t.rejects(new ApiServer({ listen: ['nonsense'] }, { registry: reg, log: silentLogger }).start(), { code: 'api.bad-listen' });
});

t.test('a token on a non-loopback listener without TLS is refused at startup unless insecure_plaintext = true', async (t) => {
  const err = await new ApiServer({ listen: [`${IP}:0`], token: 's3cret' }, { registry: reg, log: silentLogger }).start().then(() => null, (e) => e);
  t.ok(err instanceof ValidationError);
  t.equal(err.code, 'api.plaintext-token');
  t.match(err.message, /travels in clear text; add tls_cert and tls_key \(and tls_ca\) to \[api\], or set insecure_plaintext = true/);
  await t.rejects(new ApiServer({ listen: [`${IP}:0`], readToken: 'r' }, { registry: reg, log: silentLogger }).start(), { code: 'api.plaintext-token' }, 'a read-only token too');
  const s = await serve({ listen: [`${IP}:0`], token: 's3cret', insecurePlaintext: true });
  t.same(await client({ endpoint: s.addresses()[0], token: 's3cret' }).listMachines(), [], 'said in so many words: it starts');
});

t.test('token over TLS: refused without it or with a wrong one, accepted with it; loopback needs none', async (t) => {
  const tls = { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
  const s = await serve({ listen: [`${IP}:0`, '127.0.0.1:0'], token: 's3cret', tls });
  const [net, lo] = s.addresses();
  t.match(net, new RegExp(`^${IP.replace(/\./g, '\\.')}:\\d+$`));
  const ca = join(dir, 'ca.pem');
  const none = await client({ endpoint: net, caFile: ca }).listMachines().then(() => null, (e) => e);
  t.ok(none instanceof AuthError, 'no token → UNAUTHENTICATED');
  t.match(none.message, /token/);
  await t.rejects(client({ endpoint: net, caFile: ca, token: 'wrong' }).listMachines(), AuthError);
  t.same(await client({ endpoint: net, caFile: ca, token: 's3cret' }).listMachines(), []);
  t.same(await client({ endpoint: lo }).listMachines(), [], 'loopback listener: no token needed');
});

t.test('roles: the read-only token lists and shows, every write needs the operator token', async (t) => {
  const tls = { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
  const s = await serve({ listen: [`${IP}:0`], token: 'op', readToken: 'ro', tls });
  const ep = s.addresses()[0];
  const ca = join(dir, 'ca.pem');
  const ro = client({ endpoint: ep, caFile: ca, token: 'ro' });
  const op = client({ endpoint: ep, caFile: ca, token: 'op' });
  t.same(await ro.listMachines(), [], 'list-machines');
  t.same(await ro.listUnitFiles(), [], 'list-unit-files');
  t.same(await ro.listUnits(), [], 'list-units');
  await t.rejects(ro.getUnit('rw.service'), { code: 'unit.not-found' }, 'cat is allowed (the unit does not exist)');
  for (const [what, call] of [
    ['submit', () => ro.submitUnit('rw.service', '[Service]\nExecStart=/bin/true\n')],
    ['start', () => ro.setDesiredState(['rw.service'], 'launched')],
    ['destroy', () => ro.destroyUnit('rw.service')],
    ['set-metadata', () => ro.setMetadata('x', 'k', 'v')],
    ['cordon', () => ro.cordonMachine('x')],
  ] as const) {
    const err = await (call as () => Promise<unknown>)().then(() => null, (e) => e);
    t.ok(err instanceof PermissionError, `${what}: PERMISSION_DENIED for the read-only token`);
    t.match(err?.message, /needs the operator role; this caller \(token:read\) is read-only/);
  }
  t.equal((await op.submitUnit('rw.service', '[Service]\nExecStart=/bin/true\n')).outcome, 'created', 'the operator token writes');
  t.notOk(allowed({ name: 'token:read', role: 'read' }, 'SomeFutureCall'), 'a call nobody listed needs the operator role');
});

t.test('SIGHUP rotation: new tokens apply to new calls, a stream opened before keeps running', async (t) => {
  const tls = { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
  const s = await serve({ listen: [`${IP}:0`], token: 'old-op', readToken: 'old-ro', tls });
  const ep = s.addresses()[0];
  const ca = join(dir, 'ca.pem');
  const watcher = client({ endpoint: ep, caFile: ca, token: 'old-ro' });
  const seen: string[] = [];
  const ac = new AbortController();
  const following = (async () => {
    for await (const ev of watcher.watchUnitStates([], { signal: ac.signal })) seen.push(ev.state.unit);
  })().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  s.updateTokens({ token: 'new-op', readToken: 'new-ro' });
  await t.rejects(client({ endpoint: ep, caFile: ca, token: 'old-op' }).listMachines(), AuthError, 'the old operator token is refused');
  await t.rejects(client({ endpoint: ep, caFile: ca, token: 'old-ro' }).listMachines(), AuthError, 'the old read-only token is refused');
  t.same(await client({ endpoint: ep, caFile: ca, token: 'new-ro' }).listMachines(), [], 'the new one is accepted');
  const sess = await reg.register({ id: 'cccccccc33333333cccccccc33333333', address: IP, metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'x', startedAt: 'now' }, 10);
  sessions.push(sess);
  await sess.reportState('rotated.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: 'now' });
  for (let i = 0; i < 50 && !seen.includes('rotated.service'); i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(seen.includes('rotated.service'), 'the stream opened with the old token still delivers');
  ac.abort();
  await following;
  await sess.close();
});

t.test('mTLS: a client certificate signed by the CA is accepted; none or a foreign one is refused', async (t) => {
  const tls = { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.pem') };
  const s = await serve({ listen: [`${IP}:0`], tls });
  const [ep] = s.addresses();
  const ca = join(dir, 'ca.pem');
  t.same(await client({ endpoint: ep, caFile: ca, certFile: join(dir, 'client.pem'), keyFile: join(dir, 'client.key') }).listMachines(), []);
  await t.rejects(client({ endpoint: ep, caFile: ca }).listMachines(), UnavailableError, 'TLS without a client certificate');
  await t.rejects(client({ endpoint: ep, caFile: ca, certFile: join(dir, 'rogue.pem'), keyFile: join(dir, 'rogue.key') }).listMachines(), UnavailableError, 'a certificate from another CA');
  await t.rejects(client({ endpoint: ep }).listMachines(), UnavailableError, 'plaintext to a TLS listener');
});

/** Answers as systemctl/journalctl would on the owning machine, and records what it was asked. */
class RecordingInspector implements LocalUnitInspector {
  calls: string[] = [];
  constructor(private readonly machine: string) {}
  async status(unit: string) {
    this.calls.push(`status ${unit}`);
    return { text: `● ${unit} on ${this.machine}\n     Active: active (running)\n`, exitCode: 0 };
  }
  async *journal(unit: string, opts: { lines: number; follow: boolean }) {
    this.calls.push(`journal ${unit} -n ${opts.lines}${opts.follow ? ' -f' : ''}`);
    for (let i = 1; i <= 3; i++) yield `line ${i} of ${unit} on ${this.machine}\n`;
  }
}

t.test('status and journal are forwarded to the shoald of the machine that runs the unit, over TLS verified against the cluster CA', async (t) => {
  const M2 = 'bbbbbbbb22222222bbbbbbbb22222222';
  const inspector = new RecordingInspector('m2');
  const tls = { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.pem') };
  const b = await serve({ listen: [`${IP}:0`], token: 'tok', readToken: 'ro', tls }, { machineId: M2, inspector });
  const port = Number(b.addresses()[0].split(':').pop());
  const a = await serve({ listen: [`unix://${dir}/front.sock`], token: 'tok', readToken: 'ro', tls, port });
  sessions.push(await reg.register({ id: M2, address: IP, metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'x', startedAt: 'now' }, 10));
  await sessions.at(-1)!.reportState('web.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: 'now' });
  const c = client({ endpoint: `${dir}/front.sock` });
  const st = await c.unitStatus('web.service');
  t.same(st.map((s) => s.machine), [M2]);
  t.match(st[0].text, /Active: active \(running\)/);
  let out = '';
  for await (const chunk of c.journal('web.service', { lines: 5 })) out += chunk;
  t.equal(out, 'line 1 of web.service on m2\nline 2 of web.service on m2\nline 3 of web.service on m2\n');
  t.same(inspector.calls, ['status web.service', 'journal web.service -n 5'], 'served by the owning machine');
  await t.rejects(c.unitStatus('web.service', { machine: 'cccc' }), { code: 'machine.not-found' }, 'only to registered machines');
  t.ok(a.addresses().length === 1);
  // without the cluster CA a shoald does not forward (unless insecure_plaintext says so)
  const plain = await serve({ listen: [`unix://${dir}/plain.sock`], token: 'tok', port });
  const err = await client({ endpoint: `${dir}/plain.sock` }).unitStatus('web.service').then(() => null, (e) => e);
  t.ok(err instanceof PermissionError);
  t.match(err?.message, /not forwarding to machine bbbbbbbb.*needs TLS verified against the cluster CA/);
  t.ok(plain.addresses().length === 1);
  // a shoald whose certificate another CA signed is not trusted
  const rogueTls = { certFile: join(dir, 'rogue.pem'), keyFile: join(dir, 'rogue.key'), caFile: join(dir, 'rogue-ca.pem') };
  const r = await serve({ listen: [`${IP}:0`], token: 'tok', tls: rogueTls }, { machineId: 'dddddddd44444444dddddddd44444444', inspector });
  sessions.push(await reg.register({ id: 'dddddddd44444444dddddddd44444444', address: r.addresses()[0], metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'x', startedAt: 'now' }, 10));
  await sessions.at(-1)!.reportState('evil.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: 'now' });
  await t.rejects(c.unitStatus('evil.service'), UnavailableError, 'a certificate the cluster CA did not sign is refused');
  t.same(inspector.calls.length, 2, 'the rogue shoald was never asked');
});
