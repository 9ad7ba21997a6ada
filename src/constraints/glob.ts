/** Glob patterns over unit names (fleet's path.Match subset: `*`, `?`, `[...]`, `[!...]`). Pure. */

const cache = new Map<string, RegExp>();

/** True when `pattern` contains a glob metacharacter; otherwise it names one unit exactly. */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** The literal text before the first metacharacter: every match starts with it. */
export function literalPrefix(pattern: string): string {
  const i = pattern.search(/[*?[]/);
  return i < 0 ? pattern : pattern.slice(0, i);
}

/** The pattern compiled once to an anchored RegExp (cached: patterns repeat across units). */
export function globRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    re = new RegExp(`^${translate(pattern)}$`);
    cache.set(pattern, re);
  }
  return re;
}

/** True when `name` matches `pattern`; exact names skip the RegExp. */
export function globMatch(pattern: string, name: string): boolean {
  return isGlob(pattern) ? globRegExp(pattern).test(name) : pattern === name;
}

function translate(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end < 0) { out += '\\['; continue; } // unterminated class: a literal `[`
      let body = p.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return out;
}
