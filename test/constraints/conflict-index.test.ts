import t from 'tap';
import { resolveConflicts } from '../../src/constraints/conflict-index';

const sets = (m: Map<string, Set<string>>) => Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()]).sort());

t.test('resolves globs in both directions and never pairs a unit with itself', async (t) => {
  const r = resolveConflicts([
    { name: 'web@1.service', patterns: ['web@*.service'] },
    { name: 'web@2.service', patterns: ['web@*.service'] },
    { name: 'lb.service', patterns: ['web@2.*'] },
    { name: 'db.service', patterns: ['nothing-like-this.service'] },
    { name: 'cache.service', patterns: ['db.service'] },
  ]);
  t.same(sets(r), {
    'cache.service': ['db.service'],
    'db.service': ['cache.service'],
    'lb.service': ['web@2.service'],
    'web@1.service': ['web@2.service'],
    'web@2.service': ['lb.service', 'web@1.service'],
  });
});

t.test('a glob matches only names that exist, using the literal prefix range', async (t) => {
  const r = resolveConflicts([
    { name: 'a.service', patterns: ['b*'] },
    { name: 'b1.service', patterns: [] },
    { name: 'ab.service', patterns: [] },
    { name: 'c.service', patterns: [] },
  ]);
  t.same(sets(r), { 'a.service': ['b1.service'], 'b1.service': ['a.service'] });
});
