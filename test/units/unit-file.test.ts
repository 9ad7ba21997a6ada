import t from 'tap';
import { ValidationError } from '../../src/errors';
import { parseUnitFile, serializeUnitFile, UNIT_LIMITS } from '../../src/units';
import type { UnitFile } from '../../src/units';

/** The model as [section, [key, value, line][]] tuples: compact to write in tables. */
function shape(f: UnitFile): Array<[string, Array<[string, string, number]>]> {
  return f.sections.map((s) => [s.name, s.entries.map((e) => [e.key, e.value, e.line] as [string, string, number])]);
}

/** The model without line numbers, for round-trip comparisons. */
export function noLines(f: UnitFile): Array<[string, Array<[string, string]>]> {
  return f.sections.map((s) => [s.name, s.entries.map((e) => [e.key, e.value] as [string, string])]);
}

const good: Array<{ name: string; text: string; want: ReturnType<typeof shape> }> = [
  { name: 'empty file', text: '', want: [] },
  { name: 'only comments and blanks', text: '# a\n; b\n\n   # c\n', want: [] },
  { name: 'one section, one key', text: '[Unit]\nDescription=hi\n', want: [['Unit', [['Description', 'hi', 2]]]] },
  { name: 'no trailing newline', text: '[Unit]\nA=1', want: [['Unit', [['A', '1', 2]]]] },
  { name: 'whitespace around key and value trimmed, inner kept', text: '[S]\n  Key  =   a  b  \t\n', want: [['S', [['Key', 'a  b', 2]]]] },
  { name: 'value may contain =', text: '[S]\nEnvironment=A=1 B=2\n', want: [['S', [['Environment', 'A=1 B=2', 2]]]] },
  { name: 'empty assignment kept', text: '[S]\nExecStart=\nExecStart=/bin/true\n', want: [['S', [['ExecStart', '', 2], ['ExecStart', '/bin/true', 3]]]] },
  {
    name: 'repeated keys kept in order across sections',
    text: '[A]\nK=1\n[B]\nK=x\n[A]\nK=2\n',
    want: [['A', [['K', '1', 2]]], ['B', [['K', 'x', 4]]], ['A', [['K', '2', 6]]]],
  },
  { name: 'comment lines with leading whitespace', text: '[S]\n  # x=1\n\t; y=2\nz=3\n', want: [['S', [['z', '3', 4]]]] },
  { name: 'hash inside a value is not a comment', text: '[S]\nA=b # c\n', want: [['S', [['A', 'b # c', 2]]]] },
  { name: 'continuation joins with a space', text: '[S]\nA=one\\\ntwo\n', want: [['S', [['A', 'one two', 2]]]] },
  { name: 'continuation keeps the next line\'s indentation', text: '[S]\nA=one \\\n   two\nB=3\n', want: [['S', [['A', 'one     two', 2], ['B', '3', 4]]]] },
  { name: 'comment lines inside a continuation are skipped', text: '[S]\nA=1\\\n# no\n; no\n2\n', want: [['S', [['A', '1 2', 2]]]] },
  { name: 'escaped backslash at end is not a continuation', text: '[S]\nA=x\\\\\nB=y\n', want: [['S', [['A', 'x\\\\', 2], ['B', 'y', 3]]]] },
  { name: 'continuation at end of file', text: '[S]\nA=x\\', want: [['S', [['A', 'x', 2]]]] },
  { name: 'continuation ended by an empty line', text: '[S]\nA=x\\\n\nB=1\n', want: [['S', [['A', 'x', 2], ['B', '1', 4]]]] },
  { name: 'a comment ending in backslash does not continue', text: '[S]\n# c \\\nA=1\n', want: [['S', [['A', '1', 3]]]] },
  { name: 'CRLF and lone CR line ends', text: '[S]\r\nA=1\r\nB=2\rC=3\n', want: [['S', [['A', '1', 2], ['B', '2', 3], ['C', '3', 4]]]] },
  { name: 'leading BOM stripped', text: '\uFEFF[S]\nA=1\n', want: [['S', [['A', '1', 2]]]] },
  { name: 'unicode kept', text: '[S]\nDescription=héllo ✓ 日本\n', want: [['S', [['Description', 'héllo ✓ 日本', 2]]]] },
  { name: 'empty section kept', text: '[A]\n[B]\nK=v\n', want: [['A', []], ['B', [['K', 'v', 3]]]] },
  { name: 'section header with whitespace around it', text: '  [S]  \nA=1\n', want: [['S', [['A', '1', 2]]]] },
  { name: 'unicode whitespace is not trimmed', text: '[S]\nA=\u00a0x\u00a0\n', want: [['S', [['A', '\u00a0x\u00a0', 2]]]] },
];

