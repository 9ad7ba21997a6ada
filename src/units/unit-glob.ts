/**
 * Glob patterns over unit names: the one implementation engine, agent and `unitsConflict` use. Semantics
 * are Go's `path.Match`, which fleet used for `Conflicts=` (fleet agent/state.go globMatches):
 *   `*` any run of characters (not `/`), `?` one character (not `/`), `\c` the literal c,
 *   `[abc]`, `[a-z]` a class, `[^a-z]` its negation. Only `^` negates: in Go `[!a-z]` is `!` or a-z.
 * Go's bad patterns are errors here too: an unterminated `[`, an empty class (`[]`, `[^]`), a range end
 * that is `-` or `]` unescaped (`[-a]`, `[a-]`), a trailing `\`. Stricter than Go (shoal refuses what can
 * never match what the user meant): `[!...]` (`!` cannot occur in a unit name, so it would silently act
 * as `[...]`), a reversed range, and `\xNN` (Go reads `\x2d` as the letter x then `2d`, so it never matches
 * the systemd escape `\x2d` in a unit name; `\\x2d` does).
 * Matching is iterative with a single backtrack point: O(len(pattern)·len(name)), no RegExp.
 */

/** A bad glob pattern; callers turn it into a located ValidationError. */
export class GlobError extends Error {}

/** One compiled glob element. */
export type Token =
  | { kind: 'lit'; ch: string }
  | { kind: 'one' }
  | { kind: 'star' }
  | { kind: 'class'; negate: boolean; ranges: Array<[string, string]> };

/** Compile `pattern` into tokens; throws GlobError for a bad pattern (see the file comment). */
export function compileGlob(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const out: Token[] = [];
  const bad = (why: string) => new GlobError(`pattern ${JSON.stringify(pattern)} ${why}`);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '*') {
      if (out[out.length - 1]?.kind !== 'star') out.push({ kind: 'star' }); // `**` = `*`
    } else if (ch === '?') out.push({ kind: 'one' });
    else if (ch === '\\') {
      if (i + 1 >= chars.length) throw bad(`ends with '\\'`);
      if (chars[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(chars.slice(i + 2, i + 4).join(''))) {
        const esc = chars.slice(i, i + 4).join('');
        throw bad(`has ${esc}: in a glob '\\' escapes the next character (Go's path.Match, as fleet), so this matches the letters x${esc.slice(2)}, never the systemd escape ${esc} in a unit name; write \\${esc} to match it`);
      }
      out.push({ kind: 'lit', ch: chars[++i] });
    } else if (ch === '[') i = compileClass(chars, i, out, bad);
    else out.push({ kind: 'lit', ch });
  }
  return out;
}

/** Parse a `[...]` class starting at chars[start] (Go's rules); returns the index of its closing `]`. */
function compileClass(chars: string[], start: number, out: Token[], bad: (why: string) => GlobError): number {
  let i = start + 1;
  if (chars[i] === '!') throw bad(`has '[!': only '^' negates a class in fleet's globs (Go's path.Match), and '!' never occurs in a unit name; write '[^'`);
  const negate = chars[i] === '^';
  if (negate) i++;
  const ranges: Array<[string, string]> = [];
  // Go's getEsc: a range end may not be an unescaped '-' or ']'; '\' escapes the next character.
  const readChar = (): string => {
    if (i >= chars.length) throw bad(`has an unterminated '['`);
    if (chars[i] === '-' || chars[i] === ']') throw bad(`has a class with an unescaped '${chars[i]}' (escape it with '\\')`);
    if (chars[i] === '\\') i++;
    if (i >= chars.length) throw bad(`has an unterminated '['`);
    return chars[i++];
  };
  while (true) {
    if (i >= chars.length) throw bad(`has an unterminated '['`);
    if (chars[i] === ']') {
      if (ranges.length > 0) break;
      throw bad(`has an empty class (to match ']' escape it: '[\\]]')`);
    }
    const lo = readChar();
    let hi = lo;
    if (chars[i] === '-') {
      i++;
      hi = readChar();
      if (hi < lo) throw bad(`has a reversed range ${lo}-${hi}, which matches nothing`);
    }
    ranges.push([lo, hi]);
  }
  out.push({ kind: 'class', negate, ranges });
  return i;
}

function matchOne(t: Token, ch: string): boolean {
  if (t.kind === 'lit') return t.ch === ch;
  if (t.kind === 'one') return ch !== '/';
  if (t.kind === 'class') return t.ranges.some(([lo, hi]) => ch >= lo && ch <= hi) !== t.negate;
  return false;
}

/** True when the compiled pattern matches the whole of `name`. */
export function matchTokens(tokens: readonly Token[], name: string): boolean {
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
    } else if (starP >= 0 && s[starI] !== '/') {
      // Let the last star swallow one more character (never a '/') and retry after it.
      p = starP + 1;
      i = ++starI;
    } else return false;
  }
  while (tokens[p]?.kind === 'star') p++;
  return p === tokens.length;
}

const cache = new Map<string, Token[]>();
const CACHE_MAX = 10_000;

/** The pattern compiled once (cached: patterns repeat across units). Throws GlobError for a bad pattern. */
export function compiledGlob(pattern: string): Token[] {
  let tokens = cache.get(pattern);
  if (!tokens) {
    tokens = compileGlob(pattern);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(pattern, tokens);
  }
  return tokens;
}

/** True when glob `pattern` matches unit name `name`. Throws GlobError for a bad pattern. */
export function matchUnitGlob(pattern: string, name: string): boolean {
  return isGlob(pattern) ? matchTokens(compiledGlob(pattern), name) : pattern === name;
}

/** True when `pattern` has glob metacharacters (otherwise it can only match itself). */
export function isGlob(pattern: string): boolean {
  return /[*?[\\]/.test(pattern);
}

/** The literal text every match starts with (escapes resolved), for prefix-indexed lookups. */
export function literalPrefix(pattern: string): string {
  let out = '';
  for (const t of compiledGlob(pattern)) {
    if (t.kind !== 'lit') break;
    out += t.ch;
  }
  return out;
}
