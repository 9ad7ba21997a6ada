/**
 * The chaos campaign's pure parts: the workload generator (over many seeds: only valid, placeable
 * states; every unit file parses; a seed replays the same ops), the nemesis (same seed, same
 * faults; durations and targets in range), the checker (each invariant caught, nothing flagged on
 * a good cluster) and the command line.
 */
import t from 'tap';
import { parseUnit } from '../../src/units';
import { seededRandom } from '../../src/seeded-random';
import {
  applyOp, campaignRandom, CONFLICT_GLOB, expectedUnits, initialOps, newWorkload, nextOp, TEMPLATE, UNIT_KINDS, type WorkloadOp, type WorkloadState,
} from '../../scenarios/chaos-workload';
import { ETCD_FAULTS, FAULT_KINDS, nextCompound, nextFault, parseFaultKinds, touchedNodes, unobservableDuring, type Fault } from '../../scenarios/chaos-nemesis';
import { checkAfterFault, duringFaultProblems, registryProblems, restartProblems, staleProblems, type AfterFault } from '../../scenarios/chaos-check';
import { parseChaosArgs } from '../../scenarios/chaos-report';
import type { NodeView, Observation, SystemdUnitState } from '../../scenarios/checks';

const NODES = ['node1', 'node2', 'node3'];

function run(seed: number, steps: number): { state: WorkloadState; ops: WorkloadOp[] } {
  const state = newWorkload(NODES);
  const ops = initialOps(state);
  const rnd = campaignRandom(seed);
  for (let i = 0; i < steps; i++) {
    const op = nextOp(state, rnd);
    applyOp(state, op);
    ops.push(op);
  }
  return { state, ops };
}

/** The invariants the generator promises after every op. */
function modelProblems(state: WorkloadState): string[] {
  const out: string[] = [];
  const units = [...state.units.values()];
  const placedConflicts = units.filter((u) => u.conflicts && u.desired !== 'inactive');
  if (placedConflicts.length > NODES.length - 1) out.push(`${placedConflicts.length} conflicting units placed`);
  for (const u of units) {
    if (u.machineOf) {
      const target = state.units.get(u.machineOf);
      if (!target) out.push(`${u.name}: MachineOf target ${u.machineOf} gone`);
      else if (u.desired !== 'inactive' && target.desired === 'inactive') out.push(`${u.name}: target ${u.machineOf} inactive`);
    }
    if (u.name === TEMPLATE && u.desired !== 'inactive') out.push('template not inactive');
    try {
      const spec = parseUnit(u.name, u.text, { file: u.name });
      if (u.conflicts && u.conflicts !== CONFLICT_GLOB) out.push(`${u.name}: conflicts ${u.conflicts}`);
      if (u.global !== spec.options.global) out.push(`${u.name}: global is ${u.global}, the file says ${spec.options.global}`);
      if ((u.machineOf ?? '') !== spec.options.machineOf.join(' ')) out.push(`${u.name}: MachineOf differs from the file`);
      if ((u.kind === 'container') !== (spec.container !== undefined)) out.push(`${u.name}: container section`);
      if ((u.kind === 'reserve') !== (spec.resources.cpuMillis > 0)) out.push(`${u.name}: reservation`);
    } catch (err) {
      out.push(`${u.name}: ${(err as Error).message}`);
    }
  }
  return out;
}

t.test('the workload only makes valid, placeable states (100 seeds x 120 ops)', async (t) => {
  let bad = 0;
  const kinds = new Set<string>();
  const types = new Set<string>();
  for (let seed = 1; seed <= 100; seed++) {
    const state = newWorkload(NODES);
    for (const op of initialOps(state)) types.add(op.type);
    const rnd = seededRandom(seed);
    for (let i = 0; i < 120; i++) {
      const op = nextOp(state, rnd);
      applyOp(state, op);
      types.add(op.type);
      const p = modelProblems(state);
      if (p.length && bad++ < 3) t.fail(`seed ${seed} op ${i} ${JSON.stringify(op).slice(0, 200)}: ${p.join('; ')}`);
      for (const u of state.units.values()) kinds.add(u.kind);
    }
  }
  t.equal(bad, 0, 'no invalid state');
  t.same([...kinds].filter((k) => k !== 'template').sort(), [...UNIT_KINDS].sort(), 'every kind of unit made');
  t.same([...types].sort(), ['destroy', 'replace', 'set', 'submit'], 'every kind of op made');
});

