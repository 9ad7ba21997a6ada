/**
 * The one glob implementation (issue 10 item 4), Go path.Match semantics as fleet used them. The table's
 * verdicts are Go's (checked against path.Match's rules: `^` alone negates, `\c` is a literal c, bad
 * patterns are errors); `refused` rows are shoal-stricter refusals of patterns that can never match what
 * was meant. Every consumer (engine's conflict index, the agent's globMatch, unitsConflict) must agree.
 */
import t from 'tap';
import { GlobError, compileGlob, isGlob, literalPrefix, matchUnitGlob } from '../../src/units/unit-glob';
import { resolveConflicts } from '../../src/constraints/conflict-index';
import { globMatch as agentGlobMatch } from '../../src/agent/desired';
import { unitsConflict, emptyFleetOptions } from '../../src/units';

const match: [string, string, boolean][] = [
  ['web@*.service', 'web@1.service', true],
  ['web@*.service', 'web@.service', true],
  ['web@*.service', 'api@1.service', false],
  ['web@?.service', 'web@12.service', false],
  ['web@?.service', 'web@1.service', true],
  ['web@[12].service', 'web@2.service', true],
  ['web@[^12].service', 'web@2.service', false],
  ['web@[^12].service', 'web@3.service', true],
  ['db[0-9].service', 'db7.service', true],
  ['db[0-9].service', 'dbx.service', false],
  ['db[\\-].service', 'db-.service', true],
  ['db[a\\]].service', 'db].service', true],
  ['a.service', 'a.service', true],
  ['a.service', 'aXservice', false], // a dot is literal
  ['*', 'anything.service', true],
  ['a\\*b.service', 'a*b.service', true],
  ['a\\*b.service', 'axb.service', false],
  // `\x` is an escaped x (Go): `foo@a\\x2db` (escaped backslash) matches the systemd escape in the name.
  ['foo@a\\\\x2db.service', 'foo@a\\x2db.service', true],
  ['foo@a\\\\x2db.service', 'foo@ax2db.service', false],
  ['*a*a*a*a*a*b', 'a'.repeat(200), false],
  ['[a-c][x-z]*', 'by.service', true],
];

const refused: [string, RegExp][] = [
  ['web@[', /unterminated/],
  ['web@[]', /empty class/],
  ['web@[^].service', /empty class/],
  ['db[-a].service', /unescaped '-'/],
  ['db[a-].service', /unescaped/],
  ['db\\', /ends with/],
  ['web@[!12].service', /only '\^' negates/],
  ['foo@a\\x2db.service', /never the systemd escape \\x2d/],
  ['db[z-a].service', /reversed range/],
];

t.test('matches as Go path.Match does, in every consumer', async (t) => {
  for (const [p, name, want] of match) {
    t.equal(matchUnitGlob(p, name), want, `${p} ~ ${name}`);
    t.equal(agentGlobMatch(p, name), want, `agent: ${p} ~ ${name}`);
    const a = { name: 'z-probe.service', options: { ...emptyFleetOptions(), conflicts: [p] } };
    const b = { name, options: emptyFleetOptions() };
    t.equal(unitsConflict(a, b), want && name !== a.name, `unitsConflict: ${p} ~ ${name}`);
    const sets = resolveConflicts([{ name: 'z-probe.service', patterns: [p] }, { name, patterns: [] }]);
    t.equal(sets.get(name)?.has('z-probe.service') ?? false, want, `engine conflict index: ${p} ~ ${name}`);
  }
});

t.test('bad patterns are refused with what is wrong', async (t) => {
  for (const [p, re] of refused) t.throws(() => compileGlob(p), { constructor: GlobError, message: re }, p);
  t.equal(agentGlobMatch('web@[', 'web@['), false, 'the agent treats a stored bad pattern as matching nothing');
});

t.test('isGlob and literalPrefix', async (t) => {
  t.equal(isGlob('a.service'), false);
  t.equal(isGlob('a*.service'), true);
  t.equal(isGlob('a\\-b.service'), true);
  t.equal(literalPrefix('web@*.service'), 'web@');
  t.equal(literalPrefix('a\\*b*'), 'a*b');
  t.equal(literalPrefix('plain.service'), 'plain.service');
});
