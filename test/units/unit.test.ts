import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../../src/errors';
import { instantiate, parseUnit, shortHash, unitHash, parseUnitFile, unitsConflict } from '../../src/units';

const EXAMPLES = join(__dirname, '..', '..', 'units-examples');
const example = (name: string) => parseUnit(name, readFileSync(join(EXAMPLES, name)), { file: `units-examples/${name}` });

t.test('every example unit parses', async (t) => {
  const names = readdirSync(EXAMPLES).filter((n) => !n.endsWith('.md')).sort();
  t.same(names, ['app-sidekick.service', 'app.service', 'discovery.service', 'echo.service', 'echo.socket', 'hello.service', 'lb@.service', 'monitor.service', 'report.service', 'shard@.service', 'tick@.service', 'web-container.service', 'worker@.service']);
  for (const n of names) t.equal(example(n).name, n, n);
});

t.test('examples mean what they say', async (t) => {
  t.same(example('hello.service').resources, { cpuMillis: 50, memoryBytes: 16 * 2 ** 20 });
  t.match(example('hello.service').file.sections[1].entries[0].value, /%H/, 'machine specifiers in [Service] are left for systemd');
  t.equal(example('monitor.service').options.global, true);
  t.same(example('app-sidekick.service').options.machineOf, ['app.service']);
  t.same(example('discovery.service').options.machineOf, ['hello.service'], 'the sidekick goes where hello goes');
  t.same(example('echo.service').options.machineOf, ['echo.socket'], 'the service goes where its socket goes');
  t.ok(example('echo.socket').file.sections.some((s) => s.name === 'Socket'));
  t.same(example('web-container.service').container, {
    image: 'localbusybox:latest', command: ['/bin/httpd', '-f', '-p', '8080', '-h', '/etc'],
    env: { GREETING: 'hello', MODE: 'demo web' }, ports: ['8080:8080/tcp'], volumes: [],
  });
  const worker = instantiate(example('worker@.service'), '2');
  t.equal(worker.name, 'worker@2.service');
  t.equal(worker.strategy, 'spread');
  const lb = example('lb@.service');
  const [a, b, c] = ['1', '2', '3'].map((i) => instantiate(lb, i));
  t.same(a.options.conflicts, ['lb@*.service']);
  t.equal(unitsConflict(a, b), true, 'lb@1 and lb@2 conflict');
  t.equal(unitsConflict(b, c), true, 'lb@2 and lb@3 conflict');
  t.equal(unitsConflict(a, a), false, 'lb@1 does not conflict with itself');
});

t.test('parseUnit validates the name before reading the text', async (t) => {
  // The text is also bad, but the name error must come first.
  t.throws(() => parseUnit('../evil.service', '\0garbage'), { code: 'unit.bad-name' });
  t.throws(() => parseUnit('noext', '[Unit]\n'), { code: 'unit.bad-name', message: /no type suffix/ });
  t.throws(() => parseUnit('ok.service', 'A=1\n', { file: 'ok.service' }), { code: 'unit.no-section', location: { file: 'ok.service', line: 1 } });
});

t.test('parseUnit errors carry file, line, section and key', async (t) => {
  const text = '[Unit]\nDescription=x\n\n[X-Fleet]\nMachineOf=a.service\nGlobal=true\n';
  try {
    parseUnit('x.service', text, { file: '/tmp/x.service' });
    t.fail('accepted');
  } catch (e) {
    t.type(e, ValidationError);
    t.match(e, { code: 'unit.option-conflict', location: { file: '/tmp/x.service', line: 5, section: 'X-Fleet', key: 'MachineOf' } });
    t.equal((e as Error).message, '/tmp/x.service:5: [X-Fleet] MachineOf: Global cannot be used with MachineOf');
  }
});

t.test('near-miss spellings of shoal sections are refused', async (t) => {
  for (const [sec, meant] of [['x-fleet', 'X-Fleet'], ['Fleet', 'X-Fleet'], ['X-SHOAL', 'X-Shoal'], ['container', 'X-Container'], ['X-Fleet ', 'X-Fleet'], [' X-Fleet', 'X-Fleet'], ['X- Shoal', 'X-Shoal'],
    // punctuation and one-letter slips: systemd reads another section and the constraints would vanish
    ['X_Fleet', 'X-Fleet'], ['XFleet', 'X-Fleet'], ['X Fleet', 'X-Fleet'], ['X-Fleet]', 'X-Fleet'], ['X-Flee', 'X-Fleet'],
    ['X-Fleets', 'X-Fleet'], ['Xshoal', 'X-Shoal'], ['X-Shaol', 'X-Shoal'], ['X-Contaner', 'X-Container'], ['Fleets', 'X-Fleet']]) {
    t.throws(() => parseUnit('s.service', `[Unit]\nDescription=d\n[${sec}]\nGlobal=true\n`, { file: 's.service' }), {
      code: 'unit.bad-section', location: { file: 's.service', line: 3, section: sec }, message: new RegExp(`did you mean \\[${meant}\\]`),
    }, sec);
  }
  t.equal(parseUnit('s.service', '[X-Other]\nA=1\n[Install]\nWantedBy=multi-user.target\n').name, 's.service', 'other sections are fine');
  for (const sec of ['Unit', 'Service', 'Socket', 'Install', 'Mount', 'Timer', 'Path', 'Slice', 'Scope', 'Swap', 'Automount', 'X-Flow', 'X-Shell', 'X-Sleep']) {
    t.doesNotThrow(() => parseUnit('s.service', `[${sec}]\nA=1\n`), `[${sec}] is not a near miss`);
  }
});

