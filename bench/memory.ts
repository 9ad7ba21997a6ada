/**
 * shoald memory and cold start on the testbed: 3 nodes, node1 running shoald as deployed (engine + agent + API
 * + web), node2 and node3 agent-only (deploy/shoald-agent-only.conf: SHOAL_ROLES=agent, --lite-mode); UNITS_PER_NODE units per node (default
 * 100) submitted in one batch and reported active, then shoald's RSS per node (max of 5 samples over 5 s after
 * a 5 s settle; then the median and max of 15 samples over the next 30 s, the steady state), its RssAnon/RssFile and its heap as V8 reports it in the log (SIGUSR2). Then the cold start:
 * shoald restarted RESTARTS times (default 3) in node1 and node3, each start's `uptimeMs` at its "starting"
 * (node up + modules loaded + config) and "machine registered" (holds its machine again) log lines, with the
 * host's load average beside them (timing figures on a shared machine are only as good as its load).
 * Run as root: `npm run bench:memory [-- UNITS_PER_NODE [RESTARTS]]`. BENCH_NODE_FLAGS='--flag ...' runs
 * shoald with other node flags (a drop-in in each node) instead of those of testbed/nodecfg/system/shoald.service.
 * Target: ≤ 60 MiB per node at 100 units; a cold start well under the machine TTL (testbed: 10 s).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { EtcdRegistry } from '../src/etcd/registry-etcd';
import { applyBatch } from '../src/api/batch-ops';
import { lockTestbed, unlockTestbed } from '../src/testbed/lock';
import { testbedEtcd } from '../src/testbed/etcd';

const TB = join(resolve(__dirname, '..', '..'), 'testbed');

/** Runs a testbed script; rejects with its stderr. */
export function tbScript(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((res, rej) => execFile(join(TB, args[0]), args.slice(1), { env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 300_000 },
    (err, out, errOut) => (err ? rej(new Error(`testbed/${args.join(' ')}: ${errOut || err.message}`)) : res(out))));
}

const PER_NODE = Number(process.argv[2] ?? 100);
const RESTARTS = Number(process.argv[3] ?? 3);
const NODES = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes a runtime drop-in for shoald in `node` (no restart). */
function dropIn(node: string, name: string, text: string): Promise<string> {
  return tbScript(['node', 'exec', node, 'sh', '-c',
    `mkdir -p /run/systemd/system/shoald.service.d && printf '${text}' > /run/systemd/system/shoald.service.d/${name}.conf`]);
}

/**
 * Restarts shoald in every node with other node flags (a runtime drop-in replacing its ExecStart). Words
 * of `flags` of the form NAME=VALUE (e.g. MALLOC_ARENA_MAX=2) are shoald's environment instead.
 */
export async function useNodeFlags(nodes: string[], flags: string): Promise<void> {
  const words = flags.split(/\s+/).filter(Boolean);
  const env = words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w));
  const node = words.filter((w) => !env.includes(w)).join(' ');
  await Promise.all(nodes.map(async (n) => {
    await dropIn(n, 'flags', `[Service]\nExecStart=\nExecStart=/usr/bin/node ${node} /opt/shoal/bin/shoald\n${env.map((e) => `Environment=${e}\n`).join('')}`);
    await tbScript(['node', 'exec', n, 'sh', '-c', 'systemctl daemon-reload && systemctl restart shoald']);
  }));
  await sleep(3000);
}

/**
 * Makes `nodes` agent-only as deploy/shoald-agent-only.conf does (SHOAL_ROLES=agent and --lite-mode in a drop-in;
 * the unit's Environment= wins over the node's; BENCH_AGENT_FLAGS=default leaves the flags) and restarts them.
 */
