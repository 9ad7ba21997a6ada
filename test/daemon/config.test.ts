/** shoald's config: TOML + SHOAL_* overrides, and errors that name the key. */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, loadConfig } from '../../src/daemon/config';
import { engineId, machineCapacity, machineId } from '../../src/daemon/machine';
import { ValidationError } from '../../src/errors';

const dir = mkdtempSync(join(tmpdir(), 'shoal-cfg-'));
const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };

t.test('defaults', async (t) => {
  const c = buildConfig({}, {});
  t.same(c.roles, ['engine', 'agent']);
  t.same(c.etcd, { endpoints: ['http://127.0.0.1:2379'], prefix: '/shoal/' });
  t.equal(c.machine.ttlSeconds, 5);
  t.equal(c.engine.ttlSeconds, 5);
});

t.test('TOML file, then environment overrides', async (t) => {
  const p = file('ok.toml', `roles = ["engine"]\n[etcd]\nendpoints = ["http://10.0.0.1:2379"]\nprefix = "/x"\n[machine]\nid = "node-1"\nttl = 3\ncapacity_cpu = "1500m"\nmetadata = { region = "eu", ssd = true }\n[engine]\nstrategy = "binpack"\n`);
  const c = loadConfig(p, {});
  t.same(c.roles, ['engine']);
  t.same(c.etcd, { endpoints: ['http://10.0.0.1:2379'], prefix: '/x/' });
  t.same(c.machine.metadata, { region: 'eu', ssd: 'true' });
  t.equal(c.machine.cpuMillis, 1500);
  t.equal(c.engine.strategy, 'binpack');
  const e = loadConfig(p, { SHOAL_ROLES: 'agent,engine', SHOAL_ETCD: 'http://a:1,http://b:2', SHOAL_METADATA: 'region=us,rack=r1', SHOAL_MACHINE_ID: 'n2', SHOAL_TTL: '7', SHOAL_CAPACITY_MEMORY: '1048576' });
  t.same(e.roles, ['agent', 'engine']);
  t.same(e.etcd.endpoints, ['http://a:1', 'http://b:2']);
  t.same(e.machine.metadata, { region: 'us', ssd: 'true', rack: 'r1' });
  t.equal(e.machine.id, 'n2');
  t.equal(e.machine.ttlSeconds, 7);
  const cap = await machineCapacity(e);
  t.same({ cpuMillis: cap.cpuMillis, memoryBytes: cap.memoryBytes }, { cpuMillis: 1500, memoryBytes: 1048576 }, 'configured capacity wins over the probe');
  t.ok(cap.diskBytes === undefined || cap.diskBytes > 0, 'disk, not configured here, is probed');
  t.equal(machineId(e), 'n2');
});

t.test('[etcd] security settings: TLS files, auth, deadlines; SHOAL_ETCD_* override them', async (t) => {
  const p = file('tls.toml', '[etcd]\nendpoints = ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]\nca = "/pki/ca.pem"\ncert = "/pki/c.pem"\nkey = "/pki/k.pem"\n'
    + 'username = "shoal"\npassword = "pw"\ndial_timeout = 1.5\nrequest_timeout = 4\n');
  t.same(loadConfig(p, {}).etcd, {
    endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'], prefix: '/shoal/', tls: { ca: '/pki/ca.pem', cert: '/pki/c.pem', key: '/pki/k.pem' },
    auth: { username: 'shoal', password: 'pw' }, dialTimeoutMs: 1500, callTimeoutMs: 4000,
  });
  const e = loadConfig(p, { SHOAL_ETCD_CA: '/o/ca.pem', SHOAL_ETCD_CERT: '/o/c.pem', SHOAL_ETCD_KEY: '/o/k.pem', SHOAL_ETCD_USERNAME: 'u', SHOAL_ETCD_PASSWORD: 'p2', SHOAL_ETCD_REQUEST_TIMEOUT: '2' });
  t.same(e.etcd.tls, { ca: '/o/ca.pem', cert: '/o/c.pem', key: '/o/k.pem' });
  t.same(e.etcd.auth, { username: 'u', password: 'p2' });
  t.equal(e.etcd.callTimeoutMs, 2000);
  t.same(buildConfig({}, { SHOAL_ETCD: 'https://e:2379', SHOAL_ETCD_CA: '/ca.pem' }).etcd, { endpoints: ['https://e:2379'], prefix: '/shoal/', tls: { ca: '/ca.pem' } }, 'a CA alone (no client certificate)');
});

