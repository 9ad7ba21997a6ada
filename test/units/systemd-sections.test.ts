/**
 * Misspelt systemd sections (errors) and keys (warnings), and checkSubmit. The key lists are checked
 * against the live `systemd --dump-configuration-items` (systemd 252, as in the testbed image): every
 * listed key is real, and no real key is taken for a misspelling. Fails, never skips, when systemd is missing.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { COMMON_KEYS, SYSTEMD_SECTIONS, formatWarning, sectionNameProblem, unitWarnings } from '../../src/units/systemd-sections';
import { checkSubmit, checkUnit } from '../../src/units/unit-check';
import { parseUnitFile } from '../../src/units/unit-file';
import { ValidationError } from '../../src/errors';

t.test('a section name near a systemd section is an error with the suggestion', async (t) => {
  const cases: [string, string | undefined, RegExp?][] = [
    ['Servce', 'Service', /systemd ignores a section of another name/], ['Sevrice', 'Service'], ['Services', 'Service'], ['Instal', 'Install'],
    ['Intsall', 'Install'], ['unit', 'Unit', /case-sensitive/], ['SERVICE', 'Service', /case-sensitive/], [' Unit', 'Unit', /spaces/],
    ['Unti', 'Unit'], ['Timers', 'Timer'], ['Sockt', 'Socket'], ['Paht', 'Path'], ['Mout', 'Mount'],
    ['Service', undefined], ['Unit', undefined], ['X-Servce', undefined], ['X-Anything', undefined], ['Foo', undefined], ['Network', undefined],
  ];
  for (const [name, want, why] of cases) {
    const p = sectionNameProblem(name, 7, 'a.service');
    t.equal(p?.details?.suggestion, want, `[${name}] → ${want ?? 'nothing'}`);
    if (!want) continue;
    t.equal(p?.code, 'unit.bad-section');
    t.match(p?.message, new RegExp(`^a\\.service:7: \\[${name.replace(/[[\]]/g, '\\$&')}\\]: unknown section \\[${name}\\]; did you mean \\[${want}\\]\\?`));
    if (why) t.match(p?.message, why);
  }
});

t.test('a key near a common key of its section is a warning with the suggestion; others are left alone', async (t) => {
  const cases: [string, string, string | undefined][] = [
    ['Service', 'ExecStrat', 'ExecStart'], ['Service', 'ExecStat', 'ExecStart'], ['Service', 'execstart', 'ExecStart'],
    ['Service', 'ExecStartpre', 'ExecStartPre'], ['Service', 'Restartsec', 'RestartSec'], ['Service', 'RemainAfterExi', 'RemainAfterExit'],
    ['Service', 'Enviroment', 'Environment'], ['Service', 'WorkingDirectroy', 'WorkingDirectory'], ['Service', 'Tpye', 'Type'],
    ['Unit', 'Descripton', 'Description'], ['Unit', 'Afer', 'After'], ['Unit', 'Require', 'Requires'], ['Install', 'WantBy', 'WantedBy'],
    ['Install', 'WanteBy', 'WantedBy'], ['Timer', 'OnCalender', 'OnCalendar'], ['Socket', 'ListenSteam', 'ListenStream'],
    ['Path', 'PathExist', 'PathExists'],
    // real keys that are not in the lists, extension keys, and names near nothing: no warning
    ['Service', 'ExecStart', undefined], ['Service', 'ProtectKernelTunables', undefined], ['Service', 'X-ExecStrat', undefined],
    ['Service', 'Frobnicate', undefined], ['Unit', 'BindTo', undefined], ['Unit', 'StartLimitInterval', undefined],
    ['Install', 'Description', undefined],
  ];
  for (const [section, key, want] of cases) {
    const w = unitWarnings(parseUnitFile(`[${section}]\n${key}=x\n`));
    t.equal(w.length, want ? 1 : 0, `[${section}] ${key}=: ${want ? `did you mean ${want}` : 'no warning'}`);
    if (!want) continue;
    t.same({ line: w[0].line, section: w[0].section, key: w[0].key }, { line: 2, section, key });
    t.match(w[0].message, `did you mean ${want}?`);
    t.match(w[0].message, /systemd ignores an unknown key/);
    if (key.toLowerCase() === want.toLowerCase()) t.match(w[0].message, /case-sensitive/);
  }
});

t.test('an unknown section near nothing is a warning; X- sections and shoal\'s are not', async (t) => {
  const w = unitWarnings(parseUnitFile('[Service]\nExecStart=/bin/true\n[Foo]\nA=1\n[X-Mine]\nB=2\n[X-Fleet]\nGlobal=true\n[Scope]\nC=3\n[constructor]\nD=4\n'));
  t.same(w.map((x) => [x.line, x.section, x.key]), [[3, 'Foo', undefined], [11, 'constructor', undefined]], '[Scope] is systemd\'s; [constructor] is no key list');
  t.equal(formatWarning(w[0], 'f.service'), 'f.service:3: [Foo]: warning: unknown section [Foo]: systemd ignores it and every setting in it');
  t.equal(formatWarning({ line: 2, section: 'Service', key: 'ExecStrat', message: 'm' }, 'f.service'), 'f.service:2: [Service] ExecStrat: warning: m');
  t.same(unitWarnings(parseUnitFile('[Servce]\nExecStart=/bin/true\n')), [], 'a near miss is an error, not also a warning');
});

t.test('checkUnit: a misspelt section is an error (its load verdict not repeated); a misspelt key a warning beside the refusal', async (t) => {
  let c = checkUnit('a.service', '[Unit]\nDescription=x\n[Servce]\nExecStart=/bin/true\n', { file: 'a.service' });
  t.same(c.problems.map((p) => [p.location?.line, p.code]), [[3, 'unit.bad-section']], 'only the section: no ExecStart= follows from it');
  t.match(c.problems[0].message, /did you mean \[Service\]/);
  c = checkUnit('a.service', '[Service]\nExecStart=/bin/true\n[Instal]\nWantedBy=multi-user.target\n', { file: 'a.service' });
  t.same(c.problems.map((p) => p.location?.line), [3]);
  t.match(c.problems[0].message, /did you mean \[Install\]/);
  c = checkUnit('a.service', '[Service]\nExecStrat=/bin/true\n', { file: 'a.service' });
  t.same(c.problems.map((p) => p.code), ['unit.not-loadable'], 'systemd would refuse it: the key is not ExecStart=');
  t.same(c.warnings.map((w) => [w.line, w.key]), [[2, 'ExecStrat']]);
  t.match(c.warnings[0].message, /did you mean ExecStart\?/);
  c = checkUnit('a.service', '[Service]\nExecStart=/bin/true\nRestartsec=5\n[X-Fleet]\nGlobl=true\n', { file: 'a.service' });
  t.same(c.problems.map((p) => p.location?.key), ['Globl'], 'an unknown [X-Fleet] key is an error');
  t.same(c.warnings.map((w) => w.key), ['Restartsec'], 'warnings are collected when the file has errors too');
  c = checkUnit('ok.service', '[Service]\nExecStart=/bin/true\n');
  t.same([c.problems, c.warnings], [[], []]);
});

t.test('checkSubmit: the first problem of what verify refuses, located; warnings do not refuse', async (t) => {
  const refused: [string, RegExp][] = [
    ['[Unit]\nDescription=x\n', /^u\.service:1: \[Service\] ExecStart: systemd would refuse to load it: a service needs ExecStart=/],
    ['[Service]\nType=simple\nExecStop=/bin/true\n', /u\.service:1: \[Service\] ExecStart: .*only Type=oneshot services may leave out/],
    ['[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n', /u\.service:3: \[Service\] ExecStart: .*2 ExecStart= commands/],
    ['[Servce]\nExecStart=/bin/true\n', /u\.service:1: \[Servce\]: unknown section \[Servce\]; did you mean \[Service\]\?/],
    ['[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineMetdata=a=b\n', /u\.service:4: \[X-Fleet\] MachineMetdata: .*did you mean MachineMetadata\?/],
    ['', /u\.service: .*empty.*masked/],
  ];
  for (const [text, msg] of refused) {
    const err = (() => { try { checkSubmit('u.service', text, { file: 'u.service' }); } catch (e) { return e; } })();
    t.ok(err instanceof ValidationError, JSON.stringify(text));
    t.match((err as Error).message, msg);
  }
  t.equal(checkSubmit('u.service', '[Service]\nExecStrat=/bin/x\nExecStart=/bin/true\n').name, 'u.service', 'a warning alone passes');
  t.equal(checkSubmit('c.service', '[X-Container]\nImage=busybox\n').name, 'c.service', 'a container unit needs no ExecStart=');
  t.equal(checkSubmit('o.service', '[Service]\nType=oneshot\nExecStart=/bin/a\nExecStart=/bin/b\n').name, 'o.service', 'oneshot: several ExecStart=');
  t.equal(checkSubmit('w@.service', '[Service]\nExecStart=/bin/sleep %i\n').name, 'w@.service', 'a template');
});

t.test('the key lists agree with systemd --dump-configuration-items', async (t) => {
  const out = await new Promise<string>((resolve, reject) => {
    execFile('/lib/systemd/systemd', ['--dump-configuration-items'], { timeout: 30_000, maxBuffer: 16 << 20 }, (err, stdout) => {
      if (err) reject(new Error(`systemd --dump-configuration-items: ${err.message} (apt install systemd)`));
      else resolve(stdout);
    });
  });
  const real = new Map<string, Set<string>>();
  let section = '';
  for (const l of out.split('\n')) {
    const m = /^\[(.+)\]$/.exec(l);
    if (m) { section = m[1]; real.set(section, new Set()); continue; }
    if (l.includes('=')) real.get(section)?.add(l.slice(0, l.indexOf('=')));
  }
  t.same([...real.keys()].sort(), [...SYSTEMD_SECTIONS].sort(), 'the sections systemd reads');
  let checked = 0;
  for (const [s, keys] of Object.entries(COMMON_KEYS)) {
    for (const k of keys) if (!real.get(s)?.has(k)) t.fail(`[${s}] ${k} is not a key systemd reads`);
    for (const k of real.get(s) ?? []) {
      checked++;
      const w = unitWarnings(parseUnitFile(`[${s}]\n${k}=x\n`));
      if (w.length > 0) t.fail(`[${s}] ${k} is real, yet warned: ${w[0].message}`);
    }
  }
  t.ok(checked > 1000, `${checked} real keys, none warned`);
});
