/**
 * shoald memory on the testbed: 3 nodes running shoald as deployed (engine + agent + API), UNITS_PER_NODE
 * units per node (default 100) submitted in one batch and reported active, then shoald's RSS per node
 * (max of 5 samples over 5 s after a 5 s settle) and its heap as V8 reports it in the log.
 * Run as root: `npm run bench:memory [-- UNITS_PER_NODE]`. BENCH_NODE_FLAGS='--flag ...' runs shoald with other
 * node flags (a drop-in in each node) instead of those of testbed/nodecfg/system/shoald.service.
 * Target: ≤ 60 MiB per node at 100 units.
 */
import { execFile } from 'node:child_process';
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
const NODES = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Restarts shoald in every node with other node flags (a runtime drop-in replacing its ExecStart). */
export async function useNodeFlags(nodes: string[], flags: string): Promise<void> {
  const dropIn = `[Service]\nExecStart=\nExecStart=/usr/bin/node ${flags} /opt/shoal/bin/shoald\n`;
  await Promise.all(nodes.map((n) => tbScript(['node', 'exec', n, 'sh', '-c',
    `mkdir -p /run/systemd/system/shoald.service.d && printf '${dropIn}' > /run/systemd/system/shoald.service.d/flags.conf && systemctl daemon-reload && systemctl restart shoald`])));
  await sleep(3000);
}

/** shoald's memory as it logs it on SIGUSR2 (see memoryFigures in src/daemon/main.ts). */
async function shoaldMemoryLog(node: string): Promise<string> {
  await tbScript(['node', 'exec', node, 'systemctl', 'kill', '-s', 'USR2', '--kill-who=main', 'shoald']);
  await sleep(500);
  const out = await tbScript(['node', 'exec', node, 'sh', '-c', 'journalctl -u shoald -o cat --no-pager | grep \'"memory"\\|msg=memory\' | tail -1']);
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
    console.log(`shoald RSS per node (engine + agent + API), ${total} units active (${[...perNode.values()].join('/')} per node)${flags !== undefined ? `, node flags: ${flags || '(none)'}` : ''}:`);
    nodes.forEach((n, i) => console.log(`  ${n}: idle ${mib(idle[i])} MiB, with units ${mib(max[i])} MiB`));
    for (const n of nodes.slice(0, 1)) {
      console.log(`  ${n}: ${await shoaldRssSplit(n)}`);
      console.log(`  ${n}: ${await shoaldMemoryLog(n)}`);
    }
    const worst = Math.max(...max) / 1024;
    console.log(`max ${worst.toFixed(1)} MiB  [target ≤ 60: ${worst <= 60 ? 'met' : 'MISSED'}]`);
  } finally {
    reg?.close();
    await tbScript(['down'], env).catch((e) => console.error(String(e)));
    unlockTestbed();
  }
}

if (require.main === module) main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