t.test('UnitSpec fields', async (t) => {
  const text = '[Unit]\nDescription=w\n[Service]\nExecStart=/bin/true\nCPUQuota=50%\n[X-Fleet]\nMachineMetadata=disk=ssd\n[X-Shoal]\nStrategy=binpack\n';
  const s = parseUnit('w.service', text);
  t.equal(s.text, text, 'text kept exactly');
  t.equal(s.hash, unitHash(parseUnitFile(text)));
  t.match(s.hash, /^[0-9a-f]{40}$/);
  t.same(s.options.machineMetadata, { disk: ['ssd'] });
  t.same(s.resources, { cpuMillis: 500, memoryBytes: 0 });
  t.equal(s.strategy, 'binpack');
  t.equal(s.container, undefined);
  t.notOk('strategy' in parseUnit('v.service', '[Service]\nExecStart=/bin/true\n'), 'no strategy key when unset');
  const bytes = parseUnit('w.service', Buffer.from(`\uFEFF${text}`));
  t.equal(bytes.hash, s.hash, 'bytes with a BOM hash the same');
  t.equal(bytes.text, `\uFEFF${text}`, 'bytes decoded to the exact text');
});

t.test('templates parse unexpanded; instances expand and re-check', async (t) => {
  const text = '[Service]\nExecStart=/bin/sleep 100\n[X-Fleet]\nMachineOf=%p-db@%i.service\n';
  const tpl = parseUnit('web@.service', text);
  t.same(tpl.options.machineOf, ['%p-db@%i.service']);
  const inst = instantiate(tpl, '3');
  t.equal(inst.name, 'web@3.service');
  t.same(inst.options.machineOf, ['web-db@3.service']);
  t.equal(inst.hash, tpl.hash, 'an instance has its template\'s hash');
  t.equal(inst.text, tpl.text);
  t.same(instantiate(tpl, 'web@4.service').options.machineOf, ['web-db@4.service'], 'full instance name accepted');
  t.throws(() => instantiate(tpl, 'api@4.service'), { code: 'unit.bad-name', message: /not an instance of web@\.service/ });
  t.throws(() => instantiate(tpl, 'a/b'), { code: 'unit.bad-name' });
  t.throws(() => instantiate(parseUnit('plain.service', text.replace(/%p-db@%i/, 'db')), '1'), { code: 'unit.bad-name', message: /not a template/ });
  // A template whose expansion is invalid for one instance fails when that instance is made, naming the
  // instance, the template's file and its line.
  const trap = parseUnit('t@.service', '[X-Fleet]\nMachineOf=%i\n');
  t.throws(() => instantiate(trap, '1'), { code: 'unit.bad-option', message: /^instance t@1\.service: t@\.service:2: \[X-Fleet\] MachineOf: / });
  t.same(instantiate(trap, 'db.service').options.machineOf, ['db.service'], 'valid for another instance');
});

t.test('hash: formatting does not matter, content does', async (t) => {
  const base = '[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\n';
  const h = unitHash(parseUnitFile(base));
  const same = [
    '# comment\n[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true',
    '[Unit]\r\n  Description =  x  \r\n\r\n\r\n[Service]\r\nExecStart=/bin/true\r\n',
    '[Unit]\nDescription=\\\nx\n[Service]\n; c\nExecStart=/bin/true\n',
  ];
  for (const s of same) t.equal(unitHash(parseUnitFile(s)), h, JSON.stringify(s));
  const different = [
    '[Unit]\nDescription=y\n\n[Service]\nExecStart=/bin/true\n',
    '[Unit]\ndescription=x\n\n[Service]\nExecStart=/bin/true\n',
    '[Service]\nExecStart=/bin/true\n[Unit]\nDescription=x\n',
    '[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\nExecStart=/bin/true\n',
    '[Unit]\nDescription=x y\n\n[Service]\nExecStart=/bin/true\n',
    '[Unit]\nDescription=x  \\\n \n\n[Service]\nExecStart=/bin/true\nRestart=no\n',
  ];
  const seen = new Set([h]);
  for (const s of different) {
    const d = unitHash(parseUnitFile(s));
    t.notOk(seen.has(d), JSON.stringify(s));
    seen.add(d);
  }
  // Pinned (= sha1sum of the canonical text): changing the canonical form would make every agent reload every unit.
  t.equal(h, '7ff43b741fbdb60185c33324e6179bb18ec06f91');
  t.equal(shortHash(h), '7ff43b7');
});
