/**
 * AgentViewState keeps parsed only the units this machine may run (assigned here, globals), yet decides
 * exactly as a view holding every unit parsed: checked over generated event sequences (seeded; a failure
 * prints its seed). Pure logic: the registry is an in-memory stand-in for its four reads.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { AgentViewState } from '../../src/agent/agent-view';
import { wantedUnits } from '../../src/agent/desired';
import type { AgentRegistry, RegistryEvent, UnitRecord } from '../../src/etcd/registry';
import { silentLogger } from '../../src/log';
import { seededRandom } from '../../src/seeded-random';
import { parseUnit } from '../../src/units/unit';
import type { TargetState, UnitSpec } from '../../src/units/types';

const ME = 'm1';
const TEXTS = [
  '[Service]\nExecStart=/bin/sleep 1000\n',
  '[Service]\nExecStart=/bin/sleep 2000\n[X-Fleet]\nConflicts=u1*\n',
  '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n',
  '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineMetadata=role=web\n',
  '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineMetadata=role=db\n',
  '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nConflicts=u2*\n',
  '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=perhaps\n', // does not parse
];
const NAMES = Array.from({ length: 12 }, (_, i) => `u${i}.service`);
const TARGETS: TargetState[] = ['inactive', 'loaded', 'launched'];

const record = (name: string, text: string): UnitRecord => ({ name, text, hash: createHash('sha1').update(text).digest('hex') });
const parse = (r: UnitRecord): UnitSpec => parseUnit(r.name, r.text);

/** etcd as the generated events leave it. */
interface Model {
  units: Map<string, UnitRecord>;
  desired: Map<string, TargetState>;
  assigned: Set<string>;
  metadata: Map<string, string>;
}

function registryOf(m: Model): AgentRegistry {
  const rev = <T>(value: T) => Promise.resolve({ value, revision: 1 });
  return {
    listUnits: () => rev([...m.units.values()]),
    listDesired: () => rev(new Map(m.desired)),
    listAssigned: () => rev([...m.assigned]),
    getMetadata: () => Promise.resolve(new Map(m.metadata)),
  } as unknown as AgentRegistry;
}

/** What a view holding every unit parsed decides. */
function expected(m: Model) {
  const units = new Map<string, UnitSpec>();
  const unparsed = new Set<string>();
  for (const [name, r] of m.units) {
    try { units.set(name, parse(r)); } catch { unparsed.add(name); }
  }
  const metadata = { role: 'web', ...Object.fromEntries(m.metadata) };
  return { decision: wantedUnits({ units, desired: m.desired, assigned: m.assigned, metadata }), unparsed };
}

const summary = (d: ReturnType<typeof wantedUnits>) => ({
  wanted: d.wanted.map((w) => `${w.spec.name} ${w.target} ${w.source} ${w.spec.hash}`),
  skipped: d.skipped.map((s) => `${s.unit}: ${s.reason}`),
});

/** One generated change to etcd, as the watch delivers it. */
function step(r: () => number, m: Model): RegistryEvent {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const unit = pick(NAMES);
  switch (Math.floor(r() * 5)) {
    case 0: {
      const value = r() < 0.85 ? record(unit, pick(TEXTS)) : null;
      if (value) m.units.set(unit, value); else m.units.delete(unit);
      return { type: 'unit', unit, value };
    }
    case 1: {
      const value = r() < 0.9 ? pick(TARGETS) : null;
      if (value) m.desired.set(unit, value); else m.desired.delete(unit);
      return { type: 'desired', unit, value };
    }
    case 2: {
      const value = r() < 0.6;
      if (value) m.assigned.add(unit); else m.assigned.delete(unit);
      return { type: 'assigned', machine: ME, unit, value };
    }
    case 3: return { type: 'assigned', machine: 'm2', unit, value: r() < 0.5 };
    default: {
      const value = r() < 0.6 ? pick(['web', 'db']) : null;
      if (value) m.metadata.set('role', value); else m.metadata.delete('role');
      return { type: 'metadata', machine: ME, key: 'role', value };
    }
  }
}

t.test('the view decides as one with every unit parsed, keeping only assigned and global units parsed', async (t) => {
  const seeds = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 200 }, (_, i) => i + 1);
  for (const seed of seeds) {
    const r = seededRandom(seed);
    const m: Model = { units: new Map(), desired: new Map(), assigned: new Set(), metadata: new Map() };
    for (let i = 0; i < 6; i++) step(r, m); // etcd before the agent's first read
    const view = new AgentViewState(ME, { role: 'web' }, parse, silentLogger);
    await view.readAll(registryOf(m));
    for (let i = 0; i < 60; i++) {
      if (r() < 0.05) await view.readAll(registryOf(m)); // a re-read after a compaction or an outage
      else {
        // a watch batch of 1-3 events
        const batch = Array.from({ length: 1 + Math.floor(r() * 3) }, () => step(r, m));
        view.apply(batch);
      }
      const want = expected(m);
      const snap = view.snapshot();
      const got = wantedUnits(snap);
      if (JSON.stringify(summary(got)) !== JSON.stringify(summary(want.decision))) {
        t.same(summary(got), summary(want.decision), `seed ${seed}, step ${i}: same decision`);
        return;
      }
      const frozen = [...view.frozen()].sort();
      if (JSON.stringify(frozen) !== JSON.stringify([...want.unparsed].sort())) {
        t.same(frozen, [...want.unparsed].sort(), `seed ${seed}, step ${i}: the same units left alone (unparsable)`);
        return;
      }
      const extra = [...snap.units.values()].filter((s) => !s.options.global && !m.assigned.has(s.name)).map((s) => s.name);
      if (extra.length) {
        t.same(extra, [], `seed ${seed}, step ${i}: no unit kept parsed that is neither assigned here nor global`);
        return;
      }
    }
  }
  t.pass(`${seeds.length} sequences of 60 watch batches`);
});

t.test('a watch batch that changes what the agent decides, or which units it leaves alone, says so (a pass follows)', async (t) => {
  const seeds = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 300 }, (_, i) => i + 1);
  const state = (view: AgentViewState) => JSON.stringify({ decision: summary(wantedUnits(view.snapshot())), frozen: [...view.frozen()].sort() });
  for (const seed of seeds) {
    const r = seededRandom(seed);
    const m: Model = { units: new Map(), desired: new Map(), assigned: new Set(), metadata: new Map() };
    for (let i = 0; i < 6; i++) step(r, m);
    const view = new AgentViewState(ME, { role: 'web' }, parse, silentLogger);
    await view.readAll(registryOf(m));
    for (let i = 0; i < 60; i++) {
      const before = state(view);
      const batch = Array.from({ length: 1 + Math.floor(r() * 3) }, () => step(r, m));
      const changed = view.apply(batch);
      if (!changed && state(view) !== before) {
        t.fail(`seed ${seed}, step ${i}: the batch changed the decision or the frozen units but apply() returned false`, { batch: JSON.stringify(batch.map((e) => (e.type === 'unit' ? { ...e, value: e.value?.text ?? null } : e))) });
        return;
      }
    }
  }
  t.pass(`${seeds.length} sequences of 60 watch batches`);
});