t.test('capacity takes the syntax of [X-Shoal] CPU= and Memory= (docs/testbed.md example: 1G)', async (t) => {
  const cases: [NodeJS.ProcessEnv, { cpuMillis?: number; memoryBytes?: number }][] = [
    [{ SHOAL_CAPACITY_MEMORY: '1G' }, { memoryBytes: 2 ** 30 }],
    [{ SHOAL_CAPACITY_MEMORY: '512M' }, { memoryBytes: 512 * 2 ** 20 }],
    [{ SHOAL_CAPACITY_MEMORY: '1048576' }, { memoryBytes: 1048576 }],
    [{ SHOAL_CAPACITY_CPU: '2' }, { cpuMillis: 2000 }],
    [{ SHOAL_CAPACITY_CPU: '1.5' }, { cpuMillis: 1500 }],
    [{ SHOAL_CAPACITY_CPU: '500m' }, { cpuMillis: 500 }],
  ];
  for (const [env, want] of cases) {
    const m = buildConfig({}, env).machine;
    t.same({ cpuMillis: m.cpuMillis, memoryBytes: m.memoryBytes }, { cpuMillis: undefined, memoryBytes: undefined, ...want }, JSON.stringify(env));
  }
  const toml = buildConfig({ machine: { capacity_cpu: 2, capacity_memory: '2G' } }, {}).machine;
  t.equal(toml.cpuMillis, 2000, 'a TOML number means what the same text means: 2 cores');
  t.equal(toml.memoryBytes, 2 * 2 ** 30);
});

t.test('probed capacity and /etc/machine-id', async (t) => {
  const c = buildConfig({}, {});
  const cap = await machineCapacity(c);
  t.ok(cap.cpuMillis >= 1000 && cap.cpuMillis % 1000 === 0, `cpu ${cap.cpuMillis}`);
  t.ok(cap.memoryBytes > 1 << 20, `memory ${cap.memoryBytes}`);
  t.equal(machineId(c, file('mid', 'abc123\n')), 'abc123');
  t.throws(() => machineId(c, join(dir, 'missing')), { code: 'config.no-machine-id' });
});

t.test('the engine id: [engine] id, else the machine id beside an agent, else HOST-PID', async (t) => {
  const mid = file('mid2', 'm-77\n');
  t.equal(engineId(buildConfig({}, { SHOAL_ROLES: 'engine,agent' }), 'h', 1, mid), 'm-77', 'engine + agent: the machine\'s id (/etc/machine-id)');
  t.equal(engineId(buildConfig({}, { SHOAL_ROLES: 'engine,agent', SHOAL_MACHINE_ID: 'n9' }), 'h', 1, mid), 'n9');
  t.equal(engineId(buildConfig({}, { SHOAL_ROLES: 'engine' }), 'h', 42, mid), 'h-42', 'an engine-only shoald: host and pid');
});

