/**
 * Glob patterns over unit names, as fleet's `Conflicts=` uses them (Go path.Match semantics):
 * `*` any run of characters, `?` one character, `[a-z]` / `[^a-z]` / `[!a-z]` a class, `\x` a
 * literal x. Matching is iterative with a single backtrack point: O(len(pattern)·len(name)), no regex.
 */

/** A bad glob pattern; callers turn it into a located ValidationError. */
export class GlobError extends Error {}

/** One compiled glob element. */
export type Token =
  | { kind: 'lit'; ch: string }
  | { kind: 'one' }
  | { kind: 'star' }
  | { kind: 'class'; negate: boolean; ranges: Array<[string, string]> };

/** Compile `pattern` into tokens; throws GlobError for an unterminated or empty class or a trailing `\`. */
export function compileGlob(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const out: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '*') {
      if (out[out.length - 1]?.kind !== 'star') out.push({ kind: 'star' }); // `**` = `*`
    } else if (ch === '?') out.push({ kind: 'one' });
    else if (ch === '\\') {
      if (i + 1 >= chars.length) throw new GlobError(`pattern ${JSON.stringify(pattern)} ends with '\\'`);
      out.push({ kind: 'lit', ch: chars[++i] });
    } else if (ch === '[') i = compileClass(chars, i, out, pattern);
    else out.push({ kind: 'lit', ch });
  }
  return out;
}

/** Parse a `[...]` class starting at chars[start]; returns the index of its closing `]`. */
function compileClass(chars: string[], start: number, out: Token[], pattern: string): number {
  let i = start + 1;
  const negate = chars[i] === '^' || chars[i] === '!';
  if (negate) i++;
  const ranges: Array<[string, string]> = [];
  const unterminated = () => new GlobError(`pattern ${JSON.stringify(pattern)} has an unterminated '['`);
  const readChar = (): string => {
    if (i >= chars.length) throw unterminated();
    if (chars[i] === '\\') i++;
    if (i >= chars.length) throw unterminated();
    return chars[i++];
  };
  while (true) {
    if (i >= chars.length) throw unterminated();
    if (chars[i] === ']') break;
    const lo = readChar();
    let hi = lo;
    if (chars[i] === '-' && chars[i + 1] !== ']' && i + 1 < chars.length) {
      i++;
      hi = readChar();
      if (hi < lo) throw new GlobError(`pattern ${JSON.stringify(pattern)} has a reversed range ${lo}-${hi}`);
    }
    ranges.push([lo, hi]);
  }
  if (ranges.length === 0) throw new GlobError(`pattern ${JSON.stringify(pattern)} has an empty '[]' class`);
  out.push({ kind: 'class', negate, ranges });
  return i;
}

function matchOne(t: Token, ch: string): boolean {
  if (t.kind === 'lit') return t.ch === ch;
  if (t.kind === 'one') return true;
  if (t.kind === 'class') return t.ranges.some(([lo, hi]) => ch >= lo && ch <= hi) !== t.negate;
  return false;
}

/** True when the compiled pattern matches the whole of `name`. */
export function matchTokens(tokens: Token[], name: string): boolean {
  const s = Array.from(name);
  let p = 0;
  let i = 0;
  let starP = -1;
  let starI = 0;
  while (i < s.length) {
    const t = tokens[p];
    if (t && t.kind === 'star') {
      starP = p++;
      starI = i;
    } else if (t && matchOne(t, s[i])) {
      p++;
      i++;
    } else if (starP >= 0) {
      // Let the last star swallow one more character and retry after it.
      p = starP + 1;
      i = ++starI;
    } else return false;
  }
  while (tokens[p]?.kind === 'star') p++;
  return p === tokens.length;
}

const cache = new Map<string, Token[]>();
const CACHE_MAX = 10_000;

/** True when glob `pattern` matches unit name `name`. Throws GlobError for a bad pattern. */
export function matchUnitGlob(pattern: string, name: string): boolean {
  // The scheduler asks this in its hot loop with few distinct patterns: compile each once.
  let tokens = cache.get(pattern);
  if (!tokens) {
    tokens = compileGlob(pattern);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(pattern, tokens);
  }
  return matchTokens(tokens, name);
}

/** True when `pattern` has glob metacharacters (otherwise it can only match itself). */
export function isGlob(pattern: string): boolean {
  return /[*?[\\]/.test(pattern);
}
