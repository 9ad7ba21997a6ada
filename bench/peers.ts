/**
 * shoal beside CoreOS fleet v1.0.0 on the same 3-node testbed, in one run (see ../shared/reference/fleet.md):
 * the same unit (`ExecStart=/bin/sleep infinity`), TTL 5 s for both, each driven through its own CLI.
 * Rows: 1,000 instances (submit template + start --no-block → all active), start → active of a loaded unit
 * (blocking CLI start, p50), machine loss (kill the node with the most of 100 units → all active elsewhere),
 * idle etcd traffic with 100 units, agent RSS per node with 100 units. Prints a table with fleet/shoal ratios.
 *
 * Fleet binaries: --fleet DIR, or SHOAL_FLEET_DIR, else ../shared/reference/fleet beside the checkout. When
 * absent it says so and exits 0. They are copied into the checkout (.peers-fleet/, nodes see /opt/shoal) for
 * the run only and removed after. Run as root: `npm run bench:peers [-- --fleet DIR]`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EtcdRegistry } from '../src/etcd/registry-etcd';
import { lockTestbed, unlockTestbed } from '../src/testbed/lock';
import { testbedEtcd } from '../src/testbed/etcd';

const ROOT = resolve(__dirname, '..', '..');
const TB = join(ROOT, 'testbed');
const NODES = ['node1', 'node2', 'node3'];
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 1000);
const IDLE_UNITS = 100;
const TOKEN = 'peers-token';
const UNIT = '[Service]\nExecStart=/bin/sleep infinity\n';
const FLEET_COPY = join(ROOT, '.peers-fleet');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fleetDir(): string {
  const i = process.argv.indexOf('--fleet');
  if (i > 0 && process.argv[i + 1]) return resolve(process.argv[i + 1]);
  return resolve(process.env.SHOAL_FLEET_DIR ?? join(ROOT, '..', 'shared', 'reference', 'fleet'));
}

function run(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((res, rej) => execFile(file, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 300_000 },
    (err, out, errOut) => (err ? rej(new Error(`${file} ${args.slice(0, 4).join(' ')}…: ${errOut || err.message}`)) : res(out))));
}
const tb = (args: string[], env: NodeJS.ProcessEnv = {}) => run(join(TB, args[0]), args.slice(1), { env });
const inNode = (node: string, script: string) => tb(['node', 'exec', node, 'sh', '-c', script]);

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 200): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function rssKib(node: string, service: string): Promise<number> {
  const out = await inNode(node, `grep VmRSS /proc/$(systemctl show -p MainPID --value ${service})/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(out)?.[1] ?? NaN);
}

/** Sum of a Prometheus counter family (all label sets) from an etcd /metrics page. */
async function counter(url: string, names: string[]): Promise<number> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) if (names.some((n) => line.startsWith(`${n}{`) || line.startsWith(`${n} `))) sum += Number(line.split(' ').pop());
  return sum;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** What one system measured. */
interface Row { instancesS: number; startMs: number; lossS: number; idleReqPerS: number; rssMib: number }

/** One system's CLI and probes. */
interface Peer {
  name: string;
  ctl(args: string[]): Promise<string>;
  /** unit name → active count, among names starting with prefix. */
  active(prefix: string): Promise<{ count: number; byMachine: Map<string, number> }>;
  idleRequests(): Promise<number>;
  agentService: string;
  /** A killed node was started again: bring its agent back. */
  restarted(node: string): Promise<void>;
}

