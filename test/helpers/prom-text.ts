/**
 * A strict parser of the Prometheus text exposition format 0.0.4 (what /metrics serves), for tests:
 * throws on anything a Prometheus server would refuse or that breaks the format's rules (bad names,
 * bad escapes, a sample before its TYPE or of another family, a TYPE twice, histogram buckets that are
 * not cumulative or lack +Inf = _count). Spec: prometheus.io/docs/instrumenting/exposition_formats/.
 */

export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Family { name: string; type: string; help?: string; samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function value(s: string, where: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/.test(s)) throw new Error(`${where}: bad value ${JSON.stringify(s)}`);
  return Number(s);
}

/** Parses labels from `{...}` text starting after `{`; returns labels and the index after `}`. */
function labels(line: string, i: number, where: string): [Record<string, string>, number] {
  const out: Record<string, string> = {};
  for (;;) {
    if (line[i] === '}') return [out, i + 1];
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without =`);
    const name = line.slice(i, eq);
    if (!LABEL.test(name) || name.startsWith('__')) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (name in out) throw new Error(`${where}: label ${name} twice`);
    if (line[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let v = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        const n = line[++j];
        if (n === 'n') v += '\n'; else if (n === '\\' || n === '"') v += n; else throw new Error(`${where}: bad escape \\${n}`);
      } else v += line[j];
    }
    if (j >= line.length) throw new Error(`${where}: unterminated label value`);
    out[name] = v;
    i = j + 1;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`${where}: expected , or } after a label`);
  }
}

/** The families of `text`, by name. Throws an Error naming the line on any violation. */
export function parsePromText(text: string): Map<string, Family> {
  const fams = new Map<string, Family>();
  let current: Family | undefined;
  if (text.length && !text.endsWith('\n')) throw new Error('the text must end with a newline');
  text.split('\n').forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, what, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
      let f = fams.get(name);
      if (f && f !== current) throw new Error(`${where}: family ${name} is not contiguous`);
      if (!f) { f = { name, type: 'untyped', samples: [] }; fams.set(name, f); }
      current = f;
      if (what === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
        if (f.samples.length) throw new Error(`${where}: TYPE after samples of ${name}`);
        if ((f as Family & { typed?: boolean }).typed) throw new Error(`${where}: TYPE of ${name} twice`);
        (f as Family & { typed?: boolean }).typed = true;
        f.type = rest;
      } else {
        if (f.help !== undefined) throw new Error(`${where}: HELP of ${name} twice`);
        f.help = rest;
      }
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`${where}: not a sample: ${JSON.stringify(line)}`);
    const name = line.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
    let [lbls, i] = line[nameEnd] === '{' ? labels(line, nameEnd + 1, where) : [{}, nameEnd];
    if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`);
    const parts = line.slice(i + 1).split(' ');
    if (parts.length > 2 || (parts.length === 2 && !/^-?\d+$/.test(parts[1]))) throw new Error(`${where}: bad value/timestamp`);
    const v = value(parts[0], where);
    const base = current && (name === current.name || (['histogram', 'summary'].includes(current.type) && [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`].includes(name)));
    if (!current || !base) {
      if (fams.has(name)) throw new Error(`${where}: sample of ${name} outside its family`);
      current = { name, type: 'untyped', samples: [] };
      fams.set(name, current);
    }
    if (current.type === 'counter' && !(v >= 0)) throw new Error(`${where}: negative counter ${name}`);
    current.samples.push({ name, labels: lbls, value: v });
    i = 0;
  });
  for (const f of fams.values()) if (f.type === 'histogram') checkHistogram(f);
  return fams;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const e = series.get(key) ?? { buckets: [] };
    series.set(key, e);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
      e.buckets.push([value(le, f.name), s.value]);
    } else if (s.name.endsWith('_count')) e.count = s.value;
    else if (s.name.endsWith('_sum')) e.sum = s.value;
    else throw new Error(`${f.name}: sample ${s.name} in a histogram`);
  }
  for (const [key, e] of series) {
    const les = e.buckets.map((b) => b[0]);
    if (les.some((l, i) => i > 0 && l <= les[i - 1])) throw new Error(`${f.name}${key}: le not increasing`);
    if (e.buckets.some((b, i) => i > 0 && b[1] < e.buckets[i - 1][1])) throw new Error(`${f.name}${key}: buckets not cumulative`);
    const inf = e.buckets[e.buckets.length - 1];
    if (!inf || inf[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (e.count === undefined || e.sum === undefined) throw new Error(`${f.name}${key}: _count or _sum missing`);
    if (inf[1] !== e.count) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} != _count ${e.count}`);
  }
}

/** The value of one sample (labels must match exactly the ones given, others ignored); 0 when absent. */
export function sampleValue(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const f of fams.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return 0;
}

/** Sum of a sample over every label set matching `labels`. */
export function sampleSum(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const f of fams.values()) for (const s of f.samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  return sum;
}
