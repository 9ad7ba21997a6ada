/**
 * Exec*= command lines as systemd reads them (config_parse_exec, src/core/load-fragment.c of systemd 252; each
 * rule checked against `systemd-analyze verify` in test/units/unit-check.test.ts). A command systemd cannot read
 * either makes the whole unit fail to load ("Unit configuration has fatal error": a quote, a backslash or a control
 * character in the program path (string_is_safe), a relative path such as
 * `bin/true`, unbalanced quotes in its arguments, `@` with no argv0) or, with the `-` prefix, is dropped with the
 * rest of the line ("ignoring"). Pure.
 */

/** Keys parsed by config_parse_exec, by section. */
export const EXEC_KEYS: Readonly<Record<string, readonly string[]>> = {
  Service: ['ExecCondition', 'ExecStartPre', 'ExecStart', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost'],
  Socket: ['ExecStartPre', 'ExecStartPost', 'ExecStopPre', 'ExecStopPost'],
};

/** What systemd makes of one Exec*= value: the commands it keeps, and why it refuses the unit, if it does. */
export interface ExecParse {
  commands: number;
  fatal?: string;
}

/**
 * raw: as written; value: unquoted, an escape taken as the character after the backslash (enough to tell `;` and
 * paths apart); unsafe: the word systemd reads has a character its string_is_safe() refuses in a program path
 * (a quote, a backslash, a control character).
 */
interface Word { raw: string; value: string; unsafe: boolean }

/**
 * What a backslash and the character after it give in the word systemd reads (cunescape_one, unknown escapes kept
 * as written): true when that is unsafe in a program path: `\\`, `\"`, `\'`, the control characters
 * (`\n`, `\t`, ...) and an unknown escape (its backslash stays). `\s`, `\x..`, `\u....`, octal: not judged (false).
 */
function unsafeEscape(c: string): boolean {
  return !/[sxuU0-7]/.test(c);
}

const WS = /[ \t\n\r]/;

/**
 * The next word from `i` (extract_first_word with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE): quotes may open anywhere in
 * a word, a backslash escapes the next character (inside quotes too). Undefined at the end; 'unbalanced' for a quote
 * that is never closed.
 */
function nextWord(s: string, i: number): { word: Word; end: number } | 'unbalanced' | undefined {
  while (i < s.length && WS.test(s[i])) i++;
  if (i >= s.length) return undefined;
  const start = i;
  let value = '';
  let unsafe = false;
  let quote: string | undefined;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') { if (i + 1 < s.length) { value += s[++i]; unsafe ||= unsafeEscape(s[i]); } continue; }
    if (quote) { if (c === quote) quote = undefined; else { value += c; unsafe ||= isUnsafe(c); } continue; }
    if (c === '"' || c === "'") { quote = c; continue; }
    if (WS.test(c)) break;
    value += c;
    unsafe ||= isUnsafe(c);
  }
  if (quote) return 'unbalanced';
  return { word: { raw: s.slice(start, i), value, unsafe }, end: i };
}

/** A character string_is_safe() refuses: a control character, DEL, a quote or a backslash. */
function isUnsafe(c: string): boolean {
  const code = c.charCodeAt(0);
  return code < 32 || code === 127 || c === '"' || c === "'" || c === '\\';
}

/**
 * True when systemd takes `path` for an executable: an absolute path not ending in `/`, or a plain file name other
 * than `.` and `..` (`/bin/.` loads: only running it fails, which is not this check's to say).
 */
function validExecutable(path: string): boolean {
  if (path.startsWith('/')) return !path.endsWith('/');
  return !path.includes('/') && path !== '.' && path !== '..';
}

/**
 * Reads one Exec*= value as systemd does: commands separated by a lone unquoted `;`, each led by its prefixes
 * (`-` ignore errors, `@` argv0 follows, `:`, `+`, and `!` or `!!`, each at most once, `+` and `!` exclusive).
 * A value with a `%` specifier in the executable is taken as valid (resolved only when the unit loads).
 */
export function parseExec(value: string): ExecParse {
  let commands = 0;
  let i = 0;
  for (;;) {
    const first = nextWord(value, i);
    // an unreadable first word: systemd drops the rest of the line (not fatal)
    if (first === undefined || first === 'unbalanced') return { commands };
    i = first.end;
    if (first.word.raw === ';') continue;
    const f = first.word.value;
    let p = 0;
    let ignore = false;
    let argv0 = false;
    let noEnv = false;
    let priv: '' | '+' | '!' | '!!' = '';
    for (; p < f.length; p++) {
      const c = f[p];
      if (c === '-' && !ignore) ignore = true;
      else if (c === '@' && !argv0) argv0 = true;
      else if (c === ':' && !noEnv) noEnv = true;
      else if (c === '+' && priv === '') priv = '+';
      else if (c === '!' && priv === '') priv = '!';
      else if (c === '!' && priv === '!') priv = '!!';
      else break;
    }
    const path = f.slice(p);
    const fail = (why: string): ExecParse => (ignore ? { commands } : { commands, fatal: why });
    if (path === '') return fail(`empty path in command line "${value}"`);
    if (first.word.unsafe) return fail(`the program path ${JSON.stringify(path)} has a quote, a backslash or a control character`);
    if (!path.includes('%') && !validExecutable(path)) {
      return fail(`"${path}" is neither an absolute path nor a plain executable name (systemd searches only a name without "/" in its PATH)`);
    }
    let args = 0;
    let sep = false;
    for (;;) {
      const w = nextWord(value, i);
      if (w === undefined) break;
      if (w === 'unbalanced') return fail('unbalanced quoting');
      i = w.end;
      if (w.word.raw === ';') { sep = true; break; }
      args++;
    }
    if (argv0 && args === 0) return fail(`"@" needs the program's argv[0] after its path ("@${path} NAME")`);
    commands++;
    if (!sep) return { commands };
  }
}

/** The first Exec*= assignment in `sections` that makes systemd refuse the unit, with why; undefined when none does. */
export function execProblem(sections: readonly { name: string; entries: readonly { key: string; value: string; line: number }[] }[]):
  { section: string; key: string; line: number; why: string } | undefined {
  for (const s of sections) {
    const keys = Object.hasOwn(EXEC_KEYS, s.name) ? EXEC_KEYS[s.name] : undefined;
    if (!keys) continue;
    for (const e of s.entries) {
      if (!keys.includes(e.key) || e.value === '') continue;
      const { fatal } = parseExec(e.value);
      if (fatal) return { section: s.name, key: e.key, line: e.line, why: fatal };
    }
  }
  return undefined;
}
