/**
 * The local multi-node testbed (testbed/up, testbed/node, testbed/down) for cluster tests: nspawn
 * nodes with real systemd + D-Bus, etcd and dockerd on the host. Fails loudly, never skips: not
 * root or a missing package throws with the reason. One testbed per machine, so `up()` takes a lock
 * (/run/shoal-testbed.lock) and waits while another test process, or a testbed started by hand, holds it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lockTestbed, unlockTestbed } from '../../src/testbed/lock';
import { testbedEtcd } from '../../src/testbed/etcd';
import type { EtcdConnection } from '../../src/etcd/client';

const ROOT = resolve(__dirname, '..', '..');
const TB = join(ROOT, 'testbed');
const PACKAGES = 'apt-get install -y systemd-container etcd-server etcd-client iptables busybox-static docker.io';

/** What a command run inside a node printed, and its exit code. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of `up()`. */
export interface UpOptions {
  /** Number of nodes, node1..nodeN (default 3). */
  nodes?: number;
  /** Run shoald.service in every node and wait until each registered in etcd (default false). */
  daemon?: boolean;
  /** Extra environment for the scripts, e.g. `{ SHOAL_METADATA_node2: 'role=db' }`. */
  env?: Record<string, string>;
  /** Registers `down()` as a teardown of this tap test. */
  t?: { teardown(fn: () => unknown): void };
  /** etcd members (default 1; 3 = `testbed/up --etcd 3`). */
  etcdMembers?: 1 | 3;
  /** Max wait for another process's testbed to go away (default 10 min). */
  lockTimeoutMs?: number;
}

/** A running testbed. Every method throws when its script fails. */
export interface Testbed {
  nodes: string[];
  /** etcd (member 1) as seen from the host, `https://127.0.0.1:2379`: TLS with a client certificate, use `etcd`. */
  etcdEndpoint: string;
  /** etcd (member 1) as seen from a node, `https://10.88.0.1:2379`. */
  nodeEtcdEndpoint: string;
  /** How to reach etcd from the host: every member, the CA and the client certificate. `new EtcdRegistry({ ...tb.etcd, prefix })`. */
  etcd: EtcdConnection;
  /** etcdctl (v3) on the host against every member, with the testbed's certificates; stdout, throws on exit != 0. */
  etcdctl(...args: string[]): Promise<string>;
  /** Runs `cmd` in `node` as a transient unit; resolves with its exit code (never throws on code != 0). */
  exec(node: string, cmd: string[]): Promise<ExecResult>;
  /** `sh -c script` in `node`; throws unless it exits 0; resolves with stdout. */
  sh(node: string, script: string): Promise<string>;
  start(node: string, env?: Record<string, string>): Promise<void>;
  stop(node: string): Promise<void>;
  kill(node: string): Promise<void>;
  cut(node: string): Promise<void>;
  heal(node: string): Promise<void>;
  ip(node: string): string;
  machineId(node: string): string;
  /** Host pid of the node's systemd, or throws when the node is not running. */
  pid1(node: string): Promise<number>;
  /** Removes everything and releases the lock. Idempotent. */
  down(): Promise<void>;
}

/** Output of a script run on the host. */
interface Run { code: number; stdout: string; stderr: string }

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolveRun) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolveRun({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });
}

/** Throws when the testbed cannot run here: not root, or a needed command is missing. */
export function checkPrerequisites(needDocker = false): void {
  if (process.getuid?.() !== 0) throw new Error('the testbed needs root (nspawn, bridges, cgroups): run the tests as root');
  const cmds = ['systemd-nspawn', 'nsenter', 'etcd', 'etcdctl', 'ip', 'iptables', 'curl', 'busybox', 'openssl'];
  if (needDocker) cmds.push('dockerd', 'docker');
  const missing = cmds.filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (missing.length) throw new Error(`the testbed needs ${missing.join(', ')}: ${PACKAGES}`);
}

/** Starts a testbed from a clean state and resolves when every node runs (and registered, with `daemon`). */
export async function up(opts: UpOptions = {}): Promise<Testbed> {
  const n = opts.nodes ?? 3;
  checkPrerequisites(true);
  await lockTestbed(TB, opts.lockTimeoutMs ?? 600_000);
  const env: NodeJS.ProcessEnv = {
    ...process.env, ...opts.env, SHOAL_TESTBED_OWNER: String(process.pid),
    SHOAL_NO_DAEMON: opts.daemon ? '0' : '1',
  };
  let downed = false;
  const onExit = () => { if (!downed) spawnSync(join(TB, 'down'), [], { env, stdio: 'ignore' }); unlockTestbed(); };
  process.once('exit', onExit);

  const script = async (name: string, args: string[], extra?: Record<string, string>) => {
    const r = await run(join(TB, name), args, { ...env, ...extra });
    if (r.code !== 0) throw new Error(`testbed/${name} ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const node = (action: string, name: string, extra?: Record<string, string>) => script('node', [action, name], extra);
  const down = async () => {
    if (downed) return;
    downed = true;
    try { await script('down', []); } finally { unlockTestbed(); process.removeListener('exit', onExit); }
  };

  try {
    await script('up', ['--etcd', String(opts.etcdMembers ?? 1), String(n)]);
  } catch (err) {
    await down().catch(() => undefined);
    throw err;
  }
  const tb: Testbed = {
    nodes: Array.from({ length: n }, (_, i) => `node${i + 1}`),
    etcdEndpoint: 'https://127.0.0.1:2379',
    nodeEtcdEndpoint: 'https://10.88.0.1:2379',
    etcd: testbedEtcd(TB),
    etcdctl: (...args) => script('etcd', ['etcdctl', ...args]),
    exec: async (name, cmd) => run(join(TB, 'node'), ['exec', name, ...cmd], env),
    sh: async (name, sh) => {
      const r = await run(join(TB, 'node'), ['exec', name, 'sh', '-c', sh], env);
      if (r.code !== 0) throw new Error(`${name}: sh -c ${JSON.stringify(sh)} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    start: async (name, extra) => { await node('start', name, extra); },
    stop: async (name) => { await node('stop', name); },
    kill: async (name) => { await node('kill', name); },
    cut: async (name) => { await node('cut', name); },
    heal: async (name) => { await node('heal', name); },
    ip: (name) => spawnSync(join(TB, 'node'), ['ip', name], { env }).stdout.toString().trim(),
    machineId: (name) => readFileSync(join(TB, 'run', 'nodes', name, 'machine-id'), 'utf8').trim(),
    pid1: async (name) => Number((await node('leader', name)).trim()),
    down,
  };
  opts.t?.teardown(down);
  return tb;
}

/** `testbed.up(...)`, for tests that read better with a namespace. */
export const testbed = { up, checkPrerequisites };
