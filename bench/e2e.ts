/**
 * End-to-end benchmark on the 3-node testbed (real systemd, D-Bus, etcd): brings the testbed up with
 * shoald (engine + agent) in every node — the real leader engine places every unit — and measures
 * through etcd, writing what `shoalctl start` writes (desired state) and watching agent-reported states:
 *  - start latency: desired `launched` written → the agent's reported state `active` seen by watch,
 *    one unit at a time, for units already loaded (warm) and for units submitted+placed+launched at once (cold);
 *  - throughput: 1,000 units submitted in one batch (the API's batch path), placed and launched → all reported
 *    active, with the phases: write, place, agent load, systemd start, report.
 * Run as root: `npm run bench:e2e` (builds first). Tears the testbed down at the end. BENCH_NODE_FLAGS='...' runs
 * shoald with other node flags (see bench/memory.ts). BENCH_LOGS=DIR keeps each node's shoald journal there, and
 * the CPU profiles shoald wrote under the node's /tmp (e.g. with BENCH_NODE_FLAGS='... --cpu-prof
 * --cpu-prof-dir=/tmp'): shoald gets a SIGTERM (no stop job: it exits without draining) to write them.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { UnitStateRecord } from '../src/etcd/registry';
import { EtcdRegistry } from '../src/etcd/registry-etcd';
import { parseUnit } from '../src/units/unit';
import { lockTestbed, unlockTestbed } from '../src/testbed/lock';
import { testbedEtcd } from '../src/testbed/etcd';
import { applyBatch } from '../src/api/batch-ops';
import { useNodeFlags } from './memory';

const ROOT = resolve(__dirname, '..', '..');
const TB = join(ROOT, 'testbed');
const NODES = ['node1', 'node2', 'node3'];
const LATENCY_UNITS = Number(process.env.BENCH_LATENCY_UNITS ?? 120);
const COLD_UNITS = Number(process.env.BENCH_COLD_UNITS ?? 30);
const BULK_UNITS = Number(process.env.BENCH_BULK_UNITS ?? 1000);
const TEXT = '[Service]\nExecStart=/bin/sleep 100000\n';

function sh(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((res, rej) => execFile(file, args, { env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
    (err, out, errOut) => (err ? rej(new Error(`${file} ${args.join(' ')}: ${errOut || err.message}`)) : res(out))));
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++]); }));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:e2e needs root (it runs the testbed)');
  await lockTestbed(TB, 600_000, (holder) => console.error(`waiting for the testbed held by ${holder}`));
  const env = { SHOAL_TESTBED_OWNER: String(process.pid) };
  // made once the testbed is up: its etcd's certificates are made by testbed/up
  let reg = undefined as unknown as EtcdRegistry;
  const lead = new AbortController();
  try {
    await sh(join(TB, 'up'), [String(NODES.length)], env);
    reg = new EtcdRegistry(testbedEtcd(TB));
    if (process.env.BENCH_NODE_FLAGS !== undefined) {
      await useNodeFlags(NODES, process.env.BENCH_NODE_FLAGS);
      console.log(`shoald node flags: ${process.env.BENCH_NODE_FLAGS || '(none)'}`);
    }
    const hash = parseUnit('x.service', TEXT).hash;

    // follow reported states by watch: unit → machine → state
    const waiters = new Map<string, { want: (s: UnitStateRecord) => boolean; resolve: () => void }>();
    const active = new Set<string>();
    // bulk phases: unit → wall-clock ms
    const bulkPlaced = new Map<string, number>();
    const bulkLoaded = new Map<string, number>();
    const bulkActiveSince = new Map<string, number>();
    const bulkActiveSeen = new Map<string, number>();
    let trackBulk = new Set<string>();
    void (async () => {
      for await (const b of reg.watch([{ kind: 'states' }, { kind: 'schedule' }], { signal: lead.signal })) {
        const now = Date.now();
        for (const e of b.events) {
          if (e.type === 'schedule' && e.value && trackBulk.has(e.unit) && !bulkPlaced.has(e.unit)) bulkPlaced.set(e.unit, now);
          if (e.type !== 'state' || !e.value) continue;
          if (trackBulk.has(e.unit)) {
            if (!bulkLoaded.has(e.unit)) bulkLoaded.set(e.unit, Date.parse(e.value.since));
            if (e.value.activeState === 'active' && !bulkActiveSeen.has(e.unit)) { bulkActiveSince.set(e.unit, Date.parse(e.value.since)); bulkActiveSeen.set(e.unit, now); }
          }
          if (e.value.activeState === 'active') active.add(e.unit);
          const w = waiters.get(e.unit);
          if (w && w.want(e.value)) { waiters.delete(e.unit); w.resolve(); }
        }
      }
    })();
    const seen = (unit: string, want: (s: UnitStateRecord) => boolean) => new Promise<void>((r) => waiters.set(unit, { want, resolve: r }));
    // warm: units loaded first, then launched one at a time
    const warm = Array.from({ length: LATENCY_UNITS }, (_, i) => `lat-${i}.service`);
    const loaded = warm.map((u) => seen(u, (s) => s.loadState === 'loaded'));
    await pool(warm, 32, (u) => reg.submitUnit({ name: u, text: TEXT, hash }, { desired: 'loaded' }));
    await Promise.all(loaded);
    const warmMs: number[] = [];
    for (const u of warm) {
      const t0 = performance.now();
      const ok = seen(u, (s) => s.activeState === 'active');
      await reg.setDesired(u, 'launched');
      await ok;
      warmMs.push(performance.now() - t0);
    }
    // cold: submit + launch; the engine places it, the agent writes the file, reloads systemd and starts it
    const coldMs: number[] = [];
    for (let i = 0; i < COLD_UNITS; i++) {
      const u = `cold-${i}.service`;
      const t0 = performance.now();
      const ok = seen(u, (s) => s.activeState === 'active');
      await reg.submitUnit({ name: u, text: TEXT, hash }, { desired: 'launched' });
      await ok;
      coldMs.push(performance.now() - t0);
    }
    // bulk: one batch through the API's batch path; phases from etcd: written, placed (schedule/), loaded by the
    // agent (first state's `since`), active in systemd (active state's `since`), reported (seen by watch)
    const bulk = Array.from({ length: BULK_UNITS }, (_, i) => `bulk-${i}.service`);
    const bulkSet = new Set(bulk);
    bulkLoaded.clear(); bulkActiveSince.clear(); bulkActiveSeen.clear(); bulkPlaced.clear(); trackBulk = bulkSet;
    const cpu0 = await Promise.all(NODES.map(nodeCpu));
    const t0 = performance.now();
    const wall0 = Date.now();
    const all = Promise.all(bulk.map((u) => (active.has(u) ? undefined : seen(u, (s) => s.activeState === 'active'))));
    await applyBatch(reg, { action: 'submit', units: bulk.map((name) => ({ name, text: TEXT })), state: 'launched' });
    const written = performance.now() - t0;
    await all;
    const bulkMs = performance.now() - t0;
    const cpu1 = await Promise.all(NODES.map(nodeCpu));
    const lastOf = (m: Map<string, number>) => Math.max(...m.values()) - wall0;
    const medianDelta = (a: Map<string, number>, b: Map<string, number>) => {
      const d = bulk.filter((u) => a.has(u) && b.has(u)).map((u) => b.get(u)! - a.get(u)!).sort((x, y) => x - y);
      return d.length ? d[Math.floor(d.length / 2)] : NaN;
    };
    const report = (name: string, xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      console.log(`${name}: n=${s.length} p50=${pct(s, 50).toFixed(1)} ms p90=${pct(s, 90).toFixed(1)} ms p99=${pct(s, 99).toFixed(1)} ms max=${s[s.length - 1].toFixed(1)} ms`);
      return s;
    };
    const w = report('start→active, loaded units (warm)', warmMs);
    report('submit+place+launch→active (cold)', coldMs);
    console.log(`${BULK_UNITS} units submitted+placed+launched → all active: ${(bulkMs / 1000).toFixed(2)} s (one batch; writes took ${(written / 1000).toFixed(2)} s)`);
    console.log(`  phases, last unit (ms from the submit): write ${written.toFixed(0)}, place ${lastOf(bulkPlaced)}, agent load ${lastOf(bulkLoaded)}, ` +
      `systemd active ${lastOf(bulkActiveSince)}, report seen ${lastOf(bulkActiveSeen)}`);
    console.log(`  per unit, medians (ms): placed→agent load ${medianDelta(bulkPlaced, bulkLoaded)}, load→active ${medianDelta(bulkLoaded, bulkActiveSince)}, ` +
      `active→seen ${medianDelta(bulkActiveSince, bulkActiveSeen)}`);
    console.log(`  CPU used meanwhile (ms), per node: ${NODES.map((n, i) => `${n} systemd ${cpu1[i].systemd - cpu0[i].systemd}, ` +
      `shoald ${cpu1[i].shoald - cpu0[i].shoald}, units ${cpu1[i].units - cpu0[i].units}`).join('; ')}`);
    console.log(`targets: p99 start→active of a loaded unit ≤ 50 ms: ${pct(w, 99) <= 50 ? 'met' : 'MISSED'}; ` +
      `1,000 units ≤ 4 s: ${bulkMs <= 4000 ? 'met' : 'MISSED'}`);
  } finally {
    lead.abort();
    reg?.close();
    if (process.env.BENCH_LOGS) await keepLogs(process.env.BENCH_LOGS).catch((e) => console.error(`keeping logs: ${String(e)}`));
    await sh(join(TB, 'down'), [], env).catch((e) => console.error(String(e)));
    unlockTestbed();
  }
}

/** CPU time (ms, cgroup v2 usage) of a node's systemd (init.scope), its shoald, and everything else in system.slice (the units). */
async function nodeCpu(node: string): Promise<{ systemd: number; shoald: number; units: number }> {
  const root = `/sys/fs/cgroup/unified/shoal/${node}/payload`;
  const usage = async (cg: string) => {
    const text = await readFile(join(root, cg, 'cpu.stat'), 'utf8').catch(() => '');
    return Math.round(Number(/usage_usec (\d+)/.exec(text)?.[1] ?? NaN) / 1000);
  };
  const [systemd, shoald, slice] = await Promise.all([usage('init.scope'), usage('system.slice/shoald.service'), usage('system.slice')]);
  return { systemd, shoald, units: slice - shoald };
}

/** Copies each node's shoald journal and CPU profiles (/tmp/*.cpuprofile) into `dir`. */
async function keepLogs(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const n of NODES) {
    await sh(join(TB, 'node'), ['exec', n, 'systemctl', 'kill', '-s', 'TERM', 'shoald']).catch(() => undefined);
  }
  await new Promise((r) => setTimeout(r, 3000));
  for (const n of NODES) {
    await writeFile(join(dir, `${n}-shoald.log`), await sh(join(TB, 'node'), ['logs', n, '-u', 'shoald', '-o', 'short-precise', '--no-pager']));
    const root = `/proc/${(await sh(join(TB, 'node'), ['leader', n])).trim()}/root/tmp`;
    const files = await readdir(root).catch(() => [] as string[]);
    for (const f of files.filter((x) => x.endsWith('.cpuprofile'))) await copyFile(join(root, f), join(dir, `${n}-${f}`));
  }
  console.log(`logs kept in ${dir}`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
