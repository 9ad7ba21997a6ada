import t from 'tap';
import { ValidationError } from '../../src/errors';
import {
  expandSpecifiers, matchUnitGlob, parseFleetOptions, parseUnitFile, parseUnitName, unitsConflict,
} from '../../src/units';
import type { FleetOptions } from '../../src/units';

function fleet(name: string, body: string): FleetOptions {
  return parseFleetOptions(parseUnitFile(`[Unit]\nDescription=x\n[X-Fleet]\n${body}`), parseUnitName(name), { file: name });
}

const MID = '0123456789abcdef0123456789abcdef';

const good: Array<{ name: string; unit?: string; body: string; want: Partial<FleetOptions> }> = [
  { name: 'no [X-Fleet] at all', body: '', want: { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [] } },
  { name: 'full MachineID', body: `MachineID=${MID}`, want: { machineId: MID } },
  { name: 'MachineID prefix of 8, upper case normalised', body: 'MachineID=0123ABCD', want: { machineId: '0123abcd' } },
  { name: 'MachineID repeated with the same value', body: `MachineID=${MID}\nMachineID=${MID}`, want: { machineId: MID } },
  { name: 'MachineOf list and repeated lines', body: 'MachineOf=a.service b.service\nMachineOf=c.service', want: { machineOf: ['a.service', 'b.service', 'c.service'] } },
  { name: 'template MachineID some instance makes valid is kept', unit: 'ab@.service', body: 'MachineID=%p%i', want: { machineId: '%p%i' } },
  { name: 'template MachineOf some instance makes valid is kept', unit: 'ab@.service', body: 'MachineOf=%N.socket %i', want: { machineOf: ['%N.socket', '%i'] } },
  { name: 'MachineOf duplicates collapse', body: 'MachineOf=a.service a.service', want: { machineOf: ['a.service'] } },
  { name: 'MachineMetadata single', body: 'MachineMetadata=region=us-east', want: { machineMetadata: { region: ['us-east'] } } },
  {
    name: 'MachineMetadata quoted list (fleet multi-value)',
    body: 'MachineMetadata="region=us-east" "disk=ssd"',
    want: { machineMetadata: { region: ['us-east'], disk: ['ssd'] } },
  },
  {
    name: 'MachineMetadata whitespace list, repeated lines: OR within a key',
    body: 'MachineMetadata=region=us-east disk=ssd\nMachineMetadata=region=us-west',
    want: { machineMetadata: { region: ['us-east', 'us-west'], disk: ['ssd'] } },
  },
  { name: 'MachineMetadata quoted value keeps spaces', body: 'MachineMetadata="rack=row 1"', want: { machineMetadata: { rack: ['row 1'] } } },
  { name: 'MachineMetadata key __proto__ is plain data', body: 'MachineMetadata=__proto__=x', want: { machineMetadata: JSON.parse('{"__proto__":["x"]}') } },
  { name: 'Conflicts globs, list and repeated', body: 'Conflicts=lb@*.service\nConflicts=web?.service db[0-9].service', want: { conflicts: ['lb@*.service', 'web?.service', 'db[0-9].service'] } },
  { name: 'Global=true', body: 'Global=true', want: { global: true } },
  ...['yes', 'YES', '1', 'on', 't', 'True'].map((v) => ({ name: `Global=${v}`, body: `Global=${v}`, want: { global: true } })),
  ...['false', 'no', '0', 'off', 'f'].map((v) => ({ name: `Global=${v}`, body: `Global=${v}`, want: { global: false } })),
  { name: 'Global: last value wins (fleet)', body: 'Global=true\nGlobal=false', want: { global: false } },
  { name: 'Global quoted', body: 'Global="true"', want: { global: true } },
  { name: 'Replaces', body: 'Replaces=old.service', want: { replaces: ['old.service'] } },
  { name: 'empty assignment resets a list', body: 'Conflicts=a.service\nConflicts=\nConflicts=b.service', want: { conflicts: ['b.service'] } },
  { name: 'empty assignment resets MachineID', body: `MachineID=${MID}\nMachineID=\nMachineOf=a.service`, want: { machineId: undefined, machineOf: ['a.service'] } },
  { name: 'deprecated X-ConditionMachineOf', body: 'X-ConditionMachineOf=a.service', want: { machineOf: ['a.service'] } },
  { name: 'deprecated X-Conflicts', body: 'X-Conflicts=a*.service', want: { conflicts: ['a*.service'] } },
  { name: 'deprecated X-ConditionMachineMetadata', body: 'X-ConditionMachineMetadata=a=b', want: { machineMetadata: { a: ['b'] } } },
  { name: 'deprecated X-ConditionMachineID', body: 'X-ConditionMachineID=0123abcd', want: { machineId: '0123abcd' } },
  { name: 'Global with Conflicts is allowed', body: 'Global=true\nConflicts=x.service', want: { global: true, conflicts: ['x.service'] } },
  { name: 'Global with MachineMetadata', body: 'Global=true\nMachineMetadata=role=edge', want: { global: true, machineMetadata: { role: ['edge'] } } },
  { name: 'MachineOf and Conflicts that do not overlap', body: 'MachineOf=app.service\nConflicts=lb@*.service', want: { machineOf: ['app.service'], conflicts: ['lb@*.service'] } },
  // Specifiers.
  { name: '%p %i %n %N in an instance', unit: 'side@7.service', body: 'MachineOf=%p-main@%i.service\nMachineMetadata=id=%n tag=%N', want: { machineOf: ['side-main@7.service'], machineMetadata: { id: ['side@7.service'], tag: ['side@7'] } } },
  { name: '%% is a literal percent', unit: 'a@1.service', body: 'MachineMetadata=pct=50%%', want: { machineMetadata: { pct: ['50%'] } } },
  { name: 'specifiers in a plain unit: %i is empty', unit: 'app.service', body: 'MachineMetadata=unit=%p%i', want: { machineMetadata: { unit: ['app'] } } },
  { name: 'template keeps specifiers unexpanded', unit: 'side@.service', body: 'MachineOf=%p-main@%i.service\nConflicts=%p@*.service', want: { machineOf: ['%p-main@%i.service'], conflicts: ['%p@*.service'] } },
  { name: 'Conflicts of an instance using %p', unit: 'lb@2.service', body: 'Conflicts=%p@*.service', want: { conflicts: ['lb@*.service'] } },
];

