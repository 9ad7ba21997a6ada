/**
 * The chaos campaign's nemesis, pure: the menu of faults, a seeded choice of the next fault (kind,
 * target, how long it lasts) and which machines a fault touches (the only ones whose units may
 * restart or move). The driver (chaos-driver.ts) injects and heals them on a Platform.
 */

/** Every fault the nemesis can inject. */
export type FaultKind =
  | 'node-kill' | 'node-poweroff' | 'node-cut' | 'node-freeze'
  | 'shoald-restart' | 'shoald-stop' | 'leader-kill' | 'leader-pause'
  | 'etcd-pause' | 'etcd-restart' | 'dockerd-pause' | 'node-join';

export const FAULT_KINDS: FaultKind[] = [
  'node-kill', 'node-poweroff', 'node-cut', 'node-freeze', 'shoald-restart', 'shoald-stop',
  'leader-kill', 'leader-pause', 'etcd-pause', 'etcd-restart', 'dockerd-pause', 'node-join',
];

/** One planned fault. */
export interface Fault {
  kind: FaultKind;
  /** The node it hits: a node name, 'leader' (resolved when injected), or null (etcd, dockerd). */
  target: string | null;
  /** How long the fault lasts before it is healed, in ms (0: a one-shot fault such as a restart). */
  durationMs: number;
}

/** What the nemesis may choose from. */
export interface NemesisView {
  /** The member nodes (base nodes, plus the spare once it joined). */
  nodes: string[];
  /** The spare node, when it has not joined yet (else null). */
  spare: string | null;
  /** Fault kinds allowed in this campaign. */
  kinds: FaultKind[];
  /** The lease TTL in ms. */
  ttlMs: number;
}

/** Kinds that take etcd away: no workload op is sent while they last (its outcome would be unknown). */
export const ETCD_FAULTS: FaultKind[] = ['etcd-pause', 'etcd-restart'];

/** Faults whose node keeps running units that it cannot stop (cut off, frozen, agent paused). */
const ISOLATING: FaultKind[] = ['node-cut', 'node-freeze', 'leader-pause'];

/** Faults after which the target node's units may legitimately have restarted or moved. */
const TOUCHING: FaultKind[] = ['node-kill', 'node-poweroff', 'node-cut', 'node-freeze', 'shoald-stop', 'leader-pause'];

/** A whole number of ms in [lo, hi), from `rnd`. */
function between(rnd: () => number, lo: number, hi: number): number {
  return Math.floor(lo + rnd() * (hi - lo));
}

/**
 * The next fault, from `rnd` only (same draws, same fault). Durations straddle the TTL: some
 * faults heal before the leases expire, some after. Throws when `view.kinds` is empty.
 */
export function nextFault(view: NemesisView, rnd: () => number): Fault {
  const kinds = view.kinds.filter((k) => k !== 'node-join' || view.spare !== null);
  if (kinds.length === 0) throw new Error('nemesis: no fault kind to choose from');
  const kind = kinds[Math.floor(rnd() * kinds.length)];
  const node = view.nodes[Math.floor(rnd() * view.nodes.length)];
  const ttl = view.ttlMs;
  switch (kind) {
    case 'node-kill':
    case 'node-poweroff':
      return { kind, target: node, durationMs: between(rnd, 0, 2 * ttl) };
    case 'node-cut':
    case 'node-freeze':
    case 'shoald-stop':
      return { kind, target: node, durationMs: between(rnd, 1000, 2 * ttl + 2000) };
    case 'shoald-restart':
      return { kind, target: node, durationMs: 0 };
    case 'leader-kill':
      return { kind, target: 'leader', durationMs: 0 };
    case 'leader-pause':
      return { kind, target: 'leader', durationMs: between(rnd, 1000, 2 * ttl + 2000) };
    case 'etcd-pause':
      // up to 6 TTLs: the outages of issue 9 (28-37 s at a 5 s TTL) moved healthy units
      return { kind, target: null, durationMs: between(rnd, 1000, 6 * ttl) };
    case 'etcd-restart':
      return { kind, target: null, durationMs: 0 };
    case 'dockerd-pause':
      return { kind, target: null, durationMs: between(rnd, 1000, 2 * ttl + 2000) };
    case 'node-join':
      return { kind, target: view.spare, durationMs: 0 };
  }
}

/** Kinds that may overlap another fault (a join is a one-off, not a fault to combine). */
const COMBINABLE = (k: FaultKind) => k !== 'node-join';

/**
 * A second fault to overlap `first` with (about one round in four), or null: Jepsen-style composed
 * faults such as etcd paused while a node is cut off. Never the same kind twice (nor two etcd
 * faults), never the node `first` hits, never two 'leader' targets. The driver injects it right
 * after `first` and heals both, it first, once the longer of the two durations has passed.
 */
export function nextCompound(view: NemesisView, first: Fault, rnd: () => number): Fault | null {
  if (rnd() >= 0.25 || !COMBINABLE(first.kind)) return null;
  const clash = (k: FaultKind) => k === first.kind
    || (ETCD_FAULTS.includes(k) && ETCD_FAULTS.includes(first.kind));
  const kinds = view.kinds.filter((k) => COMBINABLE(k) && !clash(k));
  if (kinds.length === 0) return null;
  const second = nextFault({ ...view, kinds, nodes: view.nodes.filter((n) => n !== first.target) }, rnd);
  return second.target === 'leader' && first.target === 'leader' ? null : second;
}

/** The nodes whose units may restart or move because of `fault` hitting `node` (the resolved target). */
export function touchedNodes(kind: FaultKind, node: string | null): string[] {
  return node && TOUCHING.includes(kind) ? [node] : [];
}

/**
 * The nodes left out of the during-the-fault check: a node that is cut off, frozen or whose agent
 * is paused keeps its units and cannot know they moved (fleet's model), so a copy there is no fault.
 * A node that is down cannot be observed at all.
 */
export function unobservableDuring(kind: FaultKind, node: string | null): string[] {
  return node && (ISOLATING.includes(kind) || kind === 'node-kill' || kind === 'node-poweroff') ? [node] : [];
}

/** Parses a `--faults` list (comma-separated kinds, `all`, or `-kind` to drop one); throws naming a bad kind. */
export function parseFaultKinds(spec: string): FaultKind[] {
  let kinds: FaultKind[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part === 'all') { kinds = [...FAULT_KINDS]; continue; }
    const drop = part.startsWith('-');
    const k = (drop ? part.slice(1) : part) as FaultKind;
    if (!FAULT_KINDS.includes(k)) throw new Error(`unknown fault kind '${k}' in --faults; known: ${FAULT_KINDS.join(', ')}`);
    if (drop) { if (kinds.length === 0) kinds = [...FAULT_KINDS]; kinds = kinds.filter((x) => x !== k); }
    else if (!kinds.includes(k)) kinds.push(k);
  }
  if (kinds.length === 0) throw new Error('--faults names no fault kind');
  return kinds;
}
