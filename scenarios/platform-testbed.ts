/**
 * The scenarios' platform on the local testbed (testbed/up, testbed/node): nspawn nodes with real
 * systemd, etcd on the host (TLS with client certificates; 1 or 3 members). Node faults go through
 * testbed/node, single etcd members through testbed/etcd; etcd as a whole is paused/restarted here by
 * its members' pids (testbed/run/etcdN.pid), restarted with the very command lines testbed/up gave them.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import {
  closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { NodeExec, Platform, StartOptions } from './platform';
import { lockTestbed, processAlive as alive, unlockTestbed } from '../src/testbed/lock';
import { testbedEtcdHealthUrl, testbedEtcdPort } from '../src/testbed/etcd';
import type { EtcdTls } from '../src/etcd/client';

/** The project root: the first directory up from here with testbed/up (works from scenarios/ and dist/scenarios/). */
function projectRoot(): string {
  for (let d = __dirname; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, 'testbed', 'up'))) return d;
  throw new Error(`no testbed/up above ${__dirname}`);
}

const ROOT = projectRoot();
const TB = join(ROOT, 'testbed');
const RUN = join(TB, 'run');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Member i's /health (plain http on loopback: etcd's metrics listener). */
async function etcdHealthy(member: number): Promise<boolean> {
  try {
    const res = await fetch(testbedEtcdHealthUrl(member), { signal: AbortSignal.timeout(1000) });
    return /"health":\s*"true"/.test(await res.text());
  } catch {
    return false;
  }
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<NodeExec> {
  return new Promise((res) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      res({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });
}

/** Options of the testbed platform. */
export interface TestbedPlatformOptions {
  /** Extra SHOAL_* settings for every node (e.g. `{ SHOAL_TTL: '5' }`). */
  env?: Record<string, string>;
  ttlSeconds?: number;
  /** Nodes of the base cluster (default 3): node1..nodeN; node(N+1) is the spare. */
  nodes?: number;
  /** How long `up` waits for another process's testbed to go away, in ms (default 10 min). */
  lockTimeoutMs?: number;
  /** etcd members: 1 (default) or 3 (`testbed/up --etcd 3`). */
  etcdMembers?: 1 | 3;
}

/** The testbed: node1..node3 (or ..nodeN) form the cluster, the next node is the spare. */
export class TestbedPlatform implements Platform {
  readonly name = 'testbed';
  readonly nodes: string[];
  readonly spare: string;
  readonly etcdEndpoints: string[];
  readonly etcdTls: EtcdTls = { ca: join(RUN, 'pki', 'ca.pem'), cert: join(RUN, 'pki', 'client.pem'), key: join(RUN, 'pki', 'client-key.pem') };
  readonly etcdMembers: string[];
  readonly ttlSeconds: number;
  private readonly env: NodeJS.ProcessEnv;
  private isUp = false;
  private readonly onExit = () => { if (this.isUp) spawnSync(join(TB, 'down'), [], { env: this.env, stdio: 'ignore' }); unlockTestbed(); };

  constructor(private readonly opts: TestbedPlatformOptions = {}) {
    this.ttlSeconds = opts.ttlSeconds ?? 5;
    const n = opts.nodes ?? 3;
    this.nodes = Array.from({ length: n }, (_, i) => `node${i + 1}`);
    this.spare = `node${n + 1}`;
    this.etcdMembers = Array.from({ length: opts.etcdMembers ?? 1 }, (_, i) => `etcd${i + 1}`);
    this.etcdEndpoints = this.etcdMembers.map((_, i) => `https://127.0.0.1:${testbedEtcdPort(i + 1)}`);
    this.env = { ...process.env, ...opts.env, SHOAL_TESTBED_OWNER: String(process.pid), SHOAL_NO_DAEMON: '0' };
  }

  /** Runs testbed/NAME ARGS; throws with its output unless it exits 0. */
  private async script(name: string, args: string[]): Promise<string> {
    const r = await run(join(TB, name), args, this.env);
    if (r.code !== 0) throw new Error(`testbed/${name} ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  async up(): Promise<void> {
    if (process.getuid?.() !== 0) throw new Error('the testbed needs root (nspawn, bridges, cgroups)');
    await lockTestbed(TB, this.opts.lockTimeoutMs ?? 600_000);
    process.once('exit', this.onExit);
    this.isUp = true;
    try {
      await this.script('up', ['--etcd', String(this.etcdMembers.length), String(this.nodes.length)]);
    } catch (err) {
      await this.down().catch(() => undefined);
      throw err;
    }
  }

  async down(): Promise<void> {
    if (!this.isUp) return;
    this.isUp = false;
    try {
      for (const p of this.etcdPids()) await resumeIfStopped(p);
      await this.resumeDockerd().catch(() => undefined);
      await this.script('down', []);
    } finally {
      unlockTestbed();
      process.removeListener('exit', this.onExit);
    }
  }

  exec(node: string, cmd: string[]): Promise<NodeExec> {
    return run(join(TB, 'node'), ['exec', node, ...cmd], this.env);
  }

  async isRunning(node: string): Promise<boolean> {
    const f = join(RUN, 'nodes', node, 'nspawn.pid');
    if (!existsSync(f)) return false;
    const pid = Number(readFileSync(f, 'utf8').trim());
    return alive(pid) && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd-nspawn';
  }

  async machineId(node: string): Promise<string> {
    return readFileSync(join(RUN, 'nodes', node, 'machine-id'), 'utf8').trim();
  }

  async shoaldLog(node: string, opts: { timestamps?: boolean } = {}): Promise<string> {
    const r = await this.exec(node, ['journalctl', '--no-pager', '-o', opts.timestamps ? 'short-precise' : 'cat', '-u', 'shoald.service']);
    return r.stdout;
  }

  async startNode(node: string, opts: StartOptions = {}): Promise<void> {
    if (opts.machineId) {
      mkdirSync(join(RUN, 'nodes', node), { recursive: true });
      writeFileSync(join(RUN, 'nodes', node, 'machine-id'), `${opts.machineId}\n`);
    }
    await this.script('node', ['start', node]);
  }

  async killNode(node: string): Promise<void> { await this.script('node', ['kill', node]); }
  async poweroffNode(node: string): Promise<void> { await this.script('node', ['stop', node]); }
  async cutNode(node: string): Promise<void> { await this.script('node', ['cut', node]); }
  async healNode(node: string): Promise<void> { await this.script('node', ['heal', node]); }

  async freezeNode(node: string): Promise<void> { this.freeze(node, 1); }
  async thawNode(node: string): Promise<void> { this.freeze(node, 0); }

  /** cgroup v2 freezer of the node's cgroup (testbed/node puts each node in shoal/<node>). */
  private freeze(node: string, on: 0 | 1): void {
    const f = `/sys/fs/cgroup/unified/shoal/${node}/cgroup.freeze`;
    if (!existsSync(f)) throw new Error(`${on ? 'freeze' : 'thaw'} ${node}: no ${f} (is the node running?)`);
    writeFileSync(f, String(on));
  }

  async forgetNode(node: string): Promise<void> {
    if (await this.isRunning(node)) throw new Error(`forgetNode: ${node} is still running`);
    rmSync(join(RUN, 'nodes', node), { recursive: true, force: true });
    try { rmdirSync(`/run/systemd/nspawn/propagate/${node}`); } catch { /* nspawn removed it, or never made it */ }
  }

  private async systemctl(node: string, args: string[]): Promise<void> {
    const r = await this.exec(node, ['systemctl', ...args]);
    if (r.code !== 0) throw new Error(`${node}: systemctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }

  killShoald(node: string): Promise<void> { return this.systemctl(node, ['kill', '--signal=SIGKILL', 'shoald.service']); }
  pauseShoald(node: string): Promise<void> { return this.systemctl(node, ['kill', '--signal=SIGSTOP', 'shoald.service']); }
  resumeShoald(node: string): Promise<void> { return this.systemctl(node, ['kill', '--signal=SIGCONT', 'shoald.service']); }
  restartShoald(node: string): Promise<void> { return this.systemctl(node, ['restart', 'shoald.service']); }

  /** Pids of the etcd members (0 for a member without a pid file). */
  private etcdPids(): number[] {
    return this.etcdMembers.map((m) => {
      const f = join(RUN, `${m}.pid`);
      return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : 0;
    });
  }

  async restartEtcd(): Promise<void> {
    const pids = this.etcdPids();
    if (pids.some((p) => !p || !alive(p))) throw new Error('restartEtcd: a testbed etcd member is not running');
    const argvs = pids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean));
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    for (const pid of pids) {
      for (let i = 0; i < 500 && alive(pid); i++) await sleep(10);
      if (alive(pid)) throw new Error(`restartEtcd: etcd ${pid} did not exit in 5 s`);
    }
    // same command line, same pid file and log as testbed/up, so testbed/down still stops it
    this.etcdMembers.forEach((m, i) => {
      const log = openSync(join(TB, 'logs', `${m}.log`), 'a');
      const child = spawn('setsid', ['bash', '-c', 'echo $$ > "$0"; exec "$@"', join(RUN, `${m}.pid`), ...argvs[i]],
        { detached: true, stdio: ['ignore', log, log] });
      child.unref();
      closeSync(log);
    });
    await this.waitEtcd();
  }

  async pauseEtcd(): Promise<void> {
    const pids = this.etcdPids();
    if (pids.some((p) => !p || !alive(p))) throw new Error('pauseEtcd: a testbed etcd member is not running');
    for (const p of pids) process.kill(p, 'SIGSTOP');
  }

  /** SIGCONT to every member, and starts a member that is not running (a scenario killed it); resolves once all are healthy. */
  async resumeEtcd(): Promise<void> {
    const pids = this.etcdPids();
    for (const [i, p] of pids.entries()) {
      if (p && alive(p)) process.kill(p, 'SIGCONT');
      else if (this.etcdMembers.length > 1) await this.etcdMember('start', this.etcdMembers[i]);
      else throw new Error('resumeEtcd: the testbed etcd is not running');
    }
    await this.waitEtcd();
  }

  async etcdMember(action: 'kill' | 'start' | 'pause' | 'resume' | 'replace', member: string): Promise<void> {
    await this.script('etcd', [action, member]);
  }

  async etcdLeader(): Promise<string | null> {
    const r = await run(join(TB, 'etcd'), ['leader'], this.env, 15_000);
    return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
  }

  /** The host dockerd when testbed/up started it (never one the machine runs for others). */
  private dockerdPid(): number {
    const f = join(RUN, 'dockerd.pid');
    const pid = existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : 0;
    if (!pid || !alive(pid)) throw new Error('dockerd was not started by testbed/up: not pausing a dockerd others may use');
    return pid;
  }

  async pauseDockerd(): Promise<void> { process.kill(this.dockerdPid(), 'SIGSTOP'); }
  async resumeDockerd(): Promise<void> { process.kill(this.dockerdPid(), 'SIGCONT'); }

  private async waitEtcd(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if ((await Promise.all(this.etcdMembers.map((_, m) => etcdHealthy(m + 1)))).every(Boolean)) return;
      await sleep(50);
    }
    throw new Error('etcd not healthy 10 s after (re)start; see testbed/logs/etcd*.log');
  }
}

/** SIGCONT to a process that may have been left stopped by a failed scenario. */
async function resumeIfStopped(pid: number): Promise<void> {
  if (pid && alive(pid)) process.kill(pid, 'SIGCONT');
}
