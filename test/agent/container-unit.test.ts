/** Pure parts of container units: the generated systemd unit, the spec argument, Docker options. */
import t from 'tap';
import { ValidationError } from '../../src/errors';
import { containerName, createOptions, networkJoins, parsePort, parseVolume } from '../../src/agent/container-options';
import { containerUnitText, decodeContainerSpec, encodeContainerSpec } from '../../src/agent/container-unit';
import type { ContainerSpec, UnitSpec } from '../../src/units/types';
import { parseUnitFile } from '../../src/units/unit-file';

const RUNNER = { node: '/usr/bin/node', runner: '/opt/shoal/dist/src/agent/container-runner.js' };
const MACHINE = '0123456789abcdef0123456789abcdef';
const SPEC: ContainerSpec = {
  image: 'localbusybox:latest', command: ['httpd', '-f', '-p', '80'], env: { A: 'x y', B: '100%$' },
  ports: ['8080:80'], volumes: ['/srv/data:/data:ro'],
};

function unit(name: string, text: string, container: ContainerSpec | undefined = SPEC): UnitSpec {
  return {
    name, text, hash: 'h', file: parseUnitFile(text, { file: name }), container,
    options: { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [] },
    resources: { cpuMillis: 0, memoryBytes: 0 },
  };
}

t.test('containerUnitText keeps the user sections and adds the runner', async (t) => {
  const text = '[Unit]\nDescription=web\nAfter=network.target\n\n[Service]\nRestart=always\nRestartSec=1\n\n'
    + '[X-Container]\nImage=localbusybox:latest\n\n[X-Fleet]\nGlobal=true\n\n[Install]\nWantedBy=multi-user.target\n';
  const out = containerUnitText(unit('web@1.service', text), RUNNER);
  const parsed = parseUnitFile(out);
  t.same(parsed.sections.map((s) => s.name), ['Unit', 'Service', 'X-Fleet', 'Install'], 'X-Container dropped, order kept');
  const svc = Object.fromEntries(parsed.sections[1].entries.map((e) => [e.key, e.value]));
  t.equal(svc.Restart, 'always');
  t.equal(svc.KillMode, 'mixed');
  const exec = svc.ExecStart.split(' ');
  t.same(exec.slice(0, 4), ['/usr/bin/node', RUNNER.runner, 'run', '%n'], 'runner gets the unit name via %n');
  t.same(decodeContainerSpec(exec[4]), SPEC, 'the spec round-trips through ExecStart');
  t.notMatch(exec[4], /[%$\s"'\\]/, 'no characters systemd would interpret');
  t.equal(svc.ExecStopPost, `-/usr/bin/node ${RUNNER.runner} cleanup %n`);
});

t.test('containerUnitText adds [Service] when missing and keeps a user KillMode', async (t) => {
  const out = containerUnitText(unit('a.service', '[Unit]\nDescription=a\n[Install]\nWantedBy=x.target\n'), RUNNER);
  t.same(parseUnitFile(out).sections.map((s) => s.name), ['Unit', 'Service', 'Install']);
  const own = containerUnitText(unit('b.service', '[Service]\nKillMode=control-group\n'), RUNNER);
  t.equal((own.match(/KillMode=/g) ?? []).length, 1, 'no second KillMode');
});

t.test('containerUnitText refuses settings the runner owns, naming file, line and key', async (t) => {
  const cases: Array<[string, string, string, number]> = [
    ['ExecStart set', '[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n', 'container.owned-key', 4],
    ['forking type', '[Service]\nRestart=always\nType=forking\n', 'container.bad-type', 3],
    ['PIDFile set', '[Service]\nPIDFile=/run/x.pid\n', 'container.owned-key', 2],
  ];
  for (const [name, text, code, line] of cases) {
    let err: unknown;
    try { containerUnitText(unit('c.service', text), RUNNER); } catch (e) { err = e; }
    t.type(err, ValidationError, name);
    t.match(err, { code, location: { file: 'c.service', line, section: 'Service' } }, name);
    t.match((err as Error).message, new RegExp(`^c\\.service:${line}: \\[Service\\] `), `${name}: message`);
  }
  t.throws(() => containerUnitText({ ...unit('d.service', '[Service]\n'), container: undefined }, RUNNER), { code: 'container.none' });
});

t.test('decodeContainerSpec refuses garbage', async (t) => {
  for (const arg of ['%%%', Buffer.from('{"image":""}').toString('base64url'), Buffer.from('[1]').toString('base64url'),
    encodeContainerSpec({ ...SPEC, env: { A: 1 as unknown as string } })]) {
    t.throws(() => decodeContainerSpec(arg), { code: 'container.bad-spec' }, arg);
  }
});

t.test('createOptions: labels, init, env, binds, ports published directly', async (t) => {
  const o = createOptions(SPEC, 'web.service', MACHINE);
  t.equal(o.name, 'shoal-0123456789ab-web.service');
  t.same(o.Labels, { 'shoal.unit': 'web.service', 'shoal.machine': MACHINE });
  t.equal(o.HostConfig.Init, true);
  t.same(o.Env, ['A=x y', 'B=100%$']);
  t.same(o.Cmd, SPEC.command);
  t.same(o.HostConfig.Binds, ['/srv/data:/data:ro']);
  t.same(o.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
  t.same(o.ExposedPorts, { '80/tcp': {} });
  t.notOk('Cmd' in createOptions({ ...SPEC, command: [] }, 'x.service', MACHINE), 'image default command');
});

t.test('createOptions with a shared engine: random host ports on its address, no UDP', async (t) => {
  const o = createOptions(SPEC, 'web.service', MACHINE, { via: '10.88.0.1' });
  t.same(o.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '10.88.0.1', HostPort: '' }] });
  t.throws(() => createOptions({ ...SPEC, ports: ['53:53/udp'] }, 'dns.service', MACHINE, { via: '10.88.0.1' }),
    { code: 'container.bad-port' });
});