t.test('a seed replays the same ops; another seed does not', async (t) => {
  t.same(run(7, 100).ops, run(7, 100).ops);
  t.not(JSON.stringify(run(7, 100).ops), JSON.stringify(run(8, 100).ops));
});

t.test('neighbouring seeds open with different faults (the seed is mixed before mulberry32)', async (t) => {
  const view = { nodes: NODES, spare: 'node4', kinds: FAULT_KINDS, ttlMs: 5000 };
  const firsts = new Set(Array.from({ length: 12 }, (_, i) => nextFault(view, campaignRandom(i + 1)).kind));
  t.ok(firsts.size >= 5, `seeds 1..12 open with ${firsts.size} different faults`);
});

t.test('the initial ops launch one group of every kind, and the template', async (t) => {
  const state = newWorkload(NODES);
  initialOps(state);
  const units = expectedUnits(state);
  t.same([...new Set(units.filter((u) => u.name !== TEMPLATE).map((u) => u.kind))].sort(), [...UNIT_KINDS].sort());
  t.ok(units.every((u) => u.name === TEMPLATE ? u.desired === 'inactive' : u.desired === 'launched'));
  const inst = units.find((u) => u.kind === 'instance')!;
  t.equal(inst.text, state.units.get(TEMPLATE)!.text, 'an instance has its template text');
  const scoped = units.find((u) => u.onlyNodes);
  t.same(scoped?.onlyNodes, ['node1', 'node2'], 'one global limited by metadata');
});

t.test('the nemesis: same seed, same faults; every kind drawn; targets and durations in range', async (t) => {
  const view = { nodes: NODES, spare: 'node4', kinds: FAULT_KINDS, ttlMs: 5000 };
  const draw = (seed: number) => { const r = seededRandom(seed); return Array.from({ length: 300 }, () => nextFault(view, r)); };
  t.same(draw(3), draw(3));
  const faults: Fault[] = draw(3);
  t.same([...new Set(faults.map((f) => f.kind))].sort(), [...FAULT_KINDS].sort());
  for (const f of faults) {
    if (f.kind === 'node-join') t.equal(f.target, 'node4');
    else if (f.kind.startsWith('leader')) t.equal(f.target, 'leader');
    else if (f.kind.startsWith('etcd') || f.kind === 'dockerd-pause') t.equal(f.target, null);
    else t.ok(NODES.includes(f.target!), `${f.kind} on a member`);
    if (f.durationMs < 0 || f.durationMs > 6 * 5000) t.fail(`${f.kind} lasts ${f.durationMs} ms`);
  }
  const r = seededRandom(1);
  for (let i = 0; i < 100; i++) t.not(nextFault({ ...view, spare: null }, r).kind, 'node-join', 'no join without a spare');
  t.throws(() => nextFault({ ...view, kinds: ['node-join'], spare: null }, r), /no fault kind/);
  t.same(touchedNodes('node-kill', 'node2'), ['node2']);
  t.same(touchedNodes('shoald-restart', 'node2'), [], 'a shoald restart keeps its units');
  t.same(touchedNodes('etcd-pause', null), []);
  t.same(unobservableDuring('node-cut', 'node1'), ['node1']);
  t.same(unobservableDuring('shoald-stop', 'node1'), [], 'a stopped shoald must not leave copies: its node is checked');
});

t.test('compound faults: about one round in four; never the same kind, node or two etcd faults', async (t) => {
  const view = { nodes: NODES, spare: 'node4', kinds: FAULT_KINDS, ttlMs: 5000 };
  const r = campaignRandom(5);
  let pairs = 0;
  const n = 2000;
  for (let i = 0; i < n; i++) {
    const first = nextFault(view, r);
    const second = nextCompound(view, first, r);
    if (!second) continue;
    pairs++;
    const bad = second.kind === first.kind || second.kind === 'node-join' || first.kind === 'node-join'
      || (ETCD_FAULTS.includes(first.kind) && ETCD_FAULTS.includes(second.kind))
      || (first.target !== null && first.target === second.target);
    if (bad) t.fail(`bad pair ${JSON.stringify(first)} + ${JSON.stringify(second)}`);
  }
  t.ok(pairs > n * 0.12 && pairs < n * 0.3, `${pairs} compound rounds of ${n}`);
});

