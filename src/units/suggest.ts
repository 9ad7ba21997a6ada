/**
 * "Did you mean ...?" for misspelt section names and keys: edit distance to a list of known names. Pure.
 */

/**
 * Levenshtein distance with adjacent transpositions counted as one edit (optimal string alignment):
 * `ExecStrat` → `ExecStart` is 1. Case counts (`a` ≠ `A`). Stops early and returns `max + 1` once the
 * distance is sure to exceed `max` (default: no bound), so a long key costs little.
 */
export function editDistance(a: string, b: string, max = Infinity): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur: number[] = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2] + 1);
      cur.push(d);
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > max) return max + 1;
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length];
}

/**
 * How many edits still make a near miss of a name of `length` characters: 1 up to 4 characters
 * ([Unit] → [Uni]), 2 from 5 (`ExecStrat`, `MachineMetdata`), 3 from 12. A longer name takes more
 * typos before it is more likely another word than a slip of the hand.
 */
export function maxEdits(length: number): number {
  return length <= 4 ? 1 : length < 12 ? 2 : 3;
}

/** A suggestion: the known name, and whether it differs from what was written only in case. */
export interface Suggestion {
  name: string;
  caseOnly: boolean;
}

/**
 * The known name `word` most likely misspells, or undefined when none is near enough (maxEdits of the
 * known name's length). Case is ignored when measuring (`machineid` → `MachineID`, case-only). The
 * nearest wins; on a tie, the first in `known`. `word` itself in `known` is no misspelling: undefined.
 */
export function suggest(word: string, known: readonly string[]): Suggestion | undefined {
  if (known.includes(word)) return undefined;
  const w = word.toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const k of known) {
    const limit = Math.min(maxEdits(k.length), best ? best.d - 1 : Infinity);
    if (limit < 0) break;
    const d = editDistance(w, k.toLowerCase(), limit);
    if (d <= limit) best = { name: k, d };
  }
  return best && { name: best.name, caseOnly: best.d === 0 };
}
