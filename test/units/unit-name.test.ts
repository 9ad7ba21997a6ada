import t from 'tap';
import { ValidationError } from '../../src/errors';
import { instanceName, isTemplate, isValidUnitName, parseUnitName, templateOf } from '../../src/units';
import { seededRandom } from '../../src/seeded-random';

const good: Array<{ name: string; want: Record<string, unknown> }> = [
  { name: 'hello.service', want: { prefix: 'hello', type: 'service', isTemplate: false, instance: undefined, template: undefined } },
  { name: 'web@.service', want: { prefix: 'web', type: 'service', isTemplate: true, instance: '' } },
  { name: 'web@3.service', want: { prefix: 'web', type: 'service', isTemplate: false, instance: '3', template: 'web@.service' } },
  { name: 'web@a.b.c.service', want: { prefix: 'web', instance: 'a.b.c', template: 'web@.service' } },
  { name: 'foo.bar.timer', want: { prefix: 'foo.bar', type: 'timer' } },
  { name: 'dev-sda1.device', want: { prefix: 'dev-sda1', type: 'device' } },
  { name: '-.mount', want: { prefix: '-', type: 'mount' } },
  { name: 'a:b_c\\x2d.socket', want: { prefix: 'a:b_c\\x2d', type: 'socket' } },
  { name: 'x.slice', want: { type: 'slice' } },
  { name: `${'a'.repeat(247)}.service`, want: { type: 'service' } },
];

t.test('valid names split into their parts', async (t) => {
  for (const c of good) {
    const n = parseUnitName(c.name);
    t.equal(n.name, c.name, c.name);
    t.match(n, c.want, c.name);
    for (const [k, v] of Object.entries(c.want)) if (v === undefined) t.equal((n as never)[k], undefined, `${c.name}: no ${k}`);
  }
});

const bad: Array<{ name: string; why: RegExp }> = [
  { name: '', why: /empty/ },
  { name: 'hello', why: /no type suffix/ },
  { name: 'hello.exe', why: /unknown unit type "\.exe"/ },
  { name: 'hello.Service', why: /unknown unit type/ },
  { name: '.service', why: /before the type suffix is empty/ },
  { name: '.hidden.service', why: /starts with '\.'/ },
  { name: '.web@1.service', why: /starts with '\.'/ },
  { name: '@.service', why: /nothing before '@'/ },
  { name: '@1.service', why: /nothing before '@'/ },
  { name: 'a@b@c.service', why: /more than one '@'/ },
  { name: '../etc.service', why: /'\/'/ },
  { name: 'a/b.service', why: /'\/'/ },
  { name: 'a..b.service', why: /'\.\.'/ },
  { name: 'has space.service', why: /contains ' '|U\+0020/ },
  { name: 'tab\t.service', why: /U\+0009/ },
  { name: 'semi;colon.service', why: /';'/ },
  { name: 'dollar$.service', why: /'\$'/ },
  { name: 'per%cent.service', why: /'%'/ },
  { name: 'émoji.service', why: /'é'|U\+00E9/ },
  { name: 'nul\0.service', why: /U\+0000/ },
  { name: `${'a'.repeat(248)}.service`, why: /longer than 255/ },
  { name: 'foo.service@', why: /unknown unit type/ },
  { name: 'foo.', why: /no type after it/ },
];

t.test('invalid names are refused with unit.bad-name saying what is wrong', async (t) => {
  for (const c of bad) {
    try {
      parseUnitName(c.name);
      t.fail(`${JSON.stringify(c.name)} accepted`);
    } catch (e) {
      t.type(e, ValidationError);
      t.equal((e as ValidationError).code, 'unit.bad-name', JSON.stringify(c.name));
      t.match((e as Error).message, c.why, JSON.stringify(c.name));
    }
    t.equal(isValidUnitName(c.name), false, `isValidUnitName(${JSON.stringify(c.name)})`);
  }
});

t.test('template helpers', async (t) => {
  t.equal(isTemplate('web@.service'), true);
  t.equal(isTemplate('web@1.service'), false);
  t.equal(isTemplate('web.service'), false);
  t.equal(isTemplate('bad name'), false, 'never throws');
  t.equal(templateOf('web@1.service'), 'web@.service');
  t.equal(templateOf('web.service'), undefined);
  t.equal(templateOf('web@.service'), undefined, 'a template is not an instance');
  t.throws(() => templateOf('nope'), { code: 'unit.bad-name' });
  t.equal(instanceName('web@.service', '3'), 'web@3.service');
  t.equal(instanceName('lb@.socket', 'eu-1.a'), 'lb@eu-1.a.socket');
  t.throws(() => instanceName('web.service', '3'), { code: 'unit.bad-name', message: /not a template/ });
  t.throws(() => instanceName('web@.service', ''), { code: 'unit.bad-name', message: /empty/ });
  t.throws(() => instanceName('web@.service', 'a@b'), { code: 'unit.bad-name', message: /'@'/ });
  t.throws(() => instanceName('web@.service', '../x'), { code: 'unit.bad-name' });
  t.throws(() => instanceName('web@.service', 'x'.repeat(260)), { code: 'unit.bad-name', message: /255/ });
  t.same(parseUnitName(instanceName('web@.service', '7')), {
    name: 'web@7.service', prefix: 'web', type: 'service', instance: '7', isTemplate: false, template: 'web@.service',
  });
});

t.test('a character outside the allowed set is found wherever it is (generated names, SEED replays)', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  const rnd = seededRandom(seed);
  const good = 'abcXYZ019:_.\\-@';
  const badChars = [' ', '\t', '\n', '$', '%', '*', '+', ',', ';', '=', '[', '~', 'é', '✓', '\u0000', '\u{1F600}'];
  let mismatches = 0;
  for (let i = 0; i < 2000; i++) {
    const len = 1 + Math.floor(rnd() * 20);
    let name = '';
    for (let j = 0; j < len; j++) name += rnd() < 0.08 ? badChars[Math.floor(rnd() * badChars.length)] : good[Math.floor(rnd() * good.length)];
    name += '.service';
    // the reference: systemd's rule, character by character
    const firstBad = [...name].find((ch) => ch !== '@' && !/^[A-Za-z0-9:_.\\-]$/.test(ch));
    let err = '';
    try { parseUnitName(name); } catch (e) { err = (e as Error).message; }
    const saysChar = /: contains (?!'\.\.'|more than one)/.test(err);
    if (name.includes('..')) continue; // refused before the characters are looked at
    if ((firstBad !== undefined) !== saysChar) {
      mismatches++;
      t.fail(`SEED=${seed}: ${JSON.stringify(name)}: reference ${JSON.stringify(firstBad)}, got ${JSON.stringify(err)}`);
    }
  }
  t.equal(mismatches, 0, `SEED=${seed}: every generated name judged as systemd's rule says`);
});