t.test('--faults and the command line', async (t) => {
  t.same(parseFaultKinds('node-kill,etcd-pause'), ['node-kill', 'etcd-pause']);
  t.same(parseFaultKinds('-etcd-pause'), FAULT_KINDS.filter((k) => k !== 'etcd-pause'));
  t.throws(() => parseFaultKinds('node-kil'), /unknown fault kind 'node-kil'/);
  t.same(parseChaosArgs(['--seed', '3', '--duration', '90', '--nodes', '4']), { seeds: [3], durationS: 90, nodes: 4, kinds: FAULT_KINDS });
  t.same(parseChaosArgs(['--seed', '1,2']).seeds, [1, 2]);
  t.throws(() => parseChaosArgs(['--duration', 'x']), /--duration wants seconds/);
  t.throws(() => parseChaosArgs(['--bogus']), /unknown argument '--bogus'/);
});

// ---- the checker, on synthetic observations of a settled workload

const on = (pid: number, description = ''): SystemdUnitState => ({ load: 'loaded', active: 'active', sub: 'running', mainPid: pid, description });

/** A settled observation of `state` on 3 nodes: non-globals spread with MachineOf pairs together. */
function settledObs(state: WorkloadState): Observation {
  const nodes: NodeView[] = NODES.map((node, i) => ({ node, machineId: `m${i + 1}`, units: new Map() }));
  const schedule = new Map<string, string>();
  const reported = new Map<string, Map<string, string>>();
  let pid = 100;
  let next = 0;
  const where = new Map<string, number>();
  const desc = (text: string) => /^Description=(.*)$/m.exec(text)![1];
  for (const u of expectedUnits(state)) {
    if (u.desired === 'inactive') continue;
    const targets = u.global ? nodes.filter((n) => !u.onlyNodes || u.onlyNodes.includes(n.node)) : [nodes[u.machineOf ? where.get(u.machineOf)! : (next++ % 3)]];
    if (!u.global) where.set(u.name, nodes.indexOf(targets[0]));
    for (const n of targets) {
      n.units.set(u.name, u.desired === 'launched' ? on(pid++, desc(u.text)) : { load: 'loaded', active: 'inactive', sub: 'dead', mainPid: 0 });
      if (!u.global) schedule.set(u.name, n.machineId);
      if (u.desired === 'launched') reported.set(u.name, new Map([...(reported.get(u.name) ?? []), [n.machineId, 'active']]));
    }
  }
  return { nodes, schedule, machines: new Set(['m1', 'm2', 'm3']), reported };
}

function goodCase(): { state: WorkloadState; a: AfterFault } {
  const state = newWorkload(NODES);
  initialOps(state);
  const units = expectedUnits(state);
  const obs = settledObs(state);
  const registry = { texts: new Map(units.map((u) => [u.name, u.text])), desired: new Map(units.map((u) => [u.name, u.desired as string])) };
  const pids = new Map<string, number>();
  for (const n of obs.nodes) for (const [u, s] of n.units) if (s.mainPid) pids.set(`${u}@${n.node}`, s.mainPid);
  return { state, a: { units, obs, settled: true, waitedMs: 1000, registry, pidsBefore: pids, touched: [], changed: new Set() } };
}

t.test('the checker finds nothing wrong with a settled cluster', async (t) => {
  t.same(checkAfterFault(goodCase().a), []);
});