async function measure(p: Peer, dir: string): Promise<Row> {
  const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}.service`);
  // start → active of a loaded unit, through the blocking CLI
  await p.ctl(['load', join(dir, 'one.service')]);
  const starts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = performance.now();
    await p.ctl(['start', 'one.service']);
    starts.push(performance.now() - s);
    await p.ctl(['stop', 'one.service']);
  }
  await p.ctl(['destroy', 'one.service']);
  const startMs = median(starts);
  console.log(`${p.name}: start → active ${starts.map((x) => x.toFixed(0)).join(', ')} ms`);
  // 100 units: idle traffic and agent memory
  for (let i = 1; i <= IDLE_UNITS; i++) writeFileSync(join(dir, `u${i}.service`), UNIT);
  await p.ctl(['start', '--no-block', ...names(join(dir, 'u'), IDLE_UNITS)]);
  await until(`${IDLE_UNITS} ${p.name} units active`, 300_000, async () => (await p.active('u')).count >= IDLE_UNITS, 500);
  await sleep(5000);
  const r0 = await p.idleRequests();
  await sleep(10_000);
  const idleReqPerS = (await p.idleRequests() - r0) / 10;
  const rssMib = Math.max(...(await Promise.all(NODES.map((n) => rssKib(n, p.agentService))))) / 1024;
  console.log(`${p.name}: idle ${idleReqPerS.toFixed(1)} requests/s, agent RSS max ${rssMib.toFixed(1)} MiB`);
  // machine loss: kill the node with the most units; every unit active on the others
  const { byMachine } = await p.active('u');
  const [victimMachine] = [...byMachine].sort((a, b) => b[1] - a[1])[0];
  const victim = NODES.find((n) => victimIds.get(n) === victimMachine || victimIps.get(n) === victimMachine) ?? 'node1';
  const tk = performance.now();
  await tb(['node', 'kill', victim]);
  await until(`${p.name} units active elsewhere`, 120_000, async () => {
    const a = await p.active('u');
    return a.count - (a.byMachine.get(victimMachine) ?? 0) >= IDLE_UNITS;
  }, 100);
  const lossS = (performance.now() - tk) / 1000;
  console.log(`${p.name}: machine loss (${victim}, ${byMachine.get(victimMachine)} units) → all active elsewhere in ${lossS.toFixed(1)} s`);
  await tb(['node', 'start', victim], p.name === 'fleet' ? { SHOAL_NO_DAEMON: '1' } : {});
  await p.restarted(victim);
  await p.ctl(['destroy', ...names('u', IDLE_UNITS)]).catch((e) => console.log(`${p.name}: destroy of the 100 units: ${(e as Error).message.slice(0, 200)}`));
  await until(`${p.name} units gone`, 90_000, async () => (await p.active('u')).count === 0, 1000)
    .catch(async () => console.log(`${p.name}: ${(await p.active('u')).count} units still reported active 90 s after destroy`));
  // last: a fleet slow to stop destroyed instances cannot hold the other rows back
  // 1,000 instances through the CLI
  const t0 = performance.now();
  await p.ctl(['submit', join(dir, 'b@.service')]);
  await p.ctl(['start', '--no-block', ...names('b@', INSTANCES)]);
  await until(`${INSTANCES} ${p.name} instances active`, 300_000, async () => (await p.active('b@')).count >= INSTANCES, 500);
  const instancesS = (performance.now() - t0) / 1000;
  console.log(`${p.name}: ${INSTANCES} instances active in ${instancesS.toFixed(1)} s`);
  return { instancesS, startMs, lossS, idleReqPerS, rssMib };
}

const victimIds = new Map<string, string>();
const victimIps = new Map<string, string>();

async function main(): Promise<void> {
  const fleet = fleetDir();
  if (!existsSync(join(fleet, 'fleetd')) || !existsSync(join(fleet, 'fleetctl'))) {
    console.log(`bench:peers: fleet binaries not found in ${fleet} (give --fleet DIR or SHOAL_FLEET_DIR); nothing measured`);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('bench:peers needs root (it runs the testbed)');
  await lockTestbed(TB, 900_000, (holder) => console.error(`waiting for the testbed held by ${holder}`));
  const env = {
    SHOAL_TESTBED_OWNER: String(process.pid), SHOAL_TTL: '5',
    SHOAL_ENV: `SHOAL_API_LISTEN=unix:///run/shoal/shoal.sock,0.0.0.0:7411 SHOAL_API_TOKEN=${TOKEN} SHOAL_API_INSECURE_PLAINTEXT=true SHOAL_API_PORT=7411`,
  };
  const dir = mkdtempSync(join(tmpdir(), 'shoal-peers-'));
  writeFileSync(join(dir, 'b@.service'), UNIT);
  writeFileSync(join(dir, 'one.service'), UNIT);
  // made once the testbed is up: its etcd's certificates are made by testbed/up
  let reg = undefined as unknown as EtcdRegistry;
  let fleetEtcd: ChildProcess | undefined;
  const fleetData = mkdtempSync(join(tmpdir(), 'shoal-peers-etcd-'));
  try {
    await tb(['up', String(NODES.length)], env);
    reg = new EtcdRegistry({ ...testbedEtcd(TB), callTimeoutMs: 10_000 });
    for (const n of NODES) { victimIds.set(n, (await tb(['node', 'machine-id', n])).trim()); victimIps.set(n, (await tb(['node', 'ip', n])).trim()); }
    const endpoint = `${victimIps.get('node1')}:7411`;
    const shoal: Peer = {
      name: 'shoal',
      ctl: (args) => run(process.execPath, [join(ROOT, 'bin', 'shoalctl'), ...args], { env: { SHOAL_ENDPOINT: endpoint, SHOAL_TOKEN: TOKEN }, cwd: dir }),
      active: async (prefix) => {
        const byMachine = new Map<string, number>();
        let count = 0;
        for (const e of (await reg.listStates()).value) {
          if (!e.unit.startsWith(prefix) || e.state.activeState !== 'active') continue;
          count++;
          byMachine.set(e.machine, (byMachine.get(e.machine) ?? 0) + 1);
        }
        return { count, byMachine };
      },
      idleRequests: () => counter('http://127.0.0.1:2390/metrics', ['grpc_server_msg_received_total']),
      agentService: 'shoald',
      restarted: async () => { await until('3 shoal machines', 60_000, async () => (await reg.listMachines()).value.length === 3, 500); },
    };
    const s = await measure(shoal, dir);
    // the killed node's shoald may still be starting: destroy through any node that answers
    await until('shoal units destroyed', 120_000, async () => {
      for (const n of NODES) {
        const ok = await run(process.execPath, [join(ROOT, 'bin', 'shoalctl'), 'destroy', 'b@*.service', 'b@.service'],
          { env: { SHOAL_ENDPOINT: `${victimIps.get(n)}:7411`, SHOAL_TOKEN: TOKEN }, cwd: dir }).then(() => true, () => false);
        if (ok) return true;
      }
      return false;
    }, 2000);
    await until('shoal instances gone', 120_000, async () => (await shoal.active('b@')).count === 0, 500);
    await Promise.all(NODES.map((n) => inNode(n, 'systemctl stop shoald; systemctl mask --runtime shoald')));

    // fleet: its own etcd with the v2 API, fleetd in every node
    mkdirSync(FLEET_COPY, { recursive: true });
    for (const b of ['fleetd', 'fleetctl']) copyFileSync(join(fleet, b), join(FLEET_COPY, b));
    fleetEtcd = spawn('etcd', ['--name', 'fleetetcd', '--data-dir', fleetData, '--enable-v2=true',
      '--listen-client-urls', 'http://10.88.0.1:2381,http://127.0.0.1:2381', '--advertise-client-urls', 'http://10.88.0.1:2381',
      '--listen-peer-urls', 'http://127.0.0.1:2382', '--initial-advertise-peer-urls', 'http://127.0.0.1:2382',
      '--initial-cluster', 'fleetetcd=http://127.0.0.1:2382', '--log-level', 'error'], { stdio: 'ignore' });
    const fleetctl = (args: string[]) => run(join(FLEET_COPY, 'fleetctl'), ['--driver', 'etcd', '--endpoint', 'http://127.0.0.1:2381', ...args], { cwd: dir });
    const startFleetd = (n: string) => inNode(n, `systemd-run --unit fleet -p Restart=always -E FLEET_ETCD_SERVERS=http://10.88.0.1:2381 ` +
      `-E FLEET_PUBLIC_IP=${victimIps.get(n)} -E FLEET_AGENT_TTL=5s -E FLEET_METADATA=node=${n} /opt/shoal/.peers-fleet/fleetd`);
    await until('fleet etcd', 30_000, async () => fetch('http://127.0.0.1:2381/health').then((r) => r.ok, () => false));
    await Promise.all(NODES.map(startFleetd));
    await until('3 fleet machines', 60_000, async () => (await fleetctl(['list-machines', '--no-legend']).catch(() => '')).trim().split('\n').filter(Boolean).length === 3, 500);
    const fleetPeer: Peer = {
      name: 'fleet',
      ctl: (args) => fleetctl(args),
      active: async (prefix) => {
        const out = await fleetctl(['list-units', '--no-legend', '--full', '--fields', 'unit,machine,active']).catch(() => '');
        const byMachine = new Map<string, number>();
        let count = 0;
        for (const line of out.trim().split('\n')) {
          const [unit, machine, active] = line.split(/\s+/);
          if (!unit?.startsWith(prefix) || active !== 'active') continue;
          count++;
          const ip = machine.split('/')[1] ?? machine;
          byMachine.set(ip, (byMachine.get(ip) ?? 0) + 1);
        }
        return { count, byMachine };
      },
      idleRequests: () => counter('http://127.0.0.1:2381/metrics', ['etcd_debugging_store_reads_total', 'etcd_debugging_store_writes_total', 'etcd_debugging_store_watch_requests_total']),
      agentService: 'fleet',
      restarted: async (n) => {
        await startFleetd(n);
        await until('3 fleet machines', 60_000, async () => (await fleetctl(['list-machines', '--no-legend']).catch(() => '')).trim().split('\n').filter(Boolean).length === 3, 500);
      },
    };
    // a fleet node restarted after the machine-loss row needs its fleetd again: measure() restarts the node
    const f = await measure(fleetPeer, dir);

    const rows: [string, number, number, string][] = [
      [`${INSTANCES} instances through the CLI (s)`, f.instancesS, s.instancesS, '%.1f'],
      ['start → active, loaded unit, CLI p50 (ms)', f.startMs, s.startMs, '%.0f'],
      ['machine loss → all active elsewhere (s)', f.lossS, s.lossS, '%.1f'],
      [`idle etcd requests/s, ${IDLE_UNITS} units`, f.idleReqPerS, s.idleReqPerS, '%.1f'],
      [`agent RSS per node, ${IDLE_UNITS} units (MiB)`, f.rssMib, s.rssMib, '%.1f'],
    ];
    const fmt = (x: number, spec: string) => x.toFixed(spec === '%.0f' ? 0 : 1);
    console.log('\n| measure | fleet v1.0.0 | shoal | fleet / shoal |\n|---|---|---|---|');
    for (const [name, fv, sv, spec] of rows) console.log(`| ${name} | ${fmt(fv, spec)} | ${fmt(sv, spec)} | ${(fv / sv).toFixed(2)}× ${fv > sv ? '(shoal ahead)' : '(fleet ahead)'} |`);
  } finally {
    reg?.close();
    fleetEtcd?.kill('SIGTERM');
    rmSync(FLEET_COPY, { recursive: true, force: true });
    rmSync(fleetData, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    await tb(['down'], { SHOAL_TESTBED_OWNER: String(process.pid) }).catch((e) => console.error(String(e)));
    unlockTestbed();
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