t.test('[X-Fleet] options parse with fleet semantics', async (t) => {
  for (const c of good) {
    const got = fleet(c.unit ?? 'u.service', c.body);
    t.match(got, c.want, c.name);
    for (const [k, v] of Object.entries(c.want)) if (v === undefined) t.equal((got as never)[k], undefined, `${c.name}: ${k} unset`);
    if (c.want.machineMetadata) t.same(got.machineMetadata, c.want.machineMetadata, `${c.name}: exact metadata`);
  }
});

const bad: Array<{ name: string; unit?: string; body: string; code: string; why: RegExp; line?: number; key?: string }> = [
  { name: 'unknown key', body: 'MachineOff=a.service', code: 'unit.unknown-key', why: /unknown key "MachineOff"/, line: 4 },
  { name: 'wrong case', body: 'machineof=a.service', code: 'unit.unknown-key', why: /did you mean MachineOf\?/ },
  { name: 'shoal key in the fleet section', body: 'CPU=1', code: 'unit.unknown-key', why: /belongs in \[X-Shoal\]/ },
  { name: 'legacy boot id', body: 'X-ConditionMachineBootID=abc', code: 'unit.unknown-key', why: /MachineID=/ },
  { name: 'MachineID too short', body: 'MachineID=abc', code: 'unit.bad-option', why: /not a machine id/ },
  { name: 'MachineID not hex', body: 'MachineID=zzzzzzzzzz', code: 'unit.bad-option', why: /not a machine id/ },
  { name: 'MachineID too long', body: `MachineID=${MID}0`, code: 'unit.bad-option', why: /not a machine id/ },
  { name: 'MachineID two values', body: `MachineID=${MID}\nMachineID=fedcba98`, code: 'unit.bad-option', why: /twice/, line: 5 },
  { name: 'MachineOf bad name', body: 'MachineOf=foo', code: 'unit.bad-option', why: /no type suffix/ },
  { name: 'MachineOf path', body: 'MachineOf=../x.service', code: 'unit.bad-option', why: /'\/'/ },
  { name: 'MachineOf a template', body: 'MachineOf=web@.service', code: 'unit.bad-option', why: /template/ },
  { name: 'MachineOf itself', unit: 'me.service', body: 'MachineOf=me.service', code: 'unit.bad-option', why: /itself/ },
  { name: 'MachineOf expanded to a bad name', unit: 'a@x.service', body: 'MachineOf=%i', code: 'unit.bad-option', why: /no type suffix/ },
  { name: 'metadata without =', body: 'MachineMetadata=region', code: 'unit.bad-option', why: /not key=value/ },
  { name: 'metadata empty value', body: 'MachineMetadata=region=', code: 'unit.bad-option', why: /not key=value/ },
  { name: 'metadata empty key', body: 'MachineMetadata==x', code: 'unit.bad-option', why: /not key=value/ },
  { name: 'metadata two =', body: 'MachineMetadata=a=b=c', code: 'unit.bad-option', why: /not key=value/ },
  { name: 'unquoted metadata value with a space', body: 'MachineMetadata=rack=row 1', code: 'unit.bad-option', why: /"1" is not key=value/ },
  { name: 'unbalanced quote', body: 'MachineMetadata="a=b', code: 'unit.bad-option', why: /unbalanced/ },
  { name: 'bad glob', body: 'Conflicts=lb[.service', code: 'unit.bad-option', why: /unterminated '\['/ },
  { name: 'empty class glob', body: 'Conflicts=lb[].service', code: 'unit.bad-option', why: /empty class/ },
  { name: 'Global not a boolean', body: 'Global=maybe', code: 'unit.bad-option', why: /not a boolean/ },
  { name: 'Global two values', body: 'Global=true false', code: 'unit.bad-option', why: /one boolean/ },
  // Issue 10 item 9: a constraint that would silently vanish is refused where it is written.
  { name: '"" after a value is not a reset (systemd: only Key= is empty)', body: 'MachineMetadata=role=db\nMachineMetadata=""', code: 'unit.bad-option', why: /has no value; an empty assignment/, line: 5, key: 'MachineMetadata' },
  { name: 'Conflicts="" is not a reset either', body: 'Conflicts=""', code: 'unit.bad-option', why: /has no value/ },
  { name: 'Conflicts= an exact name without a type suffix', body: 'Conflicts=db', code: 'unit.bad-option', why: /Conflicts=db can never match a unit.*db\.service\?/ },
  { name: 'Replaces= an exact name without a type suffix', body: 'Replaces=db', code: 'unit.bad-option', why: /Replaces=db can never match a unit/ },
  { name: 'template MachineID=%m: no instance can be valid', unit: 'w@.service', body: 'MachineID=%m', code: 'unit.bad-option', why: /%m in "%m" is never expanded: only %n %N %p %i %%/ },
  // Neighbours of MachineID=%m: template values no instance can make valid.
  { name: 'template MachineOf=%n: every instance names itself', unit: 'w@.service', body: 'MachineOf=%n', code: 'unit.bad-option', why: /MachineOf=%n names each instance itself/ },
  { name: 'template MachineOf=%p@%i.service: every instance names itself', unit: 'w@.service', body: 'MachineOf=%p@%i.service', code: 'unit.bad-option', why: /names each instance itself/ },
  { name: 'template MachineOf=%N.service: every instance names itself', unit: 'w@.service', body: 'MachineOf=%N.service', code: 'unit.bad-option', why: /names each instance itself/ },
  { name: 'template MachineID=%n: never hex', unit: 'w@.service', body: 'MachineID=%n', code: 'unit.bad-option', why: /MachineID=%n can never be a machine id/ },
  { name: 'template MachineID=%%: never hex', unit: 'w@.service', body: 'MachineID=%%', code: 'unit.bad-option', why: /can never be a machine id/ },
  { name: 'template MachineID=%p%i with a non-hex prefix', unit: 'w@.service', body: 'MachineID=%p%i', code: 'unit.bad-option', why: /can never be a machine id/ },
  { name: 'template MachineID=%ig', unit: 'w@.service', body: 'MachineID=%ig', code: 'unit.bad-option', why: /can never be a machine id/ },
  { name: 'unknown specifier in a plain unit', unit: 'a@1.service', body: 'MachineMetadata=host=%H', code: 'unit.bad-option', why: /%H .* never expanded/ },
  { name: 'a lone % at the end', body: 'MachineMetadata=a=b%', code: 'unit.bad-option', why: /never expanded/ },
  // fleet's forbidden combinations.
  { name: 'MachineID + MachineOf', body: `MachineID=${MID}\nMachineOf=a.service`, code: 'unit.option-conflict', why: /MachineID cannot be used with MachineOf/, key: 'MachineOf', line: 5 },
  { name: 'MachineID + Conflicts', body: `MachineID=${MID}\nConflicts=a*`, code: 'unit.option-conflict', why: /MachineID cannot be used with Conflicts/, key: 'Conflicts' },
  { name: 'MachineID + Global', body: `Global=true\nMachineID=${MID}`, code: 'unit.option-conflict', why: /MachineID cannot be used with Global/, key: 'Global', line: 4 },
  { name: 'MachineID + Replaces', body: `MachineID=${MID}\nReplaces=a.service`, code: 'unit.option-conflict', why: /MachineID cannot be used with Replaces/ },
  { name: 'Global + MachineOf', body: 'Global=yes\nMachineOf=a.service', code: 'unit.option-conflict', why: /Global cannot be used with MachineOf/ },
  { name: 'Global + Replaces', body: 'Global=1\nReplaces=a.service', code: 'unit.option-conflict', why: /Global cannot be used with Replaces/ },
  { name: 'Conflicts + Replaces', body: 'Conflicts=a*\nReplaces=b.service', code: 'unit.option-conflict', why: /Conflicts cannot be used with Replaces/ },
  { name: 'MachineOf matched by own Conflicts', body: 'MachineOf=app.service\nConflicts=app*.service', code: 'unit.option-conflict', why: /MachineOf=app\.service is matched by this unit's own Conflicts=app\*\.service/ },
  { name: 'MachineOf matched by own Replaces', body: 'MachineOf=app.service\nReplaces=app.service', code: 'unit.option-conflict', why: /own Replaces/ },
  { name: 'instance: expanded MachineOf matched by own Conflicts', unit: 'w@1.service', body: 'MachineOf=%p-db@%i.service\nConflicts=w-db@*.service', code: 'unit.option-conflict', why: /w-db@1\.service/ },
  { name: 'template: forbidden pair caught before expansion', unit: 'w@.service', body: 'Global=true\nMachineOf=%p-db@%i.service', code: 'unit.option-conflict', why: /Global cannot be used with MachineOf/ },
];

t.test('bad [X-Fleet] options are refused at their line', async (t) => {
  for (const c of bad) {
    try {
      const got = fleet(c.unit ?? 'u.service', c.body);
      t.fail(`${c.name}: accepted ${JSON.stringify(got)}`);
    } catch (e) {
      t.type(e, ValidationError, c.name);
      const v = e as ValidationError;
      t.equal(v.code, c.code, `${c.name}: code`);
      t.match(v.message, c.why, `${c.name}: message`);
      t.equal(v.location?.section, 'X-Fleet', `${c.name}: section`);
      t.equal(v.location?.file, c.unit ?? 'u.service', `${c.name}: file`);
      t.ok(typeof v.location?.line === 'number' && v.location.line >= 4, `${c.name}: has a line`);
      if (c.line !== undefined) t.equal(v.location?.line, c.line, `${c.name}: line`);
      if (c.key !== undefined) t.equal(v.location?.key, c.key, `${c.name}: key`);
    }
  }
});

t.test('specifier expansion is a single pass', async (t) => {
  const n = parseUnitName('web@x%i.service'.replace('%', 'p'));
  t.equal(expandSpecifiers('%n|%N|%p|%i|%%|%x|%', n), 'web@xpi.service|web@xpi|web|xpi|%|%x|%');
  t.equal(expandSpecifiers('%%i', parseUnitName('a@1.service')), '%i', '%% then i, not %(%i)');
  t.equal(expandSpecifiers('no specifiers', parseUnitName('a.service')), 'no specifiers');
});

t.test('globs follow Go path.Match', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['lb@*.service', 'lb@1.service', true],
    ['lb@*.service', 'lb@.service', true],
    ['lb@*.service', 'lb.service', false],
    ['*', 'anything.service', true],
    ['a?c.service', 'abc.service', true],
    ['a?c.service', 'ac.service', false],
    ['db[0-9].service', 'db7.service', true],
    ['db[0-9].service', 'dbx.service', false],
    ['db[^0-9].service', 'dbx.service', true],
    ['db[^0-9].service', 'db1.service', false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['*a*a*a*a*a*b', `${'a'.repeat(200)}`, false],
    ['x.service', 'x.service', true],
    ['x.service', 'x.servicex', false],
    ['[a-c][x-z]*', 'by.service', true],
  ];
  for (const [p, s, want] of cases) t.equal(matchUnitGlob(p, s), want, `${p} ~ ${s}`);
});

t.test('conflicts are symmetric and never with oneself', async (t) => {
  const lb = (i: number) => ({ name: `lb@${i}.service`, options: fleet(`lb@${i}.service`, 'Conflicts=lb@*.service') });
  const plain = { name: 'other.service', options: fleet('other.service', '') };
  const web = { name: 'web.service', options: fleet('web.service', 'Conflicts=other.service') };
  t.equal(unitsConflict(lb(1), lb(2)), true, 'lb@1 vs lb@2');
  t.equal(unitsConflict(lb(1), lb(1)), false, 'a unit never conflicts with itself');
  t.equal(unitsConflict(lb(1), plain), false, 'unrelated');
  t.equal(unitsConflict(web, plain), true, 'web names other');
  t.equal(unitsConflict(plain, web), true, 'symmetric: other is named by web');
});
