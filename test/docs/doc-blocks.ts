/**
 * The fenced code blocks of README.md and docs/*.md, and what a doc-test does with each (docs/doc-tests.md).
 * A block's kind comes from a marker on the line right above its fence, `<!-- doc-test: KIND [ARG] -->`,
 * else from its language: `sh`/`bash`/`shell`/`console` → commands, `toml` → config, `ini`/`systemd` →
 * needs a `unit NAME` marker. Anything else needs a marker. Pure: reads files, runs nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a doc-test does with a block. */
export type BlockKind =
  | { kind: 'commands' } // every command line is in test/docs/commands.ts: run, or listed as not run with a reason
  | { kind: 'unit'; name: string } // a unit file: must pass `shoalctl verify`
  | { kind: 'config' } // shoald's TOML config: must load
  | { kind: 'output' } // what a command prints: shown, not run
  | { kind: 'skip'; reason: string }; // not a command or a file (a code sketch, a usage synopsis): the reason says why

/** One fenced block. */
export interface DocBlock {
  /** Path relative to the repository root, e.g. `docs/units.md`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  text: string;
  /** How to test it; undefined when the block has neither a known language nor a marker. */
  test?: BlockKind;
  /** A marker that could not be read. */
  markerError?: string;
}

/** One command of a `commands` block (a line without its trailing comment; `\` continuations joined). */
export interface DocCommand {
  file: string;
  line: number;
  command: string;
}

const MARKER = /^<!--\s*doc-test:\s*(\S+)\s*(.*?)\s*-->\s*$/;

/** README.md and every docs/*.md, sorted: a new page is covered without being registered. */
export function docFiles(root: string): string[] {
  return ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
}

function kindOf(lang: string, marker: string | undefined): { test?: BlockKind; markerError?: string } {
  if (marker !== undefined) {
    const m = MARKER.exec(marker)!;
    const [, kind, arg] = m;
    if (kind === 'unit') return arg ? { test: { kind: 'unit', name: arg } } : { markerError: 'unit needs a file name: <!-- doc-test: unit web.service -->' };
    if (kind === 'skip') return arg ? { test: { kind: 'skip', reason: arg } } : { markerError: 'skip needs a reason: <!-- doc-test: skip WHY -->' };
    if (kind === 'commands' || kind === 'config' || kind === 'output') return { test: { kind } };
    return { markerError: `unknown doc-test kind "${kind}" (commands, unit NAME, config, output, skip REASON)` };
  }
  if (['sh', 'bash', 'shell', 'console'].includes(lang)) return { test: { kind: 'commands' } };
  if (lang === 'toml') return { test: { kind: 'config' } };
  return {};
}

/** Every fenced block of `file` (relative to `root`). */
export function blocksOf(root: string, file: string): DocBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const out: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]);
    if (!open) continue;
    const fence = open[2];
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].trimStart().startsWith(fence); i++) body.push(lines[i].slice(open[1].length));
    const prev = start > 0 ? lines[start - 1].trim() : '';
    const marker = MARKER.test(prev) ? prev : undefined;
    out.push({ file, line: start + 1, lang: open[3], text: body.join('\n') + (body.length ? '\n' : ''), ...kindOf(open[3], marker) });
  }
  return out;
}

/** Every block of the docs. */
export function docBlocks(root: string): DocBlock[] {
  return docFiles(root).flatMap((f) => blocksOf(root, f));
}

/** A command line without its comment: ` #` starts a comment when it follows whitespace, outside quotes. */
export function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) { if (c === quote) quote = ''; continue; }
    if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

/** The commands of a `commands` block, in order. */
export function commandsOf(b: DocBlock): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = b.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let cmd = stripComment(lines[i]).trim();
    const line = b.line + 1 + i;
    while (cmd.endsWith('\\') && i + 1 < lines.length) cmd = `${cmd.slice(0, -1).trimEnd()} ${stripComment(lines[++i]).trim()}`;
    if (cmd) out.push({ file: b.file, line, command: cmd.replace(/\s+/g, ' ') });
  }
  return out;
}
