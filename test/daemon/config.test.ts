/** shoald's config: TOML + SHOAL_* overrides, and errors that name the key. */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, loadConfig } from '../../src/daemon/config';
import { machineCapacity, machineId } from '../../src/daemon/machine';
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
  const p = file('ok.toml', `roles = ["engine"]\n[etcd]\nendpoints = ["http://10.0.0.1:2379"]\nprefix = "/x"\n[machine]\nid = "node-1"\nttl = 3\ncapacity_cpu = 1500\nmetadata = { region = "eu", ssd = true }\n[engine]\nstrategy = "binpack"\n`);
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
  t.same(await machineCapacity(e), { cpuMillis: 1500, memoryBytes: 1048576 }, 'configured capacity wins over the probe');
  t.equal(machineId(e), 'n2');
});

t.test('probed capacity and /etc/machine-id', async (t) => {
  const c = buildConfig({}, {});
  const cap = await machineCapacity(c);
  t.ok(cap.cpuMillis >= 1000 && cap.cpuMillis % 1000 === 0, `cpu ${cap.cpuMillis}`);
  t.ok(cap.memoryBytes > 1 << 20, `memory ${cap.memoryBytes}`);
  t.equal(machineId(c, file('mid', 'abc123\n')), 'abc123');
  t.throws(() => machineId(c, join(dir, 'missing')), { code: 'config.no-machine-id' });
});

const bad: [string, string, NodeJS.ProcessEnv, RegExp][] = [
  ['bad TOML names the line', 'roles = [\n', {}, /bad1\.toml:2?.*/],
  ['wrong type names the key', '[machine]\nttl = "soon"\n', {}, /machine\.ttl: must be a positive number/],
  ['unknown role', 'roles = ["engine", "cook"]\n', {}, /roles: unknown role "cook"/],
  ['bad endpoint', '[etcd]\nendpoints = ["127.0.0.1:2379"]\n', {}, /etcd\.endpoints: not an etcd URL/],
  ['bad strategy', '[engine]\nstrategy = "random"\n', {}, /engine\.strategy: unknown strategy/],
  ['bad env metadata', '', { SHOAL_METADATA: 'novalue' }, /SHOAL_METADATA: "novalue" is not key=value/],
  ['bad env ttl', '', { SHOAL_TTL: '-1' }, /SHOAL_TTL: must be a positive number/],
  ['bad machine id', '[machine]\nid = "../etc"\n', {}, /machine\.id: bad machine id/],
];
for (const [i, [name, text, env, msg]] of bad.entries()) {
  t.test(name, async (t) => {
    const p = file(`bad${i + 1}.toml`, text);
    const err = (() => { try { loadConfig(p, env); return null; } catch (e) { return e as ValidationError; } })();
    t.type(err, ValidationError);
    t.match(err!.message, msg);
    if (!env.SHOAL_METADATA && !env.SHOAL_TTL) t.match(err!.message, p, 'names the file');
  });
}

t.test('a missing --config file is an error', async (t) => {
  t.throws(() => loadConfig(join(dir, 'nope.toml'), {}), { code: 'config.unreadable' });
});
