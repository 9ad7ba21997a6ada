/** Splitting option values into words: fleet's multi-value lists and shell-like command lines. Pure. */

/** Why a value could not be split; the caller turns it into a located ValidationError. */
export class WordsError extends Error {}

function isBlank(ch: string): boolean {
  return ch === ' ' || ch === '\t';
}

/**
 * fleet's multi-value syntax for [X-Fleet] values: items separated by whitespace; a `"` toggles
 * quoting and is dropped, so `"region=us east" "disk=ssd"` is two items and spaces inside quotes
 * stay. Empty items are skipped. Throws WordsError on an unbalanced quote.
 */
export function splitFleetValues(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (isBlank(ch) && !quoted) {
      if (cur !== '') out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new WordsError('unbalanced double quote');
  if (cur !== '') out.push(cur);
  return out;
}

/**
 * Shell-like word splitting (a subset of systemd's ExecStart= rules): whitespace separates words;
 * '...' is literal; "..." allows \" \\ escapes; outside quotes a backslash escapes the next
 * character. `''` yields an empty word. Throws WordsError on an unterminated quote or a trailing `\`.
 */
export function splitShellWords(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const n = value.length;
  while (i < n) {
    const ch = value[i];
    if (isBlank(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else if (ch === "'") {
      const end = value.indexOf("'", i + 1);
      if (end < 0) throw new WordsError('unterminated single quote');
      cur += value.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      const r = readDoubleQuoted(value, i + 1);
      cur += r.text;
      inWord = true;
      i = r.next;
    } else if (ch === '\\') {
      if (i + 1 >= n) throw new WordsError('trailing backslash');
      cur += value[i + 1];
      inWord = true;
      i += 2;
    } else {
      cur += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** Read a "..." body starting after the opening quote; returns the text and the index after the closing quote. */
function readDoubleQuoted(value: string, from: number): { text: string; next: number } {
  let text = '';
  for (let i = from; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"') return { text, next: i + 1 };
    if (ch === '\\' && (value[i + 1] === '"' || value[i + 1] === '\\')) {
      text += value[i + 1];
      i++;
    } else text += ch;
  }
  throw new WordsError('unterminated double quote');
}
