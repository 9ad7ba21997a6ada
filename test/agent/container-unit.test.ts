/** Pure parts of container units: the generated systemd unit, the spec argument, Docker options. */
import t from 'tap';
import { ValidationError } from '../../src/errors';
import { containerName, createOptions, parsePort, parseVolume } from '../../src/agent/container-options';
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
  for (const bad of ['a:/b', '/a', '/a:b', '/a:/b:rx']) t.throws(() => parseVolume(bad), { code: 'container.bad-volume' }, bad);
  t.match(containerName('web@a\\x2db.service', MACHINE), /^shoal-0123456789ab-web_a_x2db\.service$/);
});