const bad: [string, string, NodeJS.ProcessEnv, RegExp][] = [
  ['bad TOML names the line', 'roles = [\n', {}, /bad1\.toml:2?.*/],
  ['wrong type names the key', '[machine]\nttl = "soon"\n', {}, /machine\.ttl: must be a positive number/],
  ['bad capacity in the file names the key', '[machine]\ncapacity_memory = "lots"\n', {}, /machine\.capacity_memory: size "lots" is not bytes/],
  ['bad capacity cpu in the file names the key', '[machine]\ncapacity_cpu = "2 cores"\n', {}, /machine\.capacity_cpu: CPU "2 cores" is not a number of cores/],
  ['unknown role', 'roles = ["engine", "cook"]\n', {}, /roles: unknown role "cook"/],
  ['bad endpoint', '[etcd]\nendpoints = ["127.0.0.1:2379"]\n', {}, /etcd\.endpoints: not an etcd URL/],
  ['bad strategy', '[engine]\nstrategy = "random"\n', {}, /engine\.strategy: unknown strategy/],
  ['bad env metadata', '', { SHOAL_METADATA: 'novalue' }, /SHOAL_METADATA: "novalue" is not key=value/],
  ['unmatchable env metadata', '', { SHOAL_METADATA: 'a=b=c' }, /SHOAL_METADATA: metadata a=b=c: the value holds '='/],
  ['unmatchable file metadata', '[machine]\nmetadata = { role = "" }\n', {}, /machine\.metadata\.role: metadata role: the value is empty/],
  ['bad env ttl', '', { SHOAL_TTL: '-1' }, /SHOAL_TTL: must be a positive number/],
  ['bad env memory', '', { SHOAL_CAPACITY_MEMORY: '1GB' }, /SHOAL_CAPACITY_MEMORY: size "1GB" is not bytes or a number with K, M, G or T/],
  ['bad env cpu', '', { SHOAL_CAPACITY_CPU: '2x' }, /SHOAL_CAPACITY_CPU: CPU "2x" is not a number of cores/],
  ['zero env cpu', '', { SHOAL_CAPACITY_CPU: '0' }, /SHOAL_CAPACITY_CPU: must be more than 0/],
  ['bad machine id', '[machine]\nid = "../etc"\n', {}, /machine\.id: bad machine id/],
  ['unknown etcd setting', '[etcd]\ncafile = "/x"\n', {}, /etcd\.cafile: unknown setting/],
  ['cert without key', '[etcd]\nendpoints = ["https://e:2379"]\ncert = "/c.pem"\n', {}, /etcd\.cert: a client certificate needs its key/],
  ['key without cert (env)', '', { SHOAL_ETCD: 'https://e:2379', SHOAL_ETCD_KEY: '/k.pem' }, /SHOAL_ETCD_KEY: a client key needs its certificate/],
  ['TLS files with http endpoints', '[etcd]\nca = "/ca.pem"\n', {}, /etcd\.ca: TLS files need https:\/\/ etcd endpoints \(got http:\/\/127\.0\.0\.1:2379\)/],
  ['mixed http and https', '[etcd]\nendpoints = ["https://a:2379", "http://b:2379"]\n', {}, /etcd\.endpoints: mixes https:\/\/ and http:\/\//],
  ['user without password', '[etcd]\nusername = "shoal"\n', {}, /etcd\.username: a user name needs a password/],
  ['password without user (env)', '', { SHOAL_ETCD_PASSWORD: 'x' }, /SHOAL_ETCD_PASSWORD: a password needs a user name/],
  ['bad request timeout', '[etcd]\nrequest_timeout = 0\n', {}, /etcd\.request_timeout: must be a positive number/],
  ['bad env dial timeout', '', { SHOAL_ETCD_DIAL_TIMEOUT: 'soon' }, /SHOAL_ETCD_DIAL_TIMEOUT: must be a positive number/],
];
for (const [i, [name, text, env, msg]] of bad.entries()) {
  t.test(name, async (t) => {
    const p = file(`bad${i + 1}.toml`, text);
    const err = (() => { try { loadConfig(p, env); return null; } catch (e) { return e as ValidationError; } })();
    t.type(err, ValidationError);
    t.match(err!.message, msg);
    if (Object.keys(env).length === 0) t.match(err!.message, p, 'names the file');
  });
}

t.test('a missing --config file is an error', async (t) => {
  t.throws(() => loadConfig(join(dir, 'nope.toml'), {}), { code: 'config.unreadable' });
});
