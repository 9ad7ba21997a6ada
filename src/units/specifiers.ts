/** systemd-style specifiers in [X-Fleet] values, as fleet expands them. Pure. */
import type { UnitName } from './types';

/**
 * Expand `%n` (full name), `%N` (name without type suffix), `%p` (prefix), `%i` (instance) and
 * `%%` (a literal %) in one left-to-right pass, so an expanded value is never expanded again.
 * Other specifiers (`%H`, `%m`, …) are machine-specific and left as written, like fleet does.
 */
export function expandSpecifiers(value: string, unit: UnitName): string {
  if (!value.includes('%')) return value;
  const full = unit.name;
  const map: Record<string, string> = {
    n: full,
    N: full.slice(0, full.lastIndexOf('.')),
    p: unit.prefix,
    i: unit.instance ?? '',
    '%': '%',
  };
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    const rep = ch === '%' && i + 1 < value.length ? map[value[i + 1]] : undefined;
    if (rep !== undefined) {
      out += rep;
      i++;
    } else out += ch;
  }
  return out;
}
