import t from 'tap';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { shoalctl } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'shoal-verify-'));
const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

t.test('every shipped example unit is valid', async (t) => {
  const files = readdirSync('units-examples').filter((f) => /\.(service|socket|timer|target)$/.test(f)).map((f) => join('units-examples', f));
  t.ok(files.length >= 6, 'at least six examples');
  const run = await shoalctl(['verify', ...files]);
  t.equal(run.code, 0, run.stderr);
  for (const f of files) t.match(run.stdout, `${f}: ok`);
});

const bad: { name: string; file: string; text: string; expect: RegExp }[] = [
  { name: 'unknown X-Fleet key names file, line and key', file: 'a.service', text: '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineOff=b.service\n', expect: /a\.service:4: .*MachineOff/ },
  { name: 'forbidden combination', file: 'b.service', text: '[X-Fleet]\nGlobal=true\nMachineOf=c.service\n', expect: /b\.service:\d+: .*(Global|MachineOf)/ },
  { name: 'assignment before any section', file: 'c.service', text: 'ExecStart=/bin/true\n', expect: /c\.service:1/ },
  { name: 'unknown unit type in the name', file: 'd.servic', text: '[Service]\nExecStart=/bin/true\n', expect: /d\.servic/ },
  { name: 'a service with nothing to run (systemd refuses it)', file: 'f.service', text: '[Unit]\nDescription=x\n', expect: /f\.service:1: .*systemd would refuse to load it/ },
  { name: 'an empty file (systemd takes it as masked)', file: 'g.service', text: '', expect: /g\.service: .*empty.*masked/ },
  { name: 'a misspelt section, with the suggestion', file: 'h.service', text: '[Unit]\nDescription=x\n[Servce]\nExecStart=/bin/true\n', expect: /h\.service:3: \[Servce\]: unknown section \[Servce\]; did you mean \[Service\]\?/ },
  { name: 'a misspelt [X-Fleet] key, with the suggestion', file: 'i.service', text: '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineMetdata=role=web\n', expect: /i\.service:4: \[X-Fleet\] MachineMetdata: .*did you mean MachineMetadata\?/ },
  { name: 'two ExecStart= in a Type=simple service', file: 'j.service', text: '[Service]\nExecStart=/bin/true\nExecStart=/bin/false\n', expect: /j\.service:3: \[Service\] ExecStart: systemd would refuse to load it: 2 ExecStart= commands/ },
  { name: 'binary junk', file: 'e.service', text: '[Service]\nExecStart=\u0000\u0001\n', expect: /e\.service/ },
];
for (const c of bad) {
  t.test(`verify refuses: ${c.name}`, async (t) => {
    const path = write(c.file, c.text);
    const run = await shoalctl(['verify', path]);
    t.equal(run.code, 1);
    t.match(run.stderr, c.expect);
  });
}

t.test('every problem of a file is printed, in line order', async (t) => {
  const path = write('many.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineOff=b.service\nGlobal=maybe\n[X-Shoal]\nCPU=lots\n');
  const run = await shoalctl(['verify', path]);
  t.equal(run.code, 1);
  const lines = run.stderr.trim().split('\n').filter((l) => l.startsWith(path));
  t.same(lines.map((l) => Number(l.slice(path.length + 1).split(':')[0])), [4, 5, 7], run.stderr);
  t.match(run.stderr, /1 of 1 unit file\(s\) invalid/);
});

t.test('a misspelt systemd key is a warning with its suggestion: printed, exit status unchanged', async (t) => {
  const warnOnly = write('warn.service', '[Service]\nExecStart=/bin/true\nRestartsec=5\n');
  let run = await shoalctl(['verify', warnOnly]);
  t.equal(run.code, 0, 'a warning alone: exit 0');
  t.match(run.stdout, /warn\.service: ok/);
  t.match(run.stderr, /warn\.service:3: \[Service\] Restartsec: warning: unknown key; did you mean RestartSec\? \(keys are case-sensitive; systemd ignores an unknown key\)/);
  t.equal((await shoalctl(['verify', '-q', warnOnly])).stderr, '', '-q prints only errors');
  const typo = write('typo.service', '[Service]\nExecStrat=/bin/true\n');
  run = await shoalctl(['verify', typo]);
  t.equal(run.code, 1, 'without ExecStart= systemd refuses it');
  t.match(run.stderr, /typo\.service:2: \[Service\] ExecStrat: warning: unknown key; did you mean ExecStart\?/);
  t.match(run.stderr, /typo\.service:1: \[Service\] ExecStart: systemd would refuse to load it/);
});

t.test('a missing file is an error naming it; other files are still checked', async (t) => {
  const good = write('good.service', '[Service]\nExecStart=/bin/true\n');
  const run = await shoalctl(['verify', join(dir, 'missing.service'), good]);
  t.equal(run.code, 1);
  t.match(run.stderr, /missing\.service: no such file/);
  t.match(run.stdout, /good\.service: ok/);
});

t.test('usage errors exit 2; help exits 0 with examples', async (t) => {
  t.equal((await shoalctl(['verify'])).code, 2, 'no file argument');
  t.equal((await shoalctl(['verify', '--bogus', 'x'])).code, 2, 'unknown flag');
  t.equal((await shoalctl(['no-such-verb'])).code, 2, 'unknown command');
  const help = await shoalctl(['verify', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Examples:/);
});

t.test('the built binary runs (bin/shoalctl) with fleetctl exit codes', async (t) => {
  const ver = execFileSync('bin/shoalctl', ['version']).toString();
  t.match(ver, /^shoalctl version \d+\.\d+\.\d+/);
  const badRun = spawnSync('bin/shoalctl', ['verify', join(dir, 'nope.service')]);
  t.equal(badRun.status, 1);
  t.match(badRun.stderr.toString(), /no such file/);
  t.equal(spawnSync('bin/shoalctl', ['--bogus']).status, 2);
});

t.test('invalid UTF-8 is caught on the bytes, not hidden by decoding', async (t) => {
  const path = join(dir, 'latin1.service');
  writeFileSync(path, Buffer.concat([Buffer.from('[Service]\nExecStart=/bin/echo caf'), Buffer.from([0xe9, 0x0a])]));
  const run = await shoalctl(['verify', path]);
  t.equal(run.code, 1);
  t.match(run.stderr, /latin1\.service: .*UTF-8/);
});
