/** Columns as fleetctl prints them: a header row (unless --no-legend), cells padded with tabs' worth of spaces. */
export interface TableOptions {
  noLegend?: boolean;
}

/** Renders `rows` under `header`, each column padded to its widest cell plus 1 space. */
export function renderTable(header: string[], rows: string[][], opts: TableOptions = {}): string {
  const all = opts.noLegend ? rows : [header, ...rows];
  if (all.length === 0) return '';
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] + 1))).join('').trimEnd())
    .join('\n') + '\n';
}
