/** suggest.ts: edit distance and "did you mean" for misspelt names; unknownKey's hints in shoal's own sections. */
import t from 'tap';
import { editDistance, maxEdits, suggest } from '../../src/units/suggest';
import { parseUnit } from '../../src/units/unit';
import { ValidationError } from '../../src/errors';

const FLEET = ['MachineID', 'MachineOf', 'MachineMetadata', 'Conflicts', 'Global', 'Replaces'];

t.test('editDistance: insertions, deletions, substitutions, adjacent swaps count one each', async (t) => {
  const cases: [string, string, number][] = [
    ['', '', 0], ['a', '', 1], ['', 'abc', 3], ['abc', 'abc', 0], ['ExecStrat', 'ExecStart', 1], ['ExecStar', 'ExecStart', 1],
    ['ExecStartt', 'ExecStart', 1], ['ExecXtart', 'ExecStart', 1], ['ca', 'abc', 3], ['MachineMetdata', 'MachineMetadata', 1],
    ['Servce', 'Service', 1], ['kitten', 'sitting', 3], ['a', 'A', 1], ['Unit', 'Tinu', 3], ['abcdef', 'badcfe', 3],
  ];
  for (const [a, b, d] of cases) {
    t.equal(editDistance(a, b), d, `${a} → ${b}`);
    t.equal(editDistance(b, a), d, `${b} → ${a} (symmetric)`);
  }
  t.equal(editDistance('aaaaaaaaaa', 'bbbbbbbbbb', 2), 3, 'bounded: stops at max + 1');
  t.equal(editDistance('a', 'abcdef', 1), 2, 'bounded by the length difference alone');
  t.equal(editDistance('ExecStrat', 'ExecStart', 1), 1, 'within the bound: the exact distance');
});

t.test('maxEdits grows with the length of the known name', async (t) => {
  t.same([1, 4, 5, 11, 12, 30].map(maxEdits), [1, 1, 2, 2, 3, 3]);
});

t.test('suggest: the nearest known name within its bound, case ignored', async (t) => {
  const cases: [string, readonly string[], string | undefined, boolean?][] = [
    ['MachineMetdata', FLEET, 'MachineMetadata'], ['MachineMetaData', FLEET, 'MachineMetadata', true], ['machineid', FLEET, 'MachineID', true],
    ['MachinOf', FLEET, 'MachineOf'], ['MachineOff', FLEET, 'MachineOf'], ['Conflict', FLEET, 'Conflicts'], ['Globl', FLEET, 'Global'],
    ['Replace', FLEET, 'Replaces'], ['Replacess', FLEET, 'Replaces'], ['Bogus', FLEET, undefined], ['Machine', FLEET, 'MachineID'], ['Mach', FLEET, undefined],
    ['X', FLEET, undefined], ['', FLEET, undefined], ['MachineID', FLEET, undefined], ['ExecStrat', ['ExecStart', 'ExecStop'], 'ExecStart'],
    ['ExecStp', ['ExecStart', 'ExecStop'], 'ExecStop'], ['Servce', ['Unit', 'Service', 'Install'], 'Service'],
    ['Instal', ['Unit', 'Service', 'Install'], 'Install'], ['unit', ['Unit', 'Service'], 'Unit', true], ['Uni', ['Unit'], 'Unit'],
    ['Un', ['Unit'], undefined], ['Units', ['Unit'], 'Unit'], ['Foo', ['Unit', 'Service'], undefined],
    // the nearest wins over the first; on a tie the first in the list
    ['ab', ['abcd', 'abc'], 'abc'], ['xbc', ['abc', 'xbd'], 'abc'],
  ];
  for (const [word, known, want, caseOnly] of cases) {
    const s = suggest(word, known);
    t.equal(s?.name, want, `${JSON.stringify(word)} → ${want ?? 'nothing'}`);
    if (want !== undefined) t.equal(s?.caseOnly, !!caseOnly, `${word}: case only ${!!caseOnly}`);
  }
});

t.test('an unknown key in shoal\'s sections is an error with a suggestion, at its line', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['[X-Fleet]\nMachineMetdata=role=web\n', 'MachineMetdata', /x\.service:4: \[X-Fleet\] MachineMetdata: unknown key "MachineMetdata" in \[X-Fleet\]; did you mean MachineMetadata\?$/],
    ['[X-Fleet]\nmachinemetadata=role=web\n', 'machinemetadata', /did you mean MachineMetadata\? \(keys are case-sensitive\)/],
    ['[X-Fleet]\nGlobl=true\n', 'Globl', /did you mean Global\?/],
    ['[X-Fleet]\nImage=busybox\n', 'Image', /Image= belongs in \[X-Container\]/],
    ['[X-Fleet]\nBogus=1\n', 'Bogus', /known keys: MachineID, MachineOf, MachineMetadata, Conflicts, Global, Replaces/],
    ['[X-Shoal]\nCPUU=1\n', 'CPUU', /unknown key "CPUU" in \[X-Shoal\]; did you mean CPU\?/],
    ['[X-Shoal]\nMemroy=1G\n', 'Memroy', /did you mean Memory\?/],
    ['[X-Container]\nImgae=busybox\n', 'Imgae', /unknown key "Imgae" in \[X-Container\]; did you mean Image\?/],
  ];
  for (const [fleet, key, msg] of cases) {
    const err = (() => { try { parseUnit('x.service', `[Service]\nExecStart=/bin/true\n${fleet}`, { file: 'x.service' }); } catch (e) { return e; } })();
    t.ok(err instanceof ValidationError, `${key}: refused`);
    t.equal((err as ValidationError).code, 'unit.unknown-key');
    t.equal((err as ValidationError).location?.key, key);
    t.equal((err as ValidationError).location?.line, 4);
    t.match((err as ValidationError).message, msg, key);
  }
});
