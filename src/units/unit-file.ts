/**
 * systemd unit-file syntax: parse text into a UnitFile and serialize it back. Pure.
 * Follows systemd's conf-parser: comment lines (`#`/`;` after leading whitespace) are dropped,
 * even inside a continuation; a line ending in an unescaped `\` continues on the next line,
 * the backslash becoming a space; keys and values are trimmed of systemd whitespace.
 */
import { ValidationError } from '../errors';
import type { UnitEntry, UnitFile, UnitSection } from './types';
import { UNIT_LIMITS, decodeUnitText, exceedsBytes } from './unit-text';

/** Options for parseUnitFile: `file` is only used in error locations. */
export interface ParseOptions {
  file?: string;
}

/** Trim systemd's WHITESPACE (space, tab, CR, LF) only; JS trim() would also eat Unicode spaces. */
export function trimWs(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isWs(s.charCodeAt(a))) a++;
  while (b > a && isWs(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** True when the line's first non-whitespace character starts a comment. */
function isComment(raw: string): boolean {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (isWs(c)) continue;
    return c === 35 /* # */ || c === 59 /* ; */;
  }
  return false;
}

/** True when `s` ends in a backslash that is not itself escaped (odd run of trailing `\`). */
function endsWithContinuation(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s.charCodeAt(i) === 92; i--) n++;
  return n % 2 === 1;
}

/** Characters systemd's string_is_safe() refuses in a section name, besides control characters. */
const UNSAFE_SECTION_CHARS = /["'\\]/;

class Parser {
  readonly sections: UnitSection[] = [];
  private current: UnitSection | undefined;
  private entries = 0;

  constructor(private readonly file: string | undefined) {}

  /** One logical line (continuations joined) that starts at `line`. */
  line(text: string, line: number): void {
    const l = trimWs(text);
    if (l === '' || isComment(l)) return;
    if (l.charCodeAt(0) === 91 /* [ */) return this.section(l, line);
    if (!this.current) {
      throw this.err('unit.no-section', `assignment "${short(l)}" appears before any [Section] header`, line);
    }
    const eq = l.indexOf('=');
    if (eq < 0) throw this.err('unit.missing-equals', `line "${short(l)}" is neither a [Section] nor a Key=value assignment (missing '=')`, line, this.current.name);
    const key = trimWs(l.slice(0, eq));
    if (key === '') throw this.err('unit.empty-key', `assignment "${short(l)}" has an empty key`, line, this.current.name);
    if (++this.entries > UNIT_LIMITS.maxEntries) {
      throw this.err('unit.too-many-entries', `unit file has more than ${UNIT_LIMITS.maxEntries} assignments`, line);
    }
    this.current.entries.push({ key, value: trimWs(l.slice(eq + 1)), line });
  }

  private section(l: string, line: number): void {
    if (l.charCodeAt(l.length - 1) !== 93 /* ] */ || l.length < 2) {
      throw this.err('unit.bad-section', `invalid section header "${short(l)}": expected [Name]`, line);
    }
    const name = l.slice(1, -1);
    if (name === '') throw this.err('unit.bad-section', 'empty section name "[]"', line);
    if (UNSAFE_SECTION_CHARS.test(name)) {
      throw this.err('unit.bad-section', `section name "${short(name)}" contains a quote or backslash`, line);
    }
    if (this.sections.length >= UNIT_LIMITS.maxSections) {
      throw this.err('unit.too-many-sections', `unit file has more than ${UNIT_LIMITS.maxSections} sections`, line);
    }
    this.current = { name, line, entries: [] };
    this.sections.push(this.current);
  }

  err(code: string, msg: string, line: number, section?: string): ValidationError {
    return new ValidationError(code, msg, { file: this.file, line, section });
  }
}

/** Shorten user text quoted in messages so a 64 KiB line does not become a 64 KiB error. */
function short(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Parse unit-file text (or UTF-8 bytes) into sections and entries in file order.
 * Throws ValidationError (`unit.too-large`, `unit.binary`, `unit.line-too-long`, `unit.no-section`,
 * `unit.missing-equals`, `unit.empty-key`, `unit.bad-section`, `unit.too-many-*`) with file and line.
 */
export function parseUnitFile(input: string | Uint8Array, opts: ParseOptions = {}): UnitFile {
  const text = decodeUnitText(input, opts.file);
  const p = new Parser(opts.file);
  const max = UNIT_LIMITS.maxLineBytes;
  // systemd's read_line ends a line at LF, CR or CRLF.
  const lines = text.split(/\r\n|\r|\n/);
  // A pending continuation is kept as parts plus a byte count, so a long chain stays linear.
  let cont: { parts: string[]; bytes: number; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const bytes = exceedsBytes(raw, max) ? max + 1 : Buffer.byteLength(raw, 'utf8');
    if (bytes > max) throw p.err('unit.line-too-long', `line is longer than ${max} bytes`, i + 1);
    if (isComment(raw)) continue; // dropped even in the middle of a continuation, as systemd does
    const start = cont ? cont.line : i + 1;
    const total = (cont?.bytes ?? 0) + bytes;
    if (total > max) throw p.err('unit.line-too-long', `continued line is longer than ${max} bytes`, start);
    // The part before `raw` always ends in a space, so the trailing backslash run lies within `raw`.
    if (endsWithContinuation(raw)) {
      cont ??= { parts: [], bytes: 0, line: start };
      cont.parts.push(`${raw.slice(0, -1)} `);
      cont.bytes = total;
      continue;
    }
    const joined = cont ? cont.parts.join('') + raw : raw;
    cont = undefined;
    p.line(joined, start);
  }
  if (cont) p.line(cont.parts.join(''), cont.line);
  return { sections: p.sections };
}

/**
 * Canonical text of a UnitFile: `[Section]` headers, `Key=value` lines, a blank line between
 * sections, no comments. parseUnitFile(serializeUnitFile(f)) equals f except for line numbers.
 */
export function serializeUnitFile(file: UnitFile): string {
  const out: string[] = [];
  file.sections.forEach((s, i) => {
    if (i > 0) out.push('');
    out.push(`[${s.name}]`);
    for (const e of s.entries) {
      if (endsWithContinuation(e.value)) {
        // A value ending in an odd run of `\` can only be written as a continuation that an
        // empty line ends: `K=a\ \` + `` parses back to `a\`.
        out.push(`${e.key}=${e.value} \\`, '');
      } else out.push(`${e.key}=${e.value}`);
    }
  });
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Every entry of every section named `section` (sections may repeat), in file order. */
export function sectionEntries(file: UnitFile, section: string): Array<UnitEntry & { section: string }> {
  const out: Array<UnitEntry & { section: string }> = [];
  for (const s of file.sections) if (s.name === section) for (const e of s.entries) out.push({ ...e, section });
  return out;
}

/** True when the file has at least one section named `section`. */
export function hasSection(file: UnitFile, section: string): boolean {
  return file.sections.some((s) => s.name === section);
}
