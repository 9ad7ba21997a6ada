/**
 * The scenarios' platform on the Vagrant cluster (vagrant/Vagrantfile): 3 VMs node1..node3 with an
 * etcd member and shoald each, node4 defined but not started (the spare). Runs on the host that
 * runs `vagrant`; commands reach the VMs over ssh (config from `vagrant ssh-config`, one shared
 * connection per VM), etcd over the private network. VMs are left running by down().
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { EtcdTls } from '../src/etcd/client';
import type { NodeExec, Platform, StartOptions } from './platform';

/** vagrant/ of the project: the first one up from here (works from scenarios/ and dist/scenarios/). */
function vagrantDir(): string {
  for (let d = __dirname; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, 'vagrant', 'Vagrantfile'))) return join(d, 'vagrant');
  throw new Error(`no vagrant/Vagrantfile above ${__dirname}`);
}

const VAGRANT_DIR = vagrantDir();
/** Private network of the Vagrantfile: nodeN is 192.168.56.(10+N). */
const NET = process.env.SHOAL_VAGRANT_NET ?? '192.168.56';
/** The Vagrantfile's certificates for etcd (testbed/certs, once per cluster), beside Vagrant's state. */
const PKI = join(resolve(VAGRANT_DIR, process.env.VAGRANT_DOTFILE_PATH ?? '.vagrant'), 'pki');
const CUT_TAG = 'shoal-scenario-cut';
const DROPIN = '/run/systemd/system/shoald.service.d/scenario-machine-id.conf';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(file: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<NodeExec> {
  return new Promise((res, rej) => {
    execFile(file, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 << 20,
      env: { ...process.env, VAGRANT_CWD: VAGRANT_DIR } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return rej(new Error(`${file} ${args.join(' ')}: ${err.message}`));
      res({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** Quotes one argument for a POSIX shell. */
function q(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Options of the vagrant platform. */
export interface VagrantPlatformOptions {
  ttlSeconds?: number;
}

/** node1..node3 are the cluster, node4 the spare. */
export class VagrantPlatform implements Platform {
  readonly name = 'vagrant';
  readonly nodes = ['node1', 'node2', 'node3'];
  readonly spare = 'node4';
  readonly etcdEndpoints = [11, 12, 13].map((i) => `https://${NET}.${i}:2379`);
  /** etcd on the VMs wants TLS with a client certificate (vagrant/provision/etcd.sh). */
  // three etcd members under QEMU's software emulation: the host's writes missed a 3 s deadline (docs/vagrant.md)
  readonly etcdCallTimeoutMs = 15_000;
  /**
   * Under TCG a guest runs CPU work ~5x and process creation ~48x slower than the host
   * (shared/reference/vagrant-tcg), and halting or booting a VM alone takes tens of seconds.
   */
  readonly timeScale = process.env.SHOAL_VAGRANT_ACCEL === 'kvm' ? 2 : 6;
  readonly etcdTls: EtcdTls = { ca: join(PKI, 'ca.pem'), cert: join(PKI, 'client.pem'), key: join(PKI, 'client-key.pem') };
  readonly ttlSeconds: number;
  private readonly dir = mkdtempSync(join(tmpdir(), 'shoal-vagrant-'));
  private readonly sshConfigs = new Map<string, string>();

  constructor(opts: VagrantPlatformOptions = {}) {
    this.ttlSeconds = opts.ttlSeconds ?? 5;
  }

  private async vagrant(args: string[]): Promise<string> {
    const r = await run('vagrant', args);
    if (r.code !== 0) throw new Error(`vagrant ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** An ssh config for `node` (from `vagrant ssh-config`), with a shared master connection. */
  private async sshConfig(node: string): Promise<string> {
    let f = this.sshConfigs.get(node);
    if (!f) {
      const cfg = await this.vagrant(['ssh-config', node]);
      f = join(this.dir, `${node}.ssh`);
      writeFileSync(f, `${cfg}\n  ControlMaster auto\n  ControlPath ${this.dir}/%h-%p.sock\n  ControlPersist 120\n  ConnectTimeout 5\n`);
      this.sshConfigs.set(node, f);
    }
    return f;
  }

  async up(): Promise<void> {
    await this.vagrant(['up', ...this.nodes]);
  }

  async down(): Promise<void> {
    if (await this.isRunning(this.spare)) await this.vagrant(['halt', this.spare]);
    for (const n of this.nodes) {
      if (!(await this.isRunning(n))) continue;
      await this.sh(n, `iptables -S | grep -q ${CUT_TAG} && { ${this.healScript()}; } ; systemctl kill -s CONT shoald etcd 2>/dev/null; true`).catch(() => undefined);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  async exec(node: string, cmd: string[]): Promise<NodeExec> {
    const cfg = await this.sshConfig(node);
    return run('ssh', ['-F', cfg, node, `sudo -n ${cmd.map(q).join(' ')}`], { timeoutMs: 60_000 });
  }

  private async sh(node: string, script: string): Promise<string> {
    const r = await this.exec(node, ['sh', '-c', script]);
    if (r.code !== 0) throw new Error(`${node}: ${script} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async isRunning(node: string): Promise<boolean> {
    const out = await this.vagrant(['status', node, '--machine-readable']);
    return /,state,running$/m.test(out);
  }

  async machineId(node: string): Promise<string> {
    return (await this.sh(node, 'cat /etc/machine-id')).trim();
  }

  async shoaldLog(node: string, opts: { timestamps?: boolean } = {}): Promise<string> {
    return (await this.exec(node, ['journalctl', '--no-pager', '-o', opts.timestamps ? 'short-precise' : 'cat', '-u', 'shoald.service'])).stdout;
  }

  async startNode(node: string, opts: StartOptions = {}): Promise<void> {
    await this.vagrant(['up', '--no-provision', node]);
    this.sshConfigs.delete(node);
    if (opts.machineId) {
      // a runtime drop-in: gone at the next boot, so forgetNode has nothing to undo
      await this.sh(node, `mkdir -p ${DROPIN.replace(/\/[^/]+$/, '')} && printf '[Service]\\nEnvironment=SHOAL_MACHINE_ID=%s\\n' ${q(opts.machineId)} > ${DROPIN}`
        + ' && systemctl daemon-reload && systemctl restart shoald');
    }
  }

  async killNode(node: string): Promise<void> { await this.vagrant(['halt', '--force', node]); }
  async poweroffNode(node: string): Promise<void> { await this.vagrant(['halt', node]); }
  async freezeNode(node: string): Promise<void> { await this.vagrant(['suspend', node]); }
  async thawNode(node: string): Promise<void> { await this.vagrant(['resume', node]); }
  async forgetNode(): Promise<void> { /* the machine-id override was a runtime drop-in: the poweroff removed it */ }

  async cutNode(node: string): Promise<void> {
    // drop the private network (etcd and the other nodes), keep loopback and the NAT link vagrant ssh uses
    await this.sh(node, `iptables -I INPUT ! -i lo -s ${NET}.0/24 -m comment --comment ${CUT_TAG} -j DROP`
      + ` && iptables -I OUTPUT ! -o lo -d ${NET}.0/24 -m comment --comment ${CUT_TAG} -j DROP`);
  }

  private healScript(): string {
    return `while iptables -D INPUT ! -i lo -s ${NET}.0/24 -m comment --comment ${CUT_TAG} -j DROP 2>/dev/null; do :; done;`
      + ` while iptables -D OUTPUT ! -o lo -d ${NET}.0/24 -m comment --comment ${CUT_TAG} -j DROP 2>/dev/null; do :; done`;
  }

  async healNode(node: string): Promise<void> {
    await this.sh(node, this.healScript());
    await this.waitEtcd();
  }

  private async systemctl(node: string, args: string[]): Promise<void> {
    const r = await this.exec(node, ['systemctl', ...args]);
    if (r.code !== 0) throw new Error(`${node}: systemctl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  }

  killShoald(node: string): Promise<void> { return this.systemctl(node, ['kill', '--signal=SIGKILL', 'shoald.service']); }
  pauseShoald(node: string): Promise<void> { return this.systemctl(node, ['kill', '--signal=SIGSTOP', 'shoald.service']); }
  resumeShoald(node: string): Promise<void> { return this.systemctl(node, ['kill', '--signal=SIGCONT', 'shoald.service']); }
  restartShoald(node: string): Promise<void> { return this.systemctl(node, ['restart', 'shoald.service']); }

  async restartEtcd(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.systemctl(n, ['restart', 'etcd.service'])));
    await this.waitEtcd();
  }

  async pauseEtcd(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.systemctl(n, ['kill', '--signal=SIGSTOP', 'etcd.service'])));
  }

  async resumeEtcd(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.systemctl(n, ['kill', '--signal=SIGCONT', 'etcd.service'])));
    await this.waitEtcd();
  }

  async stopEtcdMember(node: string): Promise<void> { await this.systemctl(node, ['stop', 'etcd.service']); }

  async startEtcdMember(node: string): Promise<void> {
    await this.systemctl(node, ['start', 'etcd.service']);
    await this.waitEtcd();
  }

  /** Until every member reports healthy (30 s). */
  private async waitEtcd(): Promise<void> {
    for (let i = 0; i < 150; i++) {
      const ok = await Promise.all(this.etcdEndpoints.map((e) => this.etcdHealthy(e)));
      if (ok.every(Boolean)) return;
      await sleep(200);
    }
    throw new Error(`etcd not healthy on ${this.etcdEndpoints.join(', ')} after 30 s`);
  }

  /** GET /health of one member with the client certificate; false on any error or after 1 s. */
  private etcdHealthy(endpoint: string): Promise<boolean> {
    const tls = { ca: readFileSync(this.etcdTls.ca!), cert: readFileSync(this.etcdTls.cert!), key: readFileSync(this.etcdTls.key!) };
    return new Promise((res) => {
      const req = request(`${endpoint}/health`, { ...tls, timeout: 1000 }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => { body += c; });
        r.on('end', () => res(/"health":\s*"true"/.test(body)));
        r.on('error', () => res(false));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => res(false));
      req.end();
    });
  }
}
