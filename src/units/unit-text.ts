/** Raw text checks that run before parsing: size, encoding, control characters. Pure. */
import { ValidationError } from '../errors';

/** Hard limits on unit files; inputs beyond them are refused before any parsing work. */
export const UNIT_LIMITS = {
  /** Whole file, in UTF-8 bytes. */
  maxBytes: 256 * 1024,
  /** One physical or joined (continued) line, in UTF-8 bytes. */
  maxLineBytes: 64 * 1024,
  maxSections: 128,
  maxEntries: 4096,
} as const;

const BOM = '\uFEFF';

/**
 * Decode and check a unit file: bytes must be valid UTF-8, strings well-formed; no NUL or control
 * characters other than tab, CR and LF; at most UNIT_LIMITS.maxBytes. Strips one leading BOM.
 * Throws ValidationError `unit.too-large` or `unit.binary`.
 */
export function decodeUnitText(input: string | Uint8Array, file?: string): string {
  let text: string;
  if (typeof input === 'string') {
    // A string of N code units is at least N bytes in UTF-8: cheap early refusal for huge inputs.
    if (input.length > UNIT_LIMITS.maxBytes || Buffer.byteLength(input, 'utf8') > UNIT_LIMITS.maxBytes) {
      throw tooLarge(file);
    }
    text = input;
  } else {
    if (input.byteLength > UNIT_LIMITS.maxBytes) throw tooLarge(file);
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      throw new ValidationError('unit.binary', 'unit file is not valid UTF-8', { file });
    }
  }
  if (text.startsWith(BOM)) text = text.slice(1);
  checkControlChars(text, file);
  return text;
}

/** Byte length of `s` in UTF-8, computed only when the char count could exceed `limit`. */
export function exceedsBytes(s: string, limit: number): boolean {
  if (s.length > limit) return true;
  return s.length * 3 > limit && Buffer.byteLength(s, 'utf8') > limit;
}

function tooLarge(file?: string): ValidationError {
  return new ValidationError('unit.too-large', `unit file is larger than ${UNIT_LIMITS.maxBytes} bytes`, { file });
}

/** Refuse NUL, C0/C1 control characters (except \t \n \r), DEL and unpaired surrogates, naming the line. */
function checkControlChars(text: string, file?: string): void {
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      continue;
    }
    if (c === 13) {
      // A lone CR ends a line too (as systemd's read_line); CRLF counts once.
      if (text.charCodeAt(i + 1) !== 10) line++;
      continue;
    }
    if (c === 9) continue;
    if (c >= 0xd800 && c <= 0xdfff) {
      // Only a string input can hold these; a high surrogate followed by a low one is a valid pair.
      const next = text.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      throw new ValidationError('unit.binary', 'unit file is not valid text (unpaired UTF-16 surrogate)', { file, line });
    }
    if (c < 32 || (c >= 127 && c <= 159)) {
      const what = c === 0 ? 'a NUL byte' : `control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
      throw new ValidationError('unit.binary', `unit file contains ${what}`, { file, line });
    }
  }
}