async function agentOnly(nodes: string[]): Promise<void> {
  const conf = readFileSync(join(TB, '..', 'deploy', 'shoald-agent-only.conf'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
    .filter((l) => process.env.BENCH_AGENT_FLAGS !== 'default' || !l.includes('SHOAL_NODE_FLAGS'));
  await Promise.all(nodes.map(async (n) => {
    await dropIn(n, 'roles', `${conf.join('\\n')}\\n`);
    await tbScript(['node', 'exec', n, 'sh', '-c', 'systemctl daemon-reload && systemctl restart shoald']);
  }));
}

/** `uptimeMs` of the last log line of shoald matching `what` since `cursor` (a journal cursor), or NaN. */
async function loggedUptime(node: string, what: string, cursor: string): Promise<number> {
  const out = await tbScript(['node', 'exec', node, 'sh', '-c', `journalctl -u shoald -o cat --no-pager --after-cursor='${cursor}' | grep '${what}' | tail -1`]);
  return Number(/uptimeMs[=":]+(\d+)/.exec(out)?.[1] ?? NaN);
}

/**
 * Restarts shoald in `node` and waits until it registered its machine again; returns the new process's
 * uptime at its "starting" and "machine registered" lines (ms since exec) and the host's 1-min load average.
 */
async function coldStart(node: string): Promise<{ startingMs: number; registeredMs: number; load: number }> {
  const cursor = (await tbScript(['node', 'exec', node, 'sh', '-c', 'journalctl -u shoald -n 0 --show-cursor --no-pager | sed -n "s/^-- cursor: //p"'])).trim();
  const load = loadavg()[0];
  await tbScript(['node', 'exec', node, 'systemctl', 'restart', 'shoald']);
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(500)) {
    const registeredMs = await loggedUptime(node, 'machine registered', cursor);
    if (!Number.isNaN(registeredMs)) return { startingMs: await loggedUptime(node, 'starting', cursor), registeredMs, load };
  }
  throw new Error(`${node}: shoald did not register its machine within 60 s of a restart`);
}

/** Signals the shoald started with --heapsnapshot-signal=SIGPWR (seen from the host) and copies its snapshot to `to`. */
async function heapSnapshot(to: string): Promise<void> {
  const pid = (await new Promise<string>((res) => execFile('pgrep', ['-f', 'heapsnapshot-signal=SIGPWR'], (_e, out) => res(out)))).trim().split('\n')[0];
  if (!pid) throw new Error('no shoald with --heapsnapshot-signal found');
  process.kill(Number(pid), 'SIGPWR');
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(1000)) {
    const dir = `/proc/${pid}/root/tmp`;
    const { readdirSync, copyFileSync, statSync } = await import('node:fs');
    const f = readdirSync(dir).find((x) => x.endsWith('.heapsnapshot'));
    if (f) {
      const size = statSync(join(dir, f)).size;
      await sleep(2000);
      if (size === 0 || statSync(join(dir, f)).size !== size) continue; // still being written
      copyFileSync(join(dir, f), to);
      console.log(`  heap snapshot of ${process.env.BENCH_HEAP_NODE ?? 'node1'}'s shoald: ${to}`);
      return;
    }
  }
  throw new Error('no heap snapshot within 60 s');
}

/** shoald's memory as it logs it on SIGUSR2 (see memoryFigures in src/daemon/main.ts). */
async function shoaldMemoryLog(node: string): Promise<string> {
  await tbScript(['node', 'exec', node, 'systemctl', 'kill', '-s', 'USR2', '--kill-who=main', 'shoald']);
  await sleep(500);
  const out = await tbScript(['node', 'exec', node, 'sh', '-c', 'journalctl -u shoald -o cat --no-pager | grep -E \'^memory |"memory"|msg=memory\' | tail -1']);
  return out.trim();
}

/** RssAnon and RssFile of shoald, KiB. */
async function shoaldRssSplit(node: string): Promise<string> {
  const out = await tbScript(['node', 'exec', node, 'sh', '-c', 'grep -E "RssAnon|RssFile" /proc/$(systemctl show -p MainPID --value shoald)/status']);
  return out.replace(/\s+/g, ' ').trim();
}

/** shoald's VmRSS in a node, KiB. */
export async function shoaldRssKib(node: string, service = 'shoald'): Promise<number> {
  const out = await tbScript(['node', 'exec', node, 'sh', '-c', `grep VmRSS /proc/$(systemctl show -p MainPID --value ${service})/status`]);
  return Number(/VmRSS:\s+(\d+)/.exec(out)?.[1] ?? NaN);
}

/** Waits until `n` units report active (polling etcd every 250 ms); throws after `timeoutMs`. */
export async function waitActive(reg: EtcdRegistry, n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const active = (await reg.listStates()).value.filter((e) => e.state.activeState === 'active').length;
    if (active >= n) return;
    if (Date.now() > end) throw new Error(`only ${active}/${n} units active after ${timeoutMs} ms`);
    await sleep(250);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:memory needs root (it runs the testbed)');
  await lockTestbed(TB, 900_000, (holder) => console.error(`waiting for the testbed held by ${holder}`));
  const env = { SHOAL_TESTBED_OWNER: String(process.pid) };
  const nodes = Array.from({ length: NODES }, (_, i) => `node${i + 1}`);
  // made once the testbed is up: its etcd's certificates are made by testbed/up
  let reg = undefined as unknown as EtcdRegistry;
  try {
    await tbScript(['up', String(NODES)], env);
    reg = new EtcdRegistry({ ...testbedEtcd(TB), callTimeoutMs: 10_000 });
    const flags = process.env.BENCH_NODE_FLAGS;
    if (flags !== undefined) await useNodeFlags(nodes, flags);
    // BENCH_HEAP_SNAPSHOT=FILE: node1's shoald (BENCH_HEAP_NODE=node3: an agent-only one) writes a heap snapshot on
    // SIGPWR (taken after the RSS figures)
    const snapshot = process.env.BENCH_HEAP_SNAPSHOT;
    const snapshotNode = process.env.BENCH_HEAP_NODE ?? nodes[0];
    if (snapshot) await useNodeFlags([snapshotNode], `${flags ?? '--max-semi-space-size=1 --optimize-for-size'} --heapsnapshot-signal=SIGPWR --diagnostic-dir=/tmp`);
    await agentOnly(nodes.slice(1));
    for (const end = Date.now() + 60_000; (await reg.listMachines()).value.length < NODES; await sleep(250)) {
      if (Date.now() > end) throw new Error('the agent-only nodes did not register again within 60 s');
    }
    await sleep(3000);
    const idle = await Promise.all(nodes.map((n) => shoaldRssKib(n)));
    const total = PER_NODE * NODES;
    const units = Array.from({ length: total }, (_, i) => ({ name: `mem-${i}.service`, text: '[Service]\nExecStart=/bin/sleep infinity\n' }));
    await applyBatch(reg, { action: 'submit', units, state: 'launched' });
    await waitActive(reg, total, 180_000);
    const perNode = new Map<string, number>();
    for (const e of (await reg.listStates()).value) perNode.set(e.machine, (perNode.get(e.machine) ?? 0) + 1);
    await sleep(5000);
    const max = nodes.map(() => 0);
    for (let s = 0; s < 5; s++) {
      const now = await Promise.all(nodes.map((n) => shoaldRssKib(n)));
      now.forEach((v, i) => { max[i] = Math.max(max[i], v); });
      await sleep(1000);
    }
    const mib = (k: number) => (k / 1024).toFixed(1);
    const role = (i: number) => (i === 0 ? 'engine+agent' : 'agent only');
    console.log(`shoald RSS per node, ${total} units active (${[...perNode.values()].join('/')} per node)${flags !== undefined ? `, node flags: ${flags || '(none)'}` : ''}:`);
    nodes.forEach((n, i) => console.log(`  ${n} (${role(i)}): idle ${mib(idle[i])} MiB, with units ${mib(max[i])} MiB`));
    for (const n of [nodes[0], nodes[NODES - 1]]) {
      console.log(`  ${n}: ${await shoaldRssSplit(n)}`);
      console.log(`  ${n}: ${await shoaldMemoryLog(n)}`);
    }
    if (snapshot) await heapSnapshot(snapshot);
    const worst = Math.max(...max) / 1024;
    console.log(`max ${worst.toFixed(1)} MiB  [target ≤ 60: ${worst <= 60 ? 'met' : 'MISSED'}]`);
    // the steady state: V8's heap grows in steps and shrinks at its GCs, so one moment's RSS swings ±2 MiB
    const steady: number[][] = nodes.map(() => []);
    for (let s = 0; s < 15; s++) {
      (await Promise.all(nodes.map((n) => shoaldRssKib(n)))).forEach((v, i) => steady[i].push(v));
      await sleep(2000);
    }
    const medians = steady.map((xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
    console.log(`steady state, 30 s later (15 samples): ${nodes.map((n, i) => `${n} median ${mib(medians[i])} max ${mib(Math.max(...steady[i]))}`).join('; ')} MiB`);
    const worstMedian = Math.max(...medians) / 1024;
    console.log(`worst median ${worstMedian.toFixed(1)} MiB  [target ≤ 60: ${worstMedian <= 60 ? 'met' : 'MISSED'}]`);
    // BENCH_VARIANTS='FLAGS;FLAGS...': each in turn on every node (shoald restarted, units adopted), RSS after 20 s
    for (const variant of (process.env.BENCH_VARIANTS ?? '').split(';').map((v) => v.trim()).filter(Boolean)) {
      await useNodeFlags(nodes, variant);
      await sleep(20_000);
      const vmax = nodes.map(() => 0);
      for (let s = 0; s < 5; s++) {
        (await Promise.all(nodes.map((n) => shoaldRssKib(n)))).forEach((v, i) => { vmax[i] = Math.max(vmax[i], v); });
        await sleep(1000);
      }
      console.log(`variant ${variant}: ${nodes.map((n, i) => `${n} ${mib(vmax[i])}`).join(', ')} MiB; ${await shoaldRssSplit(nodes[NODES - 1])}; ${await shoaldMemoryLog(nodes[NODES - 1])}`);
    }
    if (process.env.BENCH_VARIANTS) await useNodeFlags(nodes, flags ?? '--max-semi-space-size=1 --optimize-for-size');
    // cold start: restarts with the units running (they are adopted, not restarted)
    for (const [i, n] of [[0, nodes[0]], [NODES - 1, nodes[NODES - 1]]] as const) {
      const runs = [];
      for (let r = 0; r < RESTARTS; r++) runs.push(await coldStart(n));
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      console.log(`cold start ${n} (${role(i)}), ${RESTARTS} restarts: exec → "starting" ${runs.map((r) => r.startingMs).join('/')} ms, `
        + `→ "machine registered" ${runs.map((r) => r.registeredMs).join('/')} ms (median ${med(runs.map((r) => r.registeredMs))}), `
        + `host load average ${runs.map((r) => r.load.toFixed(1)).join('/')}`);
    }
  } finally {
    reg?.close();
    await tbScript(['down'], env).catch((e) => console.error(String(e)));
    unlockTestbed();
  }
}

if (require.main === module) main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
