/**
 * Scale bench: a real etcd, one shoald engine (own process, roles=engine), 1,000 simulated machines
 * (in a child process: each registers on a lease, watches its assigned/ prefix, and acknowledges every unit
 * placed on it with a state on its lease), 10,000 units submitted as launched in one batch (the API's batch path).
 * Prints: phases (write, place, report), time to converge (every unit scheduled and acknowledged), etcd requests
 * per unit, engine peak RSS.
 * Usage: npm run bench:scale [-- MACHINES UNITS]
 * SCALE_ENGINE_NODE_ARGS: node flags for the engine process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`;
 * SCALE_SIM_NODE_ARGS: the same for the simulated machines' process;
 * SCALE_ENGINE_LOG: a file that gets the engine's whole log (its passes: 'schedule written').
 */
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { startEtcd } from '../test/helpers/etcd-server';
import { EtcdRegistry } from '../src/etcd/registry-etcd';
import type { MachineSession } from '../src/etcd/registry';
import { applyBatch } from '../src/api/batch-ops';
import { StateReporter } from '../src/agent/state-reporter';
import { systemClock } from '../src/agent/clock';
import { silentLogger } from '../src/log';

const MACHINES = Number(process.argv[2] === '--agents' ? 0 : process.argv[2] ?? 1000);
const UNITS = Number(process.argv[3] ?? 10_000);
const CLIENTS = 10; // sim agents share 10 etcd clients (one process cannot afford 1,000 gRPC channels)
const PREFIX = '/bench/';
/** A real agent's wait after a watch event before it reconciles (src/agent/agent.ts, default 10 ms). */
const RECONCILE_DEBOUNCE_MS = 10;