t.test('parses systemd syntax', async (t) => {
  for (const c of good) {
    t.same(shape(parseUnitFile(c.text)), c.want, c.name);
    t.same(shape(parseUnitFile(Buffer.from(c.text, 'utf8'))), c.want, `${c.name} (as bytes)`);
  }
});

const bad: Array<{ name: string; text: string | Uint8Array; code: string; line?: number; section?: string }> = [
  { name: 'entry before any section', text: '# hi\nA=1\n[S]\n', code: 'unit.no-section', line: 2 },
  { name: 'missing equals', text: '[S]\nA=1\nnonsense\n', code: 'unit.missing-equals', line: 3, section: 'S' },
  { name: 'empty key', text: '[S]\n =1\n', code: 'unit.empty-key', line: 2, section: 'S' },
  { name: 'unterminated section header', text: '[S]\nA=1\n[Oops\n', code: 'unit.bad-section', line: 3 },
  { name: 'empty section name', text: '[]\n', code: 'unit.bad-section', line: 1 },
  { name: 'quote in section name', text: '[S"x]\n', code: 'unit.bad-section', line: 1 },
  { name: 'NUL byte', text: '[S]\nA=1\0\n', code: 'unit.binary', line: 2 },
  { name: 'control character', text: '[S]\n\nA=\u0007\n', code: 'unit.binary', line: 3 },
  { name: 'C1 control character', text: '[S]\nA=\u0085\n', code: 'unit.binary', line: 2 },
  { name: 'DEL', text: '[S]\nA=\u007f\n', code: 'unit.binary', line: 2 },
  { name: 'unpaired surrogate', text: '[S]\nA=\ud800\n', code: 'unit.binary', line: 2 },
  { name: 'invalid UTF-8 bytes', text: Buffer.from([0x5b, 0x53, 0x5d, 0x0a, 0x41, 0x3d, 0xff, 0xfe]), code: 'unit.binary' },
  { name: 'overlong UTF-8', text: Buffer.from([0x5b, 0x53, 0x5d, 0x0a, 0xc0, 0xaf]), code: 'unit.binary' },
  { name: 'file too large (string)', text: `[S]\n${'A=1\n'.repeat(UNIT_LIMITS.maxBytes / 4)}`, code: 'unit.too-large' },
  { name: 'file too large (bytes)', text: Buffer.alloc(UNIT_LIMITS.maxBytes + 1, 0x41), code: 'unit.too-large' },
  { name: 'multi-byte text too large', text: `[S]\nA=${'é'.repeat(UNIT_LIMITS.maxBytes / 2)}`, code: 'unit.too-large' },
  { name: 'line too long', text: `[S]\nA=${'x'.repeat(UNIT_LIMITS.maxLineBytes)}\n`, code: 'unit.line-too-long', line: 2 },
  {
    name: 'continued line too long',
    text: `[S]\nA=\\\n${`${'x'.repeat(1000)}\\\n`.repeat(70)}end\n`,
    code: 'unit.line-too-long', line: 2,
  },
  { name: 'too many sections', text: '[S]\n'.repeat(UNIT_LIMITS.maxSections + 1), code: 'unit.too-many-sections', line: UNIT_LIMITS.maxSections + 1 },
  { name: 'too many entries', text: `[S]\n${'A=1\n'.repeat(UNIT_LIMITS.maxEntries + 1)}`, code: 'unit.too-many-entries', line: UNIT_LIMITS.maxEntries + 2 },
];

