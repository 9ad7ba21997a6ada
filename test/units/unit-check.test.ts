/**
 * checkUnit (shoalctl verify): every problem of a file, in line order; and checkSubmit (serviceLoadProblem, exec-check) agrees
 * with the live `systemd-analyze verify` (systemd 252, as in the testbed image) over every combination
 * of the keys systemd's service_verify reads. Fails, never skips, when systemd-analyze is missing.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSubmit, checkUnit, commandCount, MAX_PROBLEMS } from '../../src/units/unit-check';
import { parseUnit } from '../../src/units/unit';

t.test('every bad key is reported, in line order, each with its line', async (t) => {
  const text = '[Service]\nExecStart=/bin/true\n[X-Fleet]\nConflicts=\nMachineOf=a b\nBogus=1\nMachineID=zz\n[X-Shoal]\nCPU=abc\n';
  const { spec, problems } = checkUnit('x.service', text, { file: 'x.service' });
  t.equal(spec, undefined, 'no spec for a bad file');
  t.same(problems.map((p) => p.location?.line), [5, 6, 7, 9]);
  t.same(problems.map((p) => p.location?.key), ['MachineOf', 'Bogus', 'MachineID', 'CPU']);
  t.match(problems[0].message, /^x\.service:5: /);
});

t.test('a continued line is stepped over whole; the count is bounded', async (t) => {
  const cont = checkUnit('y.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nBogus=a \\\n  b\nOther=1\n');
  t.same(cont.problems.map((p) => p.location?.line), [4, 6], 'the continuation of line 4 is not a problem of its own');
  const many = '[Service]\nExecStart=/bin/true\n[X-Fleet]\n' + Array.from({ length: 50 }, (_, i) => `Bad${i}=1`).join('\n');
  t.equal(checkUnit('z.service', many).problems.length, MAX_PROBLEMS);
  t.same(checkUnit('ok.service', '[Service]\nExecStart=/bin/true\n').problems, []);
  t.equal(checkUnit('ok.service', '[Service]\nExecStart=/bin/true\n').spec?.name, 'ok.service');
});

t.test('a service systemd would refuse is reported beside the other problems, not only when there are none', async (t) => {
  const { problems } = checkUnit('n.service', '[Service]\nType=simple\n[X-Fleet]\nGlobal=maybe\n');
  t.equal(problems.length, 2, 'both problems');
  t.equal(problems[0].code, 'unit.not-loadable', 'no ExecStart= is one of them');
  t.same(problems.map((p) => p.location?.line), [1, 4], 'in line order');
  // a stepped-over line that systemd's check reads: no verdict on what is left of the file
  const stepped = checkUnit('s.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=maybe\n');
  t.equal(stepped.problems.length, 1, 'a file with ExecStart= has only its own problem');
});

t.test('a container unit needs no ExecStart=; an empty file is masked', async (t) => {
  t.same(checkUnit('c.service', '[X-Container]\nImage=busybox\nCommand=sleep 1\n').problems, []);
  t.match(checkUnit('e.service', '').problems[0]?.message, /empty.*masked/);
  t.match(checkUnit('e.socket', '').problems[0]?.message, /empty.*masked/);
});

// every combination of what service_verify reads
function cases(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  let n = 0;
  for (const start of [undefined, '/bin/true', '']) {
    for (const stop of [undefined, '/bin/true']) {
      for (const type of [undefined, 'simple', 'oneshot', 'forking', 'exec']) {
        for (const remain of [undefined, 'yes', 'no']) {
          for (const success of [undefined, 'none', 'exit']) {
            const unit = success === undefined ? '' : `[Unit]\nSuccessAction=${success}\n`;
            const svc = [start === undefined ? '' : `ExecStart=${start}\n`, stop === undefined ? '' : `ExecStop=${stop}\n`,
              type === undefined ? '' : `Type=${type}\n`, remain === undefined ? '' : `RemainAfterExit=${remain}\n`].join('');
            out.push({ name: `c${n++}.service`, text: `${unit}[Service]\n${svc}` });
          }
        }
      }
    }
  }
  return out;
}

// the other rules of service_verify, and values systemd cannot parse (ignored, as systemd does)
const EDGE: string[] = [
  'ExecStart=/bin/true\nExecStart=/bin/false\n', 'Type=oneshot\nExecStart=/bin/true\nExecStart=/bin/false\n',
  'ExecStart=/bin/true\nExecStart=\nExecStart=/bin/false\n', 'ExecStart=/bin/true ; /bin/false\n', 'ExecStart=/bin/true ;\n',
  'ExecStart=/bin/echo \\; /bin/false\n', "ExecStart=/bin/echo ';' /bin/false\n", 'ExecStart=/bin/echo a;b\n',
  'ExecStart=/bin/echo "a ; b"\n', 'Type=exec\nExecStart=/bin/true\nExecStart=/bin/true\n',
  'Type=oneshot\nExecStart=/bin/true\nRestart=always\n', 'Type=oneshot\nExecStart=/bin/true\nRestart=on-success\n',
  'Type=oneshot\nExecStart=/bin/true\nRestart=on-failure\n', 'ExecStart=/bin/true\nRestart=always\n',
  'Type=oneshot\nExecStart=/bin/true\nRestart=always\nRestart=bogus\n', 'Type=oneshot\nExecStart=/bin/true\nRestart=always\nRestart=no\n',
  'Type=oneshot\nExitType=cgroup\nExecStart=/bin/true\n', 'ExitType=cgroup\nExecStart=/bin/true\n',
  'Type=dbus\nExecStart=/bin/true\n', 'Type=dbus\nBusName=org.example.X1\nExecStart=/bin/true\n',
  'BusName=org.example.X2\nExecStart=/bin/true\n', 'BusName=org.example.X3\nRemainAfterExit=yes\nExecStop=/bin/true\n',
  'BusName=org.example.X4\nType=oneshot\nRemainAfterExit=yes\nExecStop=/bin/true\n',
  'ExecStart=/bin/true\nPAMName=login\nKillMode=process\n', 'ExecStart=/bin/true\nPAMName=login\nKillMode=mixed\n',
  'ExecStart=/bin/true\nPAMName=login\nKillMode=none\n', 'ExecStart=/bin/true\nKillMode=process\n',
  'Type=bogus\nRemainAfterExit=yes\nExecStop=/bin/true\n', 'Type=oneshot\nType=bogus\nRemainAfterExit=yes\nExecStop=/bin/true\n',
  'Type=oneshot\nRemainAfterExit=yes\nRemainAfterExit=maybe\nExecStop=/bin/true\n',
  // empty assignments: ignored for enums, booleans, bus names; a reset for ExecStop=, PAMName=, KillMode=
  'Type=oneshot\nType=\nExecStart=/bin/true\nExecStart=/bin/false\n', 'Type=oneshot\nRestart=always\nRestart=\nExecStart=/bin/true\n',
  'Type=oneshot\nRemainAfterExit=yes\nRemainAfterExit=\nExecStop=/bin/true\n', 'Type=oneshot\nExitType=cgroup\nExitType=\nExecStart=/bin/true\n',
  'Type=dbus\nBusName=org.example.X5\nBusName=\nExecStart=/bin/true\n', 'ExecStart=/bin/true\nPAMName=login\nKillMode=process\nKillMode=\n',
  'ExecStart=/bin/true\nPAMName=login\nPAMName=\nKillMode=process\n', 'ExecStop=/bin/true\nExecStop=\nRemainAfterExit=yes\n',
  // command lines (config_parse_exec): fatal, dropped with the - prefix, or fine
  'ExecStart=bin/true\n', 'ExecStart=./run\n', 'ExecStart=$FOO/bin/true\n', 'ExecStart=/bin/\n', 'ExecStart=..\n', 'ExecStart=/bin/.\n',
  'ExecStart=true\n', 'ExecStart=%h/bin/true\n', 'ExecStart="/bin/true" a\n', 'ExecStart=/bin/echo "abc\n', "ExecStart=/bin/echo 'a''\n",
  'ExecStart=/bin/echo a"b\n', 'ExecStart=/bin/echo "\\"\n', "ExecStart=/bin/echo '\\''\n", 'ExecStart=/bin/sh -c \'echo "a\'\n',
  'ExecStart="/bin/echo\n', 'ExecStart=@/bin/true\n', 'ExecStart=@/bin/true argv0\n', 'ExecStart=@/bin/true ;\n', 'ExecStart=@@/bin/true a\n',
  'ExecStart=-\n', 'ExecStart=- /bin/true\n', 'ExecStart=-bin/true\n', 'ExecStart=--/bin/true\n', 'ExecStart=-/bin/true "abc\n',
  'ExecStart=+!/bin/true\n', 'ExecStart=!!/bin/true\n', 'ExecStart=-:@+/bin/echo x\n', 'ExecStart=:-/bin/true\n',
  'Type=oneshot\nExecStart=/bin/true ; bin/true\n', 'Type=oneshot\nExecStart=/bin/true ; -bin/true\n', 'Type=oneshot\nExecStart=/bin/true\nExecStart=./x\n',
  'ExecStart=/bin/true\nExecStartPre=/bin/echo "x\n', 'ExecStart=/bin/true\nExecStartPre="/bin/echo\n', 'ExecStart=/bin/true\nExecStartPre=-\n',
  'ExecStart=/bin/true\nExecStop=bin/true\n', 'ExecStart=/bin/true\nExecCondition=bin/x\n', 'ExecStart=/bin/true\nExecReload=@/bin/kill\n',
  'ExecStart=/bin/true\nExecStopPost=-bin/x\n', 'ExecStart=/bin/echo a \\\n  "b\n',
  // a program path with a quote, a backslash or a control character in what systemd reads (string_is_safe)
  'ExecStart=/bin/tr\\que\n', 'ExecStart=/bin/"a\'b"\n', 'ExecStart=/bin/a\\\\b\n', 'ExecStart="/bin/a\\tb"\n', 'ExecStart=/bin/a\\"b\n',
  'ExecStart=/bin/true%i\\;\n', 'ExecStart=-/bin/tr\\que\n', 'Type=oneshot\nExecStart=/bin/true\nExecStart=-/bin/x\\q\n',
  'ExecStart=/bin/a\\sb\n', 'ExecStart=/bin/\\x41\n', 'ExecStart=/bin/echo a\\qb "c\\"d" \\\\\n',
];
// the same for [Unit] SuccessAction=, which the [Service] cases above do not reach
const UNIT_EDGE: string[] = [
  '[Unit]\nSuccessAction=exit\nSuccessAction=\n[Service]\nExecStop=/bin/true\n', '[Unit]\nSuccessAction=bogus\n[Service]\nExecStop=/bin/true\n',
  '[Unit]\nSuccessAction=exit\nSuccessAction=bogus\n[Service]\nExecStop=/bin/true\n', '[Unit]\nSuccessAction=halt\n[Service]\nType=oneshot\n', '[Unit]\nSuccessAction=exit\n[Service]\nType=oneshot\n', '[Unit]\nSuccessAction=poweroff-force\n[Service]\nType=oneshot\n',
  '[Unit]\nSuccessAction=bogus\n[Service]\nType=oneshot\n',
];

t.test('commandCount: commands of one ExecStart= value, as systemd splits them', async (t) => {
  const cases: [string, number][] = [
    ['/bin/true', 1], ['/bin/true ; /bin/false', 2], ['/bin/true ;', 1], ['; /bin/true', 1], ['/bin/echo \\; x', 1],
    ["/bin/echo ';' x", 1], ['/bin/echo "a ; b"', 1], ['/bin/echo a;b', 1], ['a ; b ; c', 3], ['', 0], ['  ', 0], ['a\t;\tb', 2],
    // a command systemd drops (the - prefix: its error ignored) is no command, and neither is the rest of its line
    ['-', 0], ['-bin/true', 0], ['/bin/true ; -bin/true ; /bin/true', 1], ['-/bin/true', 1], ['@/bin/true argv0 ; /bin/true', 2],
  ];
  for (const [v, n] of cases) t.equal(commandCount(v), n, JSON.stringify(v));
});

t.test('checkSubmit agrees with systemd-analyze verify on every combination of service_verify and command-line rules', async (t) => {
  const all = [...cases(), ...EDGE.map((svc, i) => ({ name: `e${i}.service`, text: `[Service]\n${svc}` })), ...UNIT_EDGE.map((text, i) => ({ name: `u${i}.service`, text }))];
  const dir = mkdtempSync(join(tmpdir(), 'shoal-unit-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const c of all) writeFileSync(join(dir, c.name), c.text);
  const out = await new Promise<string>((resolve, reject) => {
    execFile('systemd-analyze', ['verify', '--man=no', ...all.map((c) => join(dir, c.name))], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('systemd-analyze is missing (apt install systemd)'));
      else resolve(`${stdout}${stderr}`);
    });
  });
  const refused = new Set([...out.matchAll(/^([ceu]\d+\.service): .*(Refusing\.|fatal error)/gm)].map((m) => m[1]));
  t.notMatch(out, /failed to load properly/, 'no file fails for a reason that is not its own (e.g. a bus name another file took)');
  t.ok(refused.size > 20 && refused.size < all.length - 20, `systemd refused ${refused.size} of ${all.length}`);
  for (const c of all) {
    t.doesNotThrow(() => parseUnit(c.name, c.text), c.text);
    let ours: Error | undefined;
    try { checkSubmit(c.name, c.text); } catch (err) { ours = err as Error; }
    t.equal(ours !== undefined, refused.has(c.name), `${JSON.stringify(c.text)}: systemd ${refused.has(c.name) ? 'refuses' : 'loads'} it${ours ? ` (ours: ${ours.message})` : ''}`);
  }
});

t.test('a socket\'s command line systemd cannot read is refused too; a fine one is not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-unit-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sockets: [string, string][] = [['s0.socket', 'ExecStartPre=bin/true\n'], ['s1.socket', 'ExecStartPre=/bin/true\nExecStopPost=-/bin/false x\n'], ['s2.socket', 'ExecStopPre=/bin/echo "x\n']];
  for (const [name, exec] of sockets) {
    writeFileSync(join(dir, name), `[Socket]\nListenStream=127.0.0.1:1\n${exec}`);
    writeFileSync(join(dir, name.replace('.socket', '.service')), '[Service]\nExecStart=/bin/true\n');
  }
  const out = await new Promise<string>((resolve, reject) => {
    execFile('systemd-analyze', ['verify', '--man=no', ...sockets.map(([n]) => join(dir, n))], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('systemd-analyze is missing (apt install systemd)'));
      else resolve(`${stdout}${stderr}`);
    });
  });
  for (const [name, exec] of sockets) {
    const text = `[Socket]\nListenStream=127.0.0.1:1\n${exec}`;
    let ours: Error | undefined;
    try { checkSubmit(name, text, { file: name }); } catch (err) { ours = err as Error; }
    const sd = new RegExp(`^${name.replace('.', '\\.')}: .*fatal error`, 'm').test(out);
    t.equal(ours !== undefined, sd, `${JSON.stringify(exec)}: systemd ${sd ? 'refuses' : 'loads'} it${ours ? ` (ours: ${ours.message})` : ''}`);
  }
  t.throws(() => checkSubmit('s0.socket', '[Socket]\nListenStream=1\nExecStartPre=bin/true\n', { file: 's0.socket' }),
    { code: 'unit.not-loadable', message: /^s0\.socket:3: \[Socket\] ExecStartPre: systemd would refuse to load it: "bin\/true" is neither an absolute path/ });
});

// sockets, timers and path units with nothing to do (socket_verify, timer_verify, path_verify); each has its own service
const TRIGGERS: [string, string][] = [
  ['socket', ''], ['socket', '[Unit]\nDescription=x\n'], ['socket', '[Socket]\nListenStream=127.0.0.1:1\n'], ['socket', '[Socket]\nListenStream=127.0.0.1:1\nListenStream=\n'],
  ['socket', '[Socket]\nListenStream=\nListenStream=127.0.0.1:1\n'], ['socket', '[Socket]\nListenDatagram=127.0.0.1:1\nListenStream=\n'], ['socket', '[Socket]\nListenFIFO=/run/x\n'],
  ['socket', '[Socket]\nListenSpecial=/dev/null\n'], ['socket', '[Socket]\nListenNetlink=route 1\n'], ['socket', '[Socket]\nListenSequentialPacket=/run/a\n'],
  ['timer', ''], ['timer', '[Timer]\nPersistent=true\n'], ['timer', '[Timer]\nOnCalendar=daily\n'], ['timer', '[Timer]\nOnCalendar=daily\nOnCalendar=\n'],
  ['timer', '[Timer]\nOnCalendar=daily\nOnBootSec=\n'], ['timer', '[Timer]\nOnBootSec=\nOnBootSec=5\n'], ['timer', '[Timer]\nOnClockChange=yes\n'], ['timer', '[Timer]\nOnTimezoneChange=true\n'],
  ['timer', '[Timer]\nOnClockChange=yes\nOnClockChange=\n'], ['timer', '[Timer]\nOnClockChange=no\n'], ['timer', '[Timer]\nOnActiveSec=1\n'], ['timer', '[Timer]\nOnStartupSec=1\n'],
  ['timer', '[Timer]\nOnUnitActiveSec=1\n'], ['timer', '[Timer]\nOnUnitInactiveSec=1\n'],
  ['path', ''], ['path', '[Path]\nMakeDirectory=yes\n'], ['path', '[Path]\nPathExists=/tmp/x\n'], ['path', '[Path]\nPathExists=/tmp/x\nPathExists=\n'],
  ['path', '[Path]\nPathExists=/tmp/x\nPathChanged=\n'], ['path', '[Path]\nPathChanged=relative\n'], ['path', '[Path]\nPathModified=/x\n'], ['path', '[Path]\nDirectoryNotEmpty=/x\n'],
  ['path', '[Path]\nPathExistsGlob=/x*\n'], ['path', '[Path]\nPathExists=%t/x\n'],
];

t.test('checkSubmit agrees with systemd-analyze verify on sockets, timers and path units with nothing to do', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-unit-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const all = TRIGGERS.map(([type, text], i) => ({ name: `t${i}.${type}`, text: `[Unit]\nDescription=t\n${text}` }));
  for (const c of all) {
    writeFileSync(join(dir, c.name), c.text);
    writeFileSync(join(dir, c.name.replace(/\.\w+$/, '.service')), '[Service]\nExecStart=/bin/true\n');
  }
  const out = await new Promise<string>((resolve, reject) => {
    execFile('systemd-analyze', ['verify', '--man=no', ...all.map((c) => join(dir, c.name))], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('systemd-analyze is missing (apt install systemd)'));
      else resolve(`${stdout}${stderr}`);
    });
  });
  t.notMatch(out, /failed to load properly/);
  const refused = new Set([...out.matchAll(/^(t\d+\.\w+): .*(Refusing\.|fatal error)/gm)].map((m) => m[1]));
  t.ok(refused.size > 5 && refused.size < all.length - 5, `systemd refused ${refused.size} of ${all.length}`);
  for (const c of all) {
    let ours: Error | undefined;
    try { checkSubmit(c.name, c.text, { file: c.name }); } catch (err) { ours = err as Error; }
    t.equal(ours !== undefined, refused.has(c.name), `${c.name} ${JSON.stringify(c.text)}: systemd ${refused.has(c.name) ? 'refuses' : 'loads'} it${ours ? ` (ours: ${ours.message})` : ''}`);
  }
  t.throws(() => checkSubmit('a.timer', '[Unit]\nDescription=x\n[Timer]\nPersistent=true\n', { file: 'a.timer' }),
    { code: 'unit.not-loadable', message: /^a\.timer:3: \[Timer\] OnCalendar: systemd would refuse to load it: a timer needs OnCalendar=/ });
});