t.test('the checker catches each violated invariant', async (t) => {
  const plain = (a: AfterFault) => a.units.find((u) => u.kind === 'plain')!.name;
  const hostOf = (a: AfterFault, name: string) => a.obs.nodes.find((n) => n.units.has(name))!;

  let { a } = goodCase();
  const p = plain(a);
  const other = a.obs.nodes.find((n) => !n.units.has(p))!;
  other.units.set(p, on(999));
  t.match(checkAfterFault(a).join('\n'), /unsettled.*on 2 nodes/, 'a unit on two machines');

  ({ a } = goodCase());
  hostOf(a, p).units.delete(p);
  t.match(checkAfterFault(a).join('\n'), /not launched on any node/, 'a unit running nowhere');
  t.match(checkAfterFault(a).join('\n'), /restarted: .* gone from it/, 'and gone from its untouched machine');
  a.touched = [hostOf(goodCase().a, p).node];
  t.notMatch(checkAfterFault(a).join('\n'), /restarted/, 'unless its machine was touched');

  ({ a } = goodCase());
  const g = a.units.find((u) => u.global && !u.onlyNodes)!.name;
  a.obs.nodes[2].units.delete(g);
  t.match(checkAfterFault(a).join('\n'), /global, not active on node3/, 'a global missing on one machine');

  ({ a } = goodCase());
  const scoped = a.units.find((u) => u.onlyNodes)!.name;
  a.obs.nodes[2].units.set(scoped, on(5));
  t.match(checkAfterFault(a).join('\n'), /active on node3/, 'a global on a machine its metadata does not match');

  ({ a } = goodCase());
  const cf = a.units.find((u) => u.kind === 'conflict')!;
  const second = { ...cf, name: cf.name.replace(/-(\d+)\./, '-99.') };
  a.units.push(second);
  a.registry.texts.set(second.name, second.text);
  a.registry.desired.set(second.name, 'launched');
  hostOf(a, cf.name).units.set(second.name, on(77));
  a.obs.schedule.set(second.name, hostOf(a, cf.name).machineId);
  a.obs.reported.set(second.name, new Map([[hostOf(a, cf.name).machineId, 'active']]));
  t.match(checkAfterFault(a).join('\n'), /conflicts with/, 'a Conflicts= pair on one machine');

  ({ a } = goodCase());
  const follower = a.units.find((u) => u.machineOf)!;
  const fromNode = hostOf(a, follower.name);
  const toNode = a.obs.nodes.find((n) => n !== fromNode)!;
  toNode.units.set(follower.name, fromNode.units.get(follower.name)!);
  fromNode.units.delete(follower.name);
  a.obs.schedule.set(follower.name, toNode.machineId);
  a.obs.reported.set(follower.name, new Map([[toNode.machineId, 'active']]));
  t.match(checkAfterFault(a).join('\n'), /MachineOf=.* but they run on/, 'a follower away from its target');

  ({ a } = goodCase());
  a.registry.texts.delete(p);
  t.match(registryProblems(a.units, a.registry).join('\n'), /lost: .* not in the registry/, 'a submitted unit gone from the registry');
  ({ a } = goodCase());
  a.registry.desired.set(p, 'loaded');
  t.match(registryProblems(a.units, a.registry).join('\n'), /desired launched but the registry says loaded/);
  a.registry.texts.set('scn-zombie.service', 'x');
  t.match(registryProblems(a.units, a.registry).join('\n'), /scn-zombie.service destroyed but still/);

  ({ a } = goodCase());
  hostOf(a, p).units.set(p, on(4242, hostOf(a, p).units.get(p)!.description));
  t.match(restartProblems(a.pidsBefore, new Map([...a.pidsBefore, [`${p}@${hostOf(a, p).node}`, 4242]]), [], new Set(), a.units).join('\n'),
    /restarted: .* MainPID \d+ -> 4242/, 'a new MainPID on an untouched machine');
  t.same(restartProblems(a.pidsBefore, new Map(), [], new Set(a.units.map((u) => u.name)), a.units), [], 'units changed by an op may restart');

  ({ a } = goodCase());
  hostOf(a, p).units.get(p)!.description = 'shoal chaos plain unit x v0';
  t.match(staleProblems(a.units, a.obs.nodes).join('\n'), /stale: .* runs v0, v1 was submitted/, 'an old version still running');
});

t.test('during a fault: a unit on two machines that can act, or a Conflicts= pair together', async (t) => {
  const { a } = goodCase();
  t.same(duringFaultProblems(a.units, a.obs.nodes), []);
  const p = a.units.find((u) => u.kind === 'plain')!.name;
  const free = a.obs.nodes.find((n) => !n.units.has(p))!;
  free.units.set(p, on(1));
  t.match(duringFaultProblems(a.units, a.obs.nodes).join('\n'), /doubled during the fault: .* active on/);
  t.same(duringFaultProblems(a.units, a.obs.nodes.filter((n) => n !== free)), [], 'a node left out (cut off) is not counted');
});