t.test('refuses bad input with a code and a location', async (t) => {
  for (const c of bad) {
    try {
      parseUnitFile(c.text, { file: 'x.service' });
      t.fail(`${c.name}: no error`);
    } catch (e) {
      t.type(e, ValidationError, `${c.name}: ValidationError`);
      const v = e as ValidationError;
      t.equal(v.code, c.code, `${c.name}: code`);
      t.equal(v.location?.file, 'x.service', `${c.name}: file`);
      if (c.line !== undefined) {
        t.equal(v.location?.line, c.line, `${c.name}: line`);
        t.match(v.message, `x.service:${c.line}:`, `${c.name}: message names file:line`);
      }
      if (c.section !== undefined) t.equal(v.location?.section, c.section, `${c.name}: section`);
      t.ok(v.message.length < 400, `${c.name}: message stays short`);
    }
  }
});

t.test('a file exactly at the size limit is accepted', async (t) => {
  const head = '[S]\nA=';
  const fill = UNIT_LIMITS.maxBytes - head.length - 1001;
  // Comment lines of 1000 bytes (999 + newline) and one shorter line fill the file exactly.
  const text = head + 'x'.repeat(1000) + '\n' + `${'#'.repeat(999)}\n`.repeat(Math.floor(fill / 1000)) + `${'#'.repeat((fill % 1000) - 1)}\n`;
  t.equal(Buffer.byteLength(text), UNIT_LIMITS.maxBytes);
  t.equal(parseUnitFile(text).sections[0].entries[0].value.length, 1000);
});

const roundTrips: Array<{ name: string; text: string }> = [
  ...good,
  { name: 'value ending in a lone backslash (via continuation + empty line)', text: '[S]\nA=a\\ \\\n\nB=2\n' },
  { name: 'value ending in three backslashes', text: '[S]\nA=a\\\\\\ \\\n\n' },
  { name: 'section name with brackets and spaces', text: '[ a]b ]\nK=v\n' },
  { name: 'key with inner space and backslash', text: '[S]\nMy Key\\=v\n' },
  { name: 'value with leading hash and semicolon', text: '[S]\nA=#x\nB=;y\n' },
];

t.test('round-trip: parse → serialize → parse gives the same model', async (t) => {
  for (const c of roundTrips) {
    const a = parseUnitFile(c.text);
    const text = serializeUnitFile(a);
    const b = parseUnitFile(text);
    t.same(noLines(b), noLines(a), c.name);
    t.equal(serializeUnitFile(b), text, `${c.name}: serialization is a fixed point`);
  }
});

t.test('serialization is canonical', async (t) => {
  const f = parseUnitFile('# c\n[Unit]\n  Description = x \\\n  y\n\n\n[Service]\nExecStart=/bin/true\n');
  t.equal(serializeUnitFile(f), '[Unit]\nDescription=x    y\n\n[Service]\nExecStart=/bin/true\n');
  t.equal(serializeUnitFile({ sections: [] }), '');
  t.same(shape(parseUnitFile('[S]\nA=a\\ \\\n\n')), [['S', [['A', 'a\\', 2]]]], 'odd trailing backslash value exists');
  t.equal(serializeUnitFile(parseUnitFile('[S]\nA=a\\ \\\n\n')), '[S]\nA=a\\ \\\n\n');
});

t.test('line numbers: an entry reports the line it starts on', async (t) => {
  const f = parseUnitFile('\n\n[S]\n# c\nA=1 \\\n 2 \\\n 3\nB=4\n');
  t.same(shape(f), [['S', [['A', '1   2   3', 5], ['B', '4', 8]]]]);
  t.equal(f.sections[0].line, 3);
});

t.test('pathological inputs finish fast', async (t) => {
  const cases: Array<[string, string]> = [
    ['backslash chain', `[S]\nA=${'\\\n'.repeat(60_000)}`],
    ['many blank lines', '\n'.repeat(UNIT_LIMITS.maxBytes - 1)],
    ['many equals', `[S]\nA${'='.repeat(60_000)}\n`],
    ['brackets', `[S]\n${'['.repeat(60_000)}`],
    ['many CRs', `[S]\n${'\r'.repeat(200_000)}`],
    ['deep continuation with comments', `[S]\nA=1\\\n${'#\\\n'.repeat(60_000)}2\n`],
  ];
  for (const [name, text] of cases) {
    const t0 = process.hrtime.bigint();
    try {
      parseUnitFile(text);
    } catch (e) {
      t.type(e, ValidationError, `${name}: a ValidationError if anything`);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    t.ok(ms < 500, `${name}: ${ms.toFixed(1)} ms`);
  }
});
