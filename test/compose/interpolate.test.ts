/** Compose interpolation and .env syntax (src/compose/interpolate.ts), per the Compose specification. */
import t from 'tap';
import { DotEnvError, InterpolationError, interpolate, parseDotEnv } from '../../src/compose/interpolate';

const env = { SET: 'v', EMPTY: '', NESTED: 'n' };

t.test('interpolation: every operator, set, empty and unset', async (t) => {
  const cases: Array<[string, string, string[]?]> = [
    ['$SET', 'v'], ['${SET}', 'v'], ['a${SET}b', 'avb'], ['$SET-x', 'v-x'],
    ['${UNSET}', '', ['UNSET']], ['$UNSET', '', ['UNSET']],
    ['${SET:-d}', 'v'], ['${EMPTY:-d}', 'd'], ['${UNSET:-d}', 'd'],
    ['${SET-d}', 'v'], ['${EMPTY-d}', ''], ['${UNSET-d}', 'd'],
    ['${SET:+alt}', 'alt'], ['${EMPTY:+alt}', ''], ['${UNSET:+alt}', ''],
    ['${SET+alt}', 'alt'], ['${EMPTY+alt}', 'alt'], ['${UNSET+alt}', ''],
    ['${SET:?boom}', 'v'], ['${EMPTY?boom}', ''],
    ['${UNSET:-${NESTED}}', 'n'], ['${UNSET:-${ALSO:-deep}}', 'deep'],
    ['$$SET', '$SET'], ['$${SET}', '${SET}'], ['cost: 5$', 'cost: 5$'], ['a $ b', 'a $ b'],
  ];
  for (const [input, want, unset] of cases) {
    const r = interpolate(input, env);
    t.equal(r.value, want, input);
    t.same(r.unset, unset ?? [], `${input}: unset reported`);
  }
});

t.test('interpolation errors: required variables and bad syntax', async (t) => {
  t.throws(() => interpolate('${UNSET:?set it}', env), new InterpolationError('required variable UNSET is unset: set it'));
  t.throws(() => interpolate('${EMPTY:?}', env), /required variable EMPTY is empty/);
  t.throws(() => interpolate('${UNSET?}', env), /required variable UNSET is unset/);
  t.throws(() => interpolate('${SET', env), /unclosed/);
  t.throws(() => interpolate('${1X}', env), /not a variable reference/);
  t.throws(() => interpolate('${SET/a/b}', env), /unknown operator/);
});

t.test('.env files as Compose reads them', async (t) => {
  const text = [
    '# comment', '', 'A=1', 'export B=two', 'C = spaced ', 'D="double # not a comment\\nnext"', "E='single $A \\n'", 'F=x # a comment',
    'G=${A}-${MISSING:-dflt}', 'H="${B}"', "I='${B}'", 'FROM_SHELL', 'NOT_IN_SHELL', 'J="multi', 'line"', 'K=',
  ].join('\n');
  const got = parseDotEnv(text, { FROM_SHELL: 'sh' });
  t.same(got, {
    A: '1', B: 'two', C: 'spaced', D: 'double # not a comment\nnext', E: 'single $A \\n', F: 'x', G: '1-dflt', H: 'two', I: '${B}',
    FROM_SHELL: 'sh', J: 'multi\nline', K: '',
  });
  t.throws(() => parseDotEnv('A=1\n=bad\n'), new DotEnvError('"=bad" is not KEY=VALUE', 2));
  t.throws(() => parseDotEnv('A="open\nB=2\n'), /unterminated " quote/);
  try {
    parseDotEnv('A=1\nB=${NOPE:?needed}\n');
    t.fail('accepted');
  } catch (e) {
    t.equal((e as DotEnvError).line, 2);
  }
});
