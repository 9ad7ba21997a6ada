import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shoalctl } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'shoal-plan-'));
const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const machines = write('machines.toml', `
[[machine]]
id = "node1"
metadata = { region = "east" }
cpu = "2"
memory = "4G"

[[machine]]
id = "node2"
metadata = { region = "west" }
cpu = 4

[[machine]]
id = "node3"
`);

t.test('places units, explains the ones that fit nowhere, lists templates and globals', async (t) => {
  const lb = '[Service]\nExecStart=/bin/true\n[X-Fleet]\nConflicts=lb@*.service\n';
  const files = [
    write('lb@.service', lb),
    ...[1, 2, 3, 4].map((i) => write(`lb@${i}.service`, lb)),
    write('east.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineMetadata=region=east\n'),
    write('side.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineOf=east.service\n'),
    write('everywhere.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n'),
    write('nowhere.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineMetadata=region=north\n'),
    write('westish.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineMetadata=region=west\n'),
    write('picky.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineOf=east.service\nMachineMetadata=region=west\n'),
    write('hungry.service', '[Service]\nExecStart=/bin/true\nMemoryMax=6G\n'),
  ];
  const run = await shoalctl(['plan', '--machines', machines, ...files]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^UNIT\s+MACHINE\s+REASON/);
  t.match(run.stdout, /east\.service\s+node1/, 'metadata picks node1');
  t.match(run.stdout, /side\.service\s+node1/, 'MachineOf follows its target');
  t.match(run.stdout, /everywhere\.service\s+\(global\)\s+runs on 3 of 3 machine\(s\): node1, node2, node3/, 'a global lists its machines');
  t.match(run.stdout, /nowhere\.service\s+\(global\)\s+runs on no machine: MachineMetadata does not match: metadata region=east not in \{north\} \(node1\); .*region=west not in \{north\} \(node2\); .*region=\(unset\) not in \{north\} \(node3\)/, 'and says when none matches, naming each machine');
  t.match(run.stdout, /westish\.service\s+\(global\)\s+runs on 1 of 3 machine\(s\): node2; kept off: MachineMetadata does not match: metadata region=east not in \{west\} \(node1\)/, 'a global on some machines says why not the others');
  t.match(run.stdout, /picky\.service: not placed: MachineOf east\.service runs on node1, which refuses it: metadata/, 'a sidekick that fits nowhere never takes its target down');
  t.match(run.stdout, /hungry\.service\s+node[23]/, 'memory reservations fit where they can');
  t.match(run.stdout, /lb@\.service\s+-\s+template/);
  const placedLb = [1, 2, 3, 4].filter((i) => new RegExp(`lb@${i}\\.service\\s+node\\d`).test(run.stdout));
  t.equal(placedLb.length, 3, 'three conflicting units on three machines');
  t.match(run.stdout, /lb@\d\.service: fits nowhere: conflicts/, 'the fourth says why');
});

t.test('bad machines file: clear errors naming the file and key', async (t) => {
  const unit = write('x.service', '[Service]\nExecStart=/bin/true\n');
  const cases: [string, string, RegExp][] = [
    ['syntax', 'machine = [\n', /syntax\.toml:\d+/],
    ['unknown-key', '[[machine]]\nid = "a"\ncores = 2\n', /machine #1: unknown key "cores"/],
    ['bad-cpu', '[[machine]]\nid = "a"\ncpu = "lots"\n', /machine #1: cpu: /],
    ['md-eq', '[[machine]]\nid = "a"\nmetadata = { role = "a=b" }\n', /machine #1: metadata role=a=b: the value holds '='/],
    ['md-key', '[[machine]]\nid = "a"\nmetadata = { "bad key" = "x" }\n', /machine #1: metadata key "bad key"/],
    ['md-empty', '[[machine]]\nid = "a"\nmetadata = { role = "" }\n', /machine #1: metadata role: the value is empty/],
    ['dup', '[[machine]]\nid = "a"\n[[machine]]\nid = "a"\n', /duplicate id "a"/],
    ['empty', '', /no \[\[machine\]\]/],
  ];
  for (const [name, text, expect] of cases) {
    const run = await shoalctl(['plan', '-m', write(`${name}.toml`, text), unit]);
    t.equal(run.code, 1, name);
    t.match(run.stderr, expect, name);
  }
  t.equal((await shoalctl(['plan', unit])).code, 2, '--machines is required');
  t.equal((await shoalctl(['plan', '-m', machines, '--strategy', 'random', unit])).code, 2, 'unknown strategy');
});