t.test('ports, volumes and names', async (t) => {
  t.same(parsePort('8080:80'), { hostPort: 8080, containerPort: 80, proto: 'tcp' });
  t.same(parsePort('53:5353/udp'), { hostPort: 53, containerPort: 5353, proto: 'udp' });
  for (const bad of ['80', '0:80', '70000:80', 'a:b', '80:80/sctp', '1.2.3.4:80:80']) {
    t.throws(() => parsePort(bad), { code: 'container.bad-port' }, bad);
  }
  t.equal(parseVolume('/a:/b'), '/a:/b');
  t.equal(parseVolume('shop_data:/b:ro'), 'shop_data:/b:ro', 'a named volume');
  for (const bad of ['../a:/b', 'a b:/b', '/a', '/a:b', '/a:/b:rx']) t.throws(() => parseVolume(bad), { code: 'container.bad-volume' }, bad);
  t.match(containerName('web@a\\x2db.service', MACHINE), /^shoal-0123456789ab-web_a_x2db\.service$/);
});

t.test('createOptions: the compose-era settings (entrypoint, user, dir, labels, networks, health, limits)', async (t) => {
  const spec: ContainerSpec = {
    ...SPEC, entrypoint: ['/bin/sh', '-c'], user: '1000:1000', workingDir: '/srv', labels: { team: 'a', 'shoal.unit': 'forged' },
    networks: ['shop_default', 'shop_back'], aliases: ['web', 'www'], cpuLimitMillis: 500, memoryLimitBytes: 256 * 1024 * 1024,
    health: { test: ['CMD', 'true'], intervalMs: 5000, retries: 3 },
  };
  const o = createOptions(spec, 'shop-web.service', MACHINE);
  t.same(o.Entrypoint, ['/bin/sh', '-c']);
  t.equal(o.User, '1000:1000');
  t.equal(o.WorkingDir, '/srv');
  t.equal(o.Labels.team, 'a');
  t.equal(o.Labels['shoal.unit'], 'shop-web.service', "shoal's own labels win");
  t.equal(o.HostConfig.NetworkMode, 'shop_default', 'created on the first network');
  t.same(o.NetworkingConfig, { EndpointsConfig: { shop_default: { Aliases: ['web', 'www'] } } });
  t.equal(o.HostConfig.NanoCpus, 500_000_000);
  t.equal(o.HostConfig.Memory, 268435456);
  t.same(JSON.parse(JSON.stringify(o.Healthcheck)), { Test: ['CMD', 'true'], Interval: 5e9, Retries: 3 });
  t.same(networkJoins(spec, MACHINE).map((j) => j.network), ['shop_default', 'shop_back']);
  // a shared engine (testbed): one network per machine, as each real machine has its own engine
  const shared = createOptions(spec, 'shop-web.service', MACHINE, { via: '10.88.0.1' });
  t.equal(shared.HostConfig.NetworkMode, 'shop_default-0123456789ab');
  t.same(networkJoins(spec, MACHINE, { via: '10.88.0.1' }).map((j) => j.network), ['shop_default-0123456789ab', 'shop_back-0123456789ab']);
  // a spec without them is unchanged: units submitted before keep their Docker options
  const plain = createOptions(SPEC, 'web.service', MACHINE);
  for (const k of ['Entrypoint', 'User', 'WorkingDir', 'Healthcheck', 'NetworkingConfig']) t.notOk(k in plain, k);
  t.notOk('NetworkMode' in plain.HostConfig);
});
