/** The chaos campaign's command line and its report (table, violations, summary), pure. */
import { FAULT_KINDS, parseFaultKinds, type FaultKind } from './chaos-nemesis';
import type { CampaignResult } from './chaos-driver';

/** What `npm run chaos -- …` asks for. */
export interface ChaosArgs {
  seeds: number[];
  durationS: number;
  nodes: number;
  kinds: FaultKind[];
}

const USAGE = 'usage: npm run chaos -- --seed N[,N…] --duration SECONDS [--nodes K] [--faults all|kind,…|-kind,…]';

/** Parses the arguments; throws with the usage and what is wrong. */
export function parseChaosArgs(argv: string[]): ChaosArgs {
  const out: ChaosArgs = { seeds: [1], durationS: 120, nodes: 3, kinds: [...FAULT_KINDS] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const num = (what: string, min: number, max: number) => {
      const n = Number(value);
      if (value === undefined || !Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} wants ${what} (${min}..${max}), got '${value ?? ''}'; ${USAGE}`);
      i++;
      return n;
    };
    switch (flag) {
      case '--seed':
        if (value === undefined || !/^\d+(,\d+)*$/.test(value)) throw new Error(`--seed wants N or N,N,…, got '${value ?? ''}'; ${USAGE}`);
        out.seeds = value.split(',').map(Number);
        i++;
        break;
      case '--duration': out.durationS = num('seconds', 1, 86_400); break;
      case '--nodes': out.nodes = num('a node count', 2, 9); break;
      case '--faults':
        if (value === undefined) throw new Error(`--faults wants a list; ${USAGE}`);
        out.kinds = parseFaultKinds(value);
        i++;
        break;
      default: throw new Error(`unknown argument '${flag}'; ${USAGE}`);
    }
  }
  return out;
}

/** The table: one row per round (fault, its node, duration, ops, time to settle, violations), then each violation. */
export function formatCampaign(r: CampaignResult): string {
  const head = ['SEED', 'ROUND', 'FAULT', 'NODE', 'LASTED', 'OPS', 'SETTLED', 'VIOLATIONS'];
  const body = r.rounds.map((x) => [
    String(r.seed), String(x.round), x.faults.map((f) => f.kind).join('+'), x.nodes.map((n) => n ?? '-').join(','), `${(x.lastedMs / 1000).toFixed(1)} s`, String(x.ops),
    x.settleMs === null ? 'never' : `${(x.settleMs / 1000).toFixed(2)} s`, String(x.violations.length),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(head), ...body.map(line)];
  for (const v of r.initial) out.push(`seed ${r.seed} initial: ${v}`);
  for (const x of r.rounds) for (const v of x.violations) out.push(`seed ${r.seed} round ${x.round} (${x.faults.map((f) => f.kind).join('+')}): ${v}`);
  return out.join('\n');
}

/** Faults injected and violations per fault kind over several campaigns. */
export function summarize(results: CampaignResult[]): string {
  const per = new Map<string, { faults: number; violations: number; settle: number[] }>();
  for (const r of results) {
    for (const x of r.rounds) {
      // a compound round counts for each of its kinds
      for (const f of x.faults) {
        const s = per.get(f.kind) ?? { faults: 0, violations: 0, settle: [] };
        s.faults++;
        s.violations += x.violations.length;
        if (x.settleMs !== null) s.settle.push(x.settleMs);
        per.set(f.kind, s);
      }
    }
  }
  const rows = [...per].sort(([a], [b]) => a.localeCompare(b)).map(([k, s]) => {
    const sorted = [...s.settle].sort((a, b) => a - b);
    const median = sorted.length ? `${(sorted[Math.floor(sorted.length / 2)] / 1000).toFixed(2)} s` : '-';
    return `${k.padEnd(15)} ${String(s.faults).padStart(6)} ${median.padStart(14)} ${String(s.violations).padStart(10)}`;
  });
  return [`${'FAULT'.padEnd(15)} ${'INJECTED'.padStart(6)} ${'MEDIAN SETTLE'.padStart(14)} ${'VIOLATIONS'.padStart(10)}`, ...rows].join('\n');
}