async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: width }, async () => { while (i < items.length) await fn(items[i++]); }));
}

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const api = new EtcdRegistry({ endpoints: [etcd.endpoint], prefix: PREFIX, callTimeoutMs: 30_000 });
  const ac = new AbortController();
  let stopSim = async (): Promise<number> => NaN;
  let engineLog = '';
  try {
    // machines: simulated in a child process (as real agents run elsewhere), so they never starve the submitter
    const t0 = Date.now();
    const simArgs = (process.env.SCALE_SIM_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    const sim = spawn(process.execPath, [...simArgs, __filename, '--agents', etcd.endpoint, String(MACHINES)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let simOut = '';
    const simReady = new Promise<void>((resolve, reject) => {
      sim.stdout!.on('data', (b) => { simOut += b.toString(); if (simOut.includes('ready\n')) resolve(); });
      sim.once('exit', (code) => reject(new Error(`simulated agents exited (${code})`)));
    });
    await simReady;
    console.log(`registered ${MACHINES} machines in ${Date.now() - t0} ms (in a child process)`);
    const simExited = new Promise((r) => sim.once('exit', r));
    stopSim = async () => {
      if (sim.exitCode === null && sim.signalCode === null) sim.kill('SIGTERM');
      await simExited;
      return Number(/requests=(\d+)/.exec(simOut)?.[1] ?? NaN);
    };

    // acknowledgements, counted by watching states/
    const acked = new Set<string>();
    const placed = new Set<string>();
    let convergedAt = 0;
    let firstPlacedAt = 0;
    let placedAt = 0;
    const done = new Promise<void>((resolve) => {
      void (async () => {
        for await (const b of api.watch([{ kind: 'states' }, { kind: 'schedule' }], { signal: ac.signal })) {
          for (const e of b.events) {
            if (e.type === 'state' && e.value) acked.add(e.unit);
            if (e.type === 'schedule' && e.value) { placed.add(e.unit); if (placed.size === 1) firstPlacedAt = Date.now(); if (placed.size === UNITS) placedAt = Date.now(); }
          }
          if (acked.size >= UNITS) { convergedAt = Date.now(); resolve(); return; }
        }
      })();
    });

    // the engine, in its own process
    const nodeArgs = (process.env.SCALE_ENGINE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    const engine = spawn(process.execPath, [...nodeArgs, join(__dirname, '..', 'src', 'daemon', 'main.js'), '--config', '/dev/null'], {
      // its API on a socket of its own and no web page: the machine's /run/shoal/shoal.sock and :7412 are not the bench's
      env: {
        ...process.env, SHOAL_ROLES: 'engine', SHOAL_ETCD: etcd.endpoint, SHOAL_PREFIX: PREFIX, SHOAL_ENGINE_ID: 'bench-engine',
        SHOAL_API_LISTEN: `unix://${join(tmpdir(), `shoal-bench-scale-${process.pid}.sock`)}`, SHOAL_HTTP_LISTEN: '',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const logFile = process.env.SCALE_ENGINE_LOG ? createWriteStream(process.env.SCALE_ENGINE_LOG) : undefined;
    engine.stderr!.on('data', (b) => { logFile?.write(b); engineLog = (engineLog + b.toString()).slice(-20_000); });
    while (!(await api.currentLeader())) await new Promise((r) => setTimeout(r, 20));

    // units: one batch through the API's batch path (validated, then written 64 units per etcd txn)
    const tSubmit = Date.now();
    const units = Array.from({ length: UNITS }, (_, i) => {
      const name = `svc${i}.service`;
      return { name, text: `[Unit]\nDescription=${name}\n[Service]\nExecStart=/bin/sleep infinity\n` };
    });
    const submitReq0 = api.stats.requests;
    const results = await applyBatch(api, { action: 'submit', units, state: 'launched' });
    const submitted = Date.now();
    const submitReq = api.stats.requests - submitReq0;
    if (results.some((r) => r.outcome !== 'created')) throw new Error('a unit was not created');
    console.log(`submitted ${UNITS} units (launched) in ${submitted - tSubmit} ms`);
    await Promise.race([done, new Promise((r) => setTimeout(r, 120_000))]);
    if (!convergedAt) throw new Error(`did not converge in 120 s: ${placed.size}/${UNITS} scheduled, ${acked.size}/${UNITS} acknowledged`);
    const scheduled = (await api.listSchedule()).value.size;

    engine.kill('SIGTERM');
    await new Promise((r) => engine.once('exit', r));
    const usage = /msg="etcd usage" .*requests=(\d+) maxRssMb=(\d+)/.exec(engineLog);
    const engineReq = usage ? Number(usage[1]) : NaN;
    const rss = usage ? Number(usage[2]) : NaN;
    const agentReq = await stopSim();
    console.log(`scheduled: ${scheduled}/${UNITS}, acknowledged: ${acked.size}/${UNITS}`);
    console.log('phases (ms from the first submit):');
    console.log(`  write   ${submitted - tSubmit}  (${Math.ceil(UNITS / 64)} chunks of 64 units)`);
    console.log(`  place   first ${firstPlacedAt - tSubmit}, all ${placedAt - tSubmit}`);
    console.log(`  report  all acknowledged ${convergedAt - tSubmit}`);
    console.log(`converge: ${convergedAt - tSubmit} ms from first submit (${convergedAt - submitted} ms after the last submit)  [target ≤ 3000]`);
    console.log(`etcd requests per unit: submit ${(submitReq / UNITS).toFixed(3)} [target ≤ 0.1], engine ${(engineReq / UNITS).toFixed(3)}, agents ${(agentReq / UNITS).toFixed(3)} (incl. ${MACHINES * 2} for registration)`);
    console.log(`engine peak RSS: ${rss} MB  [target ≤ 200]`);
  } finally {
    ac.abort();
    await stopSim().catch(() => undefined);
    api.close();
    await etcd.close();
  }
}

/** Simulated machines (child process): register MACHINES on CLIENTS etcd clients, acknowledge every placed unit. */
async function simulateMachines(endpoint: string, machines: number): Promise<void> {
  const regs = Array.from({ length: CLIENTS }, () => new EtcdRegistry({ endpoints: [endpoint], prefix: PREFIX, callTimeoutMs: 30_000 }));
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // one signal shared by 1,000 simulated agents' watches
  const sessions: MachineSession[] = [];
  const agents: [EtcdRegistry, MachineSession][] = [];
  const ids = Array.from({ length: machines }, (_, i) => `m${String(i).padStart(4, '0')}`);
  await pool(ids, 64, async (id) => {
    const reg = regs[Number(id.slice(1)) % CLIENTS];
    const s = await reg.register({ id, metadata: { rack: `r${Number(id.slice(1)) % 10}` }, capacity: { cpuMillis: 64_000, memoryBytes: 256 * 2 ** 30 }, version: 'bench', startedAt: new Date().toISOString() }, 30);
    sessions.push(s);
    agents.push([reg, s]);
  });
  // like a real agent's read-then-watch: each watch starts after this revision, so assignments written
  // before its watcher is attached (1,000 of them on a loaded machine take seconds) still arrive
  const from = (await regs[0].listAssigned('-')).revision;
  for (const [reg, s] of agents) void simulateAgent(reg, s, from, ac.signal);
  process.stdout.write('ready\n');
  await new Promise((r) => process.once('SIGTERM', r));
  process.stdout.write(`requests=${regs.reduce((n, r) => n + r.stats.requests, 0)}\n`);
  ac.abort();
  await Promise.all(sessions.map((s) => s.close()));
  for (const r of regs) r.close();
}

/**
 * A simulated agent: reports each unit assigned to it as running, the way a real agent reports (src/agent):
 * a watch burst is settled for the agent's reconcile debounce (10 ms), then the states go through the
 * agent's own StateReporter, which coalesces them and writes up to 128 per transaction on the machine's lease.
 */
async function simulateAgent(reg: EtcdRegistry, s: MachineSession, fromRevision: number, signal: AbortSignal): Promise<void> {
  const reporter = new StateReporter(systemClock, silentLogger);
  reporter.setSession(s);
  const pending: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const reconcile = () => {
    timer = undefined;
    for (const unit of pending.splice(0)) reporter.update(unit, { loadState: 'loaded', activeState: 'active', subState: 'running', hash: '' });
  };
  try {
    for await (const b of reg.watch([{ kind: 'assigned', machine: s.machineId }], { fromRevision, signal })) {
      for (const e of b.events) if (e.type === 'assigned' && e.value) pending.push(e.unit);
      timer ??= setTimeout(reconcile, RECONCILE_DEBOUNCE_MS);
    }
  } catch (err) {
    if (!signal.aborted) console.error(`agent ${s.machineId}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
    reporter.close();
  }
}

if (process.argv[2] === '--agents') {
  simulateMachines(process.argv[3], Number(process.argv[4])).then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
} else {
  main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
}
