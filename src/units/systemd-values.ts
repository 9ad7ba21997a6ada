/**
 * systemd's own value syntaxes, read exactly as systemd 252 reads them (src/basic/parse-util.c), so a
 * unit systemd accepts is accepted by shoal with the same value. Checked against `systemd-analyze verify`
 * by a recorded table (test/units/systemd-keys.table.json) and a live re-check. Pure.
 */

const SIZE_SUFFIXES: ReadonlyArray<[string, bigint]> = [
  ['E', 1024n ** 6n], ['P', 1024n ** 5n], ['T', 1024n ** 4n], ['G', 1024n ** 3n], ['M', 1024n ** 2n], ['K', 1024n], ['B', 1n], ['', 1n],
];
const U64_MAX = 2n ** 64n - 1n;
const WS = /^[ \t\n\r]*/;

/**
 * parse_size(t, 1024): components `<digits>[.<digits>] <suffix>` with suffixes E P T G M K B (1024-based)
 * in strictly descending order (`1G 512M`, `10.M`, `1.5G`; not `512M 1G`), summed. Returns bytes as a
 * bigint; throws Error(message) as systemd refuses (EINVAL/ERANGE).
 */
export function parseSystemdSize(t: string): bigint {
  let p = t.replace(WS, '');
  if (p.startsWith('-')) throw new Error('negative size');
  let total = 0n;
  let start = 0;
  do {
    // strtoull(p, 10): leading blanks and one sign, then digits.
    const m = /^[ \t\n\r]*([+-]?)(\d+)/.exec(p);
    if (!m) throw new Error('not a number');
    if (m[1] === '-') throw new Error('negative size');
    const l = BigInt(m[2]);
    if (l > U64_MAX) throw new Error('out of range');
    let e = p.slice(m[0].length);
    let frac = 0;
    if (e.startsWith('.')) {
      e = e.slice(1);
      const d = /^\d+/.exec(e);
      if (d) {
        if (BigInt(d[0]) > U64_MAX) throw new Error('out of range');
        frac = Number(`0.${d[0]}`);
        e = e.slice(d[0].length);
      }
    }
    e = e.replace(WS, '');
    let i = start;
    while (i < SIZE_SUFFIXES.length && !e.startsWith(SIZE_SUFFIXES[i][0])) i++;
    if (i >= SIZE_SUFFIXES.length) throw new Error('unknown or out-of-order suffix');
    const [suffix, factor] = SIZE_SUFFIXES[i];
    if (l + (frac > 0 ? 1n : 0n) > U64_MAX / factor) throw new Error('out of range');
    const part = l * factor + BigInt(Math.floor(frac * Number(factor)));
    if (part > U64_MAX - total) throw new Error('out of range');
    total += part;
    p = e.slice(suffix.length);
    start = i + 1;
  } while (p.length > 0);
  return total;
}

/** safe_atoi: strtol base 0 (0x hex, leading 0 octal), the whole string, fits in an int. */
function safeAtoi(s: string): number {
  const m = /^[ \t\n\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(s);
  if (!m) throw new Error('not a number');
  const body = m[2];
  const v = body.startsWith('0x') || body.startsWith('0X') ? parseInt(body.slice(2), 16) : body.length > 1 && body.startsWith('0') ? parseInt(body, 8) : Number(body);
  const n = m[1] === '-' ? -v : v;
  if (n > 2147483647 || n < -2147483648) throw new Error('out of range');
  return n;
}

/**
 * parse_permyriad_unbounded: `N%` / `N.N%` / `N.NN%`, `N‰` / `N.N‰`, `N‱` → parts per ten thousand.
 * Returns undefined when the value has none of these forms; throws Error(message) when it has one but
 * is malformed or out of range (as systemd).
 */
export function parsePermyriad(p: string, bounded: boolean): number | undefined {
  for (const [sym, places] of [['%', 2], ['‰', 1], ['‱', 0]] as const) {
    if (!p.endsWith(sym)) continue;
    const body = p.slice(0, -sym.length);
    const dot = body.indexOf('.');
    let q = 0;
    let whole = body;
    if (dot >= 0) {
      const decimals = body.slice(dot + 1);
      if (places === 0 || decimals.length < 1 || decimals.length > places || !/^\d+$/.test(decimals)) throw new Error(`bad ${sym} value`);
      q = Number(decimals.padEnd(places, '0'));
      whole = body.slice(0, dot);
    }
    const v = safeAtoi(whole);
    if (v < 0) throw new Error('negative');
    const scale = 10 ** places;
    if (v > (2147483647 - q) / scale) throw new Error('out of range');
    // % with 2 decimals, ‰ with 1, ‱ whole: each is then a count of 1/10,000.
    const r = v * scale + q;
    if (bounded && r > 10000) throw new Error('more than 100%');
    return r;
  }
  return undefined;
}
