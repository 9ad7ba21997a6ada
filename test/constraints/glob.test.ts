import t from 'tap';
import { globMatch, isGlob, literalPrefix } from '../../src/constraints/glob';

const cases: [string, string, boolean][] = [
  ['web@*.service', 'web@1.service', true],
  ['web@*.service', 'web@.service', true],
  ['web@*.service', 'api@1.service', false],
  ['web@?.service', 'web@12.service', false],
  ['web@[12].service', 'web@2.service', true],
  ['web@[!12].service', 'web@2.service', false],
  ['web@[!12].service', 'web@3.service', true],
  ['a.service', 'a.service', true],
  ['a.service', 'aXservice', false], // a dot is literal, not a RegExp wildcard
  ['*', 'anything.service', true],
  ['db-[a-c].service', 'db-b.service', true],
];
for (const [p, name, want] of cases) {
  t.test(`${p} ${want ? 'matches' : 'does not match'} ${name}`, async (t) => t.equal(globMatch(p, name), want));
}

t.test('isGlob and literalPrefix', async (t) => {
  t.equal(isGlob('a.service'), false);
  t.equal(isGlob('a*.service'), true);
  t.equal(literalPrefix('web@*.service'), 'web@');
  t.equal(literalPrefix('plain.service'), 'plain.service');
});
