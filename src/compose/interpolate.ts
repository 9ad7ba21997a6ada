/**
 * Compose variable interpolation and `.env` files, as the Compose specification defines them
 * (compose-spec interpolation.md, env-file syntax): `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty),
 * `${VAR-default}` (unset), `${VAR:?err}` / `${VAR?err}` (required), `${VAR:+alt}` / `${VAR+alt}`, nested
 * expressions in defaults, and `$$` for a literal `$`. An unset variable without a default becomes
 * empty and is reported, as Compose warns. Pure.
 */

/** A variable reference that cannot be resolved (`${VAR:?err}`), or malformed syntax. */
export class InterpolationError extends Error {}

/** What interpolation read: the result and the unset variables it replaced with ''. */
export interface Interpolated {
  value: string;
  unset: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Interpolates one string against `env`. Throws InterpolationError (bad syntax, `${VAR:?err}` unmet). */
export function interpolate(s: string, env: Record<string, string | undefined>): Interpolated {
  const unset: string[] = [];
  const value = expand(s, env, unset);
  return { value, unset };
}

function expand(s: string, env: Record<string, string | undefined>, unset: string[]): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c !== '$') { out += c; i++; continue; }
    const next = s[i + 1];
    if (next === '$') { out += '$'; i += 2; continue; }
    if (next === '{') {
      const end = closingBrace(s, i + 2);
      out += braced(s.slice(i + 2, end), env, unset);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(s.slice(i + 1));
    if (!m) { out += '$'; i++; continue; } // a lone `$` stays, as Compose keeps it
    out += lookup(m[0], env, unset);
    i += 1 + m[0].length;
  }
  return out;
}

/** Index of the `}` closing a `${` whose body starts at `from`, counting nested `${...}`. */
function closingBrace(s: string, from: number): number {
  let depth = 1;
  for (let i = from; i < s.length; i++) {
    if (s[i] === '$' && s[i + 1] === '{') { depth++; i++; } else if (s[i] === '}' && --depth === 0) return i;
  }
  throw new InterpolationError(`unclosed \${ in ${JSON.stringify(s)}`);
}

function lookup(name: string, env: Record<string, string | undefined>, unset: string[]): string {
  const v = env[name];
  if (v === undefined) { if (!unset.includes(name)) unset.push(name); return ''; }
  return v;
}

function braced(body: string, env: Record<string, string | undefined>, unset: string[]): string {
  const m = NAME.exec(body);
  if (!m) throw new InterpolationError(`\${${body}} is not a variable reference (a name of letters, digits and '_')`);
  const name = m[0];
  const rest = body.slice(name.length);
  if (rest === '') return lookup(name, env, unset);
  const op = /^(:?[-?+])/.exec(rest);
  if (!op) throw new InterpolationError(`\${${body}}: unknown operator ${JSON.stringify(rest)} (use :- - :? ? :+ +)`);
  const arg = rest.slice(op[1].length);
  const v = env[name];
  const missing = op[1].startsWith(':') ? v === undefined || v === '' : v === undefined;
  switch (op[1].replace(':', '')) {
    case '-': return missing ? expand(arg, env, unset) : (v as string);
    case '+': return missing ? '' : expand(arg, env, unset);
    default:
      if (missing) throw new InterpolationError(`required variable ${name} is ${v === undefined ? 'unset' : 'empty'}${arg ? `: ${expand(arg, env, unset)}` : ''}`);
      return v as string;
  }
}

/** One problem in a `.env` file, with its 1-based line. */
export class DotEnvError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
  }
}

/**
 * A `.env` / `env_file` as Compose reads it: `KEY=VALUE` lines, `export KEY=VALUE`, `#` comments and blank
 * lines; single quotes literal, double quotes with `\n` `\t` `\"` `\\` escapes; an unquoted value ends at ` #`
 * and is trimmed; a bare `KEY` takes its value from `lookupEnv` (omitted when unset). Unquoted and
 * double-quoted values are interpolated against the variables read so far, then `lookupEnv`.
 * Throws DotEnvError with the line.
 */
export function parseDotEnv(text: string, lookupEnv: Record<string, string | undefined> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    let l = lines[n].trim();
    if (l === '' || l.startsWith('#')) continue;
    if (l.startsWith('export ')) l = l.slice(7).trimStart();
    const m = /^([A-Za-z_][A-Za-z0-9_.-]*)\s*(=?)\s*(.*)$/.exec(l);
    if (!m) throw new DotEnvError(`${JSON.stringify(lines[n])} is not KEY=VALUE`, n + 1);
    const [, key, eq] = m;
    let raw = m[3];
    if (!eq) {
      if (raw !== '') throw new DotEnvError(`${JSON.stringify(lines[n])} is not KEY=VALUE`, n + 1);
      if (lookupEnv[key] !== undefined) out[key] = lookupEnv[key] as string;
      continue;
    }
    const scope = { ...lookupEnv, ...out };
    const q = raw[0];
    if (q === "'" || q === '"') {
      // a quoted value may span lines, as Compose allows
      let body = raw.slice(1);
      let end = closingQuote(body, q);
      while (end < 0 && n + 1 < lines.length) { body += `\n${lines[++n]}`; end = closingQuote(body, q); }
      if (end < 0) throw new DotEnvError(`${key}: unterminated ${q} quote`, n + 1);
      const inner = body.slice(0, end);
      out[key] = q === "'" ? inner : expandOrFail(unescape(inner), scope, n + 1);
      continue;
    }
    const hash = raw.search(/\s#/);
    if (hash >= 0) raw = raw.slice(0, hash);
    out[key] = expandOrFail(raw.trim(), scope, n + 1);
  }
  return out;
}

function expandOrFail(v: string, env: Record<string, string | undefined>, line: number): string {
  try {
    return interpolate(v, env).value;
  } catch (e) {
    if (e instanceof InterpolationError) throw new DotEnvError(e.message, line);
    throw e;
  }
}

function closingQuote(s: string, q: string): number {
  for (let i = 0; i < s.length; i++) {
    if (q === '"' && s[i] === '\\') { i++; continue; }
    if (s[i] === q) return i;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\([nrt"\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[c] ?? c);
}
