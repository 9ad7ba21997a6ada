/** Resolves Conflicts= globs to unit names once per plan, in both directions. Pure. */
import { GlobError, compiledGlob, isGlob, literalPrefix, matchTokens } from '../units/unit-glob';

/** A unit's name and its Conflicts= patterns. */
export interface ConflictSource {
  name: string;
  patterns: readonly string[];
}

/**
 * name → names it conflicts with. Symmetric (A's pattern matching B puts each in the other's set) and
 * never containing the unit itself. Exact names are a hash lookup; globs only test names sharing their
 * literal prefix (binary search over sorted names), and each distinct pattern is resolved once.
 */
export function resolveConflicts(units: readonly ConflictSource[]): Map<string, Set<string>> {
  const names = units.map((u) => u.name).sort();
  const known = new Set(names);
  const byPattern = new Map<string, readonly string[]>();
  const out = new Map<string, Set<string>>();
  const add = (a: string, b: string) => {
    let s = out.get(a);
    if (!s) out.set(a, (s = new Set()));
    s.add(b);
  };
  for (const u of units) {
    for (const p of u.patterns) {
      let hits = byPattern.get(p);
      if (!hits) byPattern.set(p, (hits = matchAll(p, names, known)));
      for (const other of hits) {
        if (other === u.name) continue;
        add(u.name, other);
        add(other, u.name);
      }
    }
  }
  return out;
}

/**
 * The names in `sorted` (ascending) that `pattern` matches: an exact name by lookup in `known`, a glob by
 * scanning only the names sharing its literal prefix. A bad glob (refused at submit) matches nothing.
 */
export function matchAll(pattern: string, sorted: readonly string[], known: ReadonlySet<string>): readonly string[] {
  if (!isGlob(pattern)) return known.has(pattern) ? [pattern] : [];
  let tokens;
  try {
    tokens = compiledGlob(pattern);
  } catch (e) {
    if (e instanceof GlobError) return []; // refused at submit; a stored one matches nothing
    throw e;
  }
  const prefix = literalPrefix(pattern);
  const hits: string[] = [];
  for (let i = lowerBound(sorted, prefix); i < sorted.length && sorted[i].startsWith(prefix); i++) {
    if (matchTokens(tokens, sorted[i])) hits.push(sorted[i]);
  }
  return hits;
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
