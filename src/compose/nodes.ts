/**
 * A compose file's YAML with positions: every value knows its dotted key path (`services.web.ports[0]`)
 * and line, so an error names file, line and key. Wraps the `yaml` package's document nodes (merge keys
 * `<<:` and anchors resolved). Pure.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/** One problem in a compose file, located. */
export interface ComposeProblem {
  file: string;
  line: number;
  /** Dotted key path, e.g. `services.web.build`. */
  key: string;
  message: string;
}

/** `file:line: key: message`, as every shoal error reads. */
export function formatProblem(p: ComposeProblem): string {
  return `${p.file}:${p.line}: ${p.key}: ${p.message}`;
}

/** The parsed document and where its positions map to lines. */
export interface Source {
  file: string;
  doc: Document;
  lines: LineCounter;
}

/** Parses YAML text; syntax errors come back as problems (the document is then unusable). */
export function parseSource(file: string, text: string): { source: Source; problems: ComposeProblem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: true, prettyErrors: false });
  const source = { file, doc, lines };
  const problems = doc.errors.map((e) => ({
    file, line: lines.linePos(e.pos[0]).line, key: '(yaml)', message: e.message.split('\n')[0],
  }));
  return { source, problems };
}

/** A value in the compose file: its node (null when absent or `~`), key path and line. */
export class CNode {
  constructor(readonly src: Source, readonly node: Node | null, readonly path: string, readonly line: number) {}

  /** A problem at this value. */
  problem(message: string, key = this.path): ComposeProblem {
    return { file: this.src.file, line: this.line, key, message };
  }

  get isNull(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }
  get isMap(): boolean { return isMap(this.node); }
  get isSeq(): boolean { return isSeq(this.node); }
  get isScalar(): boolean { return isScalar(this.node) && this.node.value !== null; }

  /** The scalar's JS value (string, number, boolean) or undefined when not a scalar. */
  get value(): unknown {
    return isScalar(this.node) ? this.node.value : undefined;
  }

  /** Key → value of a mapping, merge keys resolved, in file order; [] when not a mapping. */
  entries(): Array<[string, CNode]> {
    return this.entriesOf(this.node, new Set());
  }

  private entriesOf(node: Node | null, seen: Set<string>): Array<[string, CNode]> {
    const out: Array<[string, CNode]> = [];
    if (!isMap(node)) return out;
    const merged: Node[] = [];
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as Node | null;
      const raw = isScalar(keyNode) ? keyNode.value : keyNode;
      const k = typeof raw === 'symbol' ? '<<' : String(raw); // the yaml package keys a merge with a symbol
      if (k === '<<') {
        const v = this.deref(pair.value as Node | null);
        for (const m of isSeq(v) ? v.items.map((x) => this.deref(x as Node)) : [v]) if (m) merged.push(m);
        continue;
      }
      if (seen.has(k)) continue;
      seen.add(k);
      const line = this.lineOf(keyNode) ?? this.line;
      out.push([k, new CNode(this.src, this.deref(pair.value as Node | null), this.join(k), line)]);
    }
    for (const m of merged) out.push(...this.entriesOf(m, seen)); // explicit keys override merged ones
    return out;
  }

  /** The value at `key` of a mapping; a null node (absent) when missing. */
  get(key: string): CNode {
    const hit = this.entries().find(([k]) => k === key);
    return hit ? hit[1] : new CNode(this.src, null, this.join(key), this.line);
  }

  has(key: string): boolean {
    return this.entries().some(([k]) => k === key);
  }

  /** The items of a sequence; [] when not a sequence. */
  items(): CNode[] {
    if (!isSeq(this.node)) return [];
    return this.node.items.map((n, i) => {
      const node = this.deref(n as Node | null);
      return new CNode(this.src, node, `${this.path}[${i}]`, this.lineOf(node) ?? this.line);
    });
  }

  private join(k: string): string {
    const key = /^[A-Za-z0-9_.-]+$/.test(k) ? k : JSON.stringify(k);
    return this.path ? `${this.path}.${key}` : key;
  }

  private deref(n: Node | null): Node | null {
    return isAlias(n) ? (n.resolve(this.src.doc) as Node | undefined) ?? null : n;
  }

  private lineOf(n: Node | null | undefined): number | undefined {
    const r = n && (n as { range?: [number, number, number] }).range;
    return r ? this.src.lines.linePos(r[0]).line : undefined;
  }
}

/** The document's root value. */
export function rootNode(src: Source): CNode {
  return new CNode(src, (src.doc.contents as Node | null) ?? null, '', 1);
}

/** Every scalar node of the document (aliases resolved once), for interpolation. */
export function eachScalar(src: Source, fn: (node: { value: unknown }, line: number) => void): void {
  const seen = new Set<Node>();
  const walk = (n: Node | null | undefined): void => {
    if (!n || seen.has(n)) return;
    seen.add(n);
    if (isAlias(n)) return walk(n.resolve(src.doc) as Node | undefined);
    if (isScalar(n)) return fn(n, n.range ? src.lines.linePos(n.range[0]).line : 1);
    if (isMap(n)) for (const p of n.items) walk(p.value as Node | null);
    else if (isSeq(n)) for (const x of n.items) walk(x as Node | null);
  };
  walk(src.doc.contents as Node | null);
}
