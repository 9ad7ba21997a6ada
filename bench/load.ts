/**
 * Load-report budget bench (issue 12): a real etcd, MACHINES simulated agents each running the real
 * LoadReporter (significant-change rule, one sample per interval) with 100 units, over SIM_MINUTES of
 * simulated time in 5 s samples. Unit use follows three workloads: idle (a few millicores of noise), steady
 * (services at their own level with ±15 % noise, an occasional shift), bursty (every unit a ±30 % random walk).
 * Prints etcd writes per machine per minute (the budget: at most 12, one per 5 s interval), bytes per
 * write, and checks the count against etcd's revision (every put is one revision).
 * Usage: npm run bench:load [-- MACHINES SIM_MINUTES UNITS]
 */
import { startEtcd } from '../test/helpers/etcd-server';
import { EtcdRegistry } from '../src/etcd/registry-etcd';
import type { MachineLoad, MachineSession } from '../src/etcd/registry';
import { LoadReporter, LOAD_INTERVAL_MS } from '../src/agent/load-reporter';
import type { LoadSource } from '../src/agent/load-sampler';
import type { Clock } from '../src/agent/clock';
import { silentLogger } from '../src/log';
import { seededRandom } from '../src/seeded-random';

const MACHINES = Number(process.argv[2] ?? 20);
const MINUTES = Number(process.argv[3] ?? 10);
const UNITS = Number(process.argv[4] ?? 100);
const MiB = 1024 ** 2;

type Workload = 'idle' | 'steady' | 'bursty';

/** A machine whose units' use follows `w`; deterministic per seed. */
function source(w: Workload, seed: number, clock: { now: number }): LoadSource {
  const rnd = seededRandom(seed);
  const units = Array.from({ length: UNITS }, (_, i) => ({ name: `u${i}.service`, level: 20 + rnd() * 280, mem: (30 + rnd() * 200) * MiB }));
  return {
    async sample() {
      const out: MachineLoad['units'] = {};
      let total = 0;
      for (const u of units) {
        if (w === 'idle') {
          u.level = 5;
          out[u.name] = { cpuMillis: Math.max(0, Math.round(5 + (rnd() - 0.5) * 6)), memoryBytes: Math.round(20 * MiB + (rnd() - 0.5) * 2 * MiB) };
        } else if (w === 'steady') {
          if (rnd() < 0.01) u.level = 20 + rnd() * 280; // a service's load shifts now and then
          u.mem *= 1.001;
          out[u.name] = { cpuMillis: Math.round(u.level * (1 + (rnd() - 0.5) * 0.3)), memoryBytes: Math.round(u.mem) };
        } else {
          u.level = Math.min(2000, Math.max(5, u.level * (1 + (rnd() - 0.5) * 0.6)));
          u.mem = Math.max(10 * MiB, u.mem * (1 + (rnd() - 0.5) * 0.2));
          out[u.name] = { cpuMillis: Math.round(u.level), memoryBytes: Math.round(u.mem) };
        }
        total += out[u.name].cpuMillis;
      }
      return {
        at: new Date(clock.now).toISOString(), cpuMillis: Math.min(8000, total), cpuTotalMillis: 8000,
        memAvailableBytes: Math.round(16 * 1024 * MiB * (0.5 + (rnd() - 0.5) * 0.02)), memTotalBytes: 16 * 1024 * MiB,
        diskFreeBytes: 50 * 1024 * MiB, diskTotalBytes: 100 * 1024 * MiB, units: out,
      };
    },
  };
}

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const reg = new EtcdRegistry({ endpoints: [etcd.endpoint], prefix: '/bench-load/', callTimeoutMs: 10_000 });
  try {
    console.log(`load reports: ${MACHINES} machines × ${UNITS} units, ${MINUTES} simulated minutes, one sample per ${LOAD_INTERVAL_MS / 1000} s (budget: ${60_000 / LOAD_INTERVAL_MS} writes/machine/min)`);
    console.log('workload   writes/machine/min   max/machine/min   bytes/write   etcd revisions = writes');
    for (const w of ['idle', 'steady', 'bursty'] as Workload[]) {
      const sim = { now: Date.parse('2026-11-30T00:00:00Z') };
      const clock: Clock = { now: () => sim.now, setTimeout: () => undefined, clearTimeout: () => undefined };
      const sessions: MachineSession[] = [];
      const reporters: LoadReporter[] = [];
      let bytes = 0;
      for (let m = 0; m < MACHINES; m++) {
        const s = await reg.register({ id: `${w}-m${m}`, metadata: {}, capacity: { cpuMillis: 8000, memoryBytes: 16 * 1024 * MiB }, version: 'bench', startedAt: '' }, 60);
        // count the bytes each write carries
        const counted: MachineSession = { ...s, machineId: s.machineId, lost: s.lost, reportLoad: (l) => { bytes += JSON.stringify(l).length; return s.reportLoad(l); } };
        sessions.push(s);
        const r = new LoadReporter({ source: source(w, m + 1, sim), units: () => [], clock, log: silentLogger });
        r.setSession(counted);
        reporters.push(r);
      }
      const rev0 = Number((await reg.listMachines()).revision);
      const perMinute: number[][] = reporters.map(() => []);
      const steps = (MINUTES * 60_000) / LOAD_INTERVAL_MS;
      for (let i = 0; i < steps; i++) {
        const before = reporters.map((r) => r.writes);
        await Promise.all(reporters.map((r) => r.tick()));
        const minute = Math.floor((i * LOAD_INTERVAL_MS) / 60_000);
        reporters.forEach((r, k) => { perMinute[k][minute] = (perMinute[k][minute] ?? 0) + r.writes - before[k]; });
        sim.now += LOAD_INTERVAL_MS;
      }
      const rev1 = Number((await reg.listMachines()).revision);
      const writes = reporters.reduce((a, r) => a + r.writes, 0);
      // the first minute includes each machine's first report; the steady rate is over the rest
      const later = perMinute.flatMap((m) => m.slice(1));
      const rate = later.reduce((a, b) => a + b, 0) / later.length;
      const max = Math.max(...perMinute.flat());
      console.log(`${w.padEnd(10)} ${rate.toFixed(2).padStart(18)}   ${String(max).padStart(15)}   ${String(Math.round(bytes / Math.max(1, writes))).padStart(11)}   ${rev1 - rev0} = ${writes} ${rev1 - rev0 === writes ? 'ok' : 'MISMATCH'}`);
      for (const r of reporters) r.close();
      await Promise.all(sessions.map((s) => s.close()));
    }
  } finally {
    reg.close();
    await etcd.close();
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
