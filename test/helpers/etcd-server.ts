/**
 * Starts a real etcd server (Debian's etcd-server package) for one test file, on free loopback
 * ports in a temporary data dir, and stops it afterwards. Fails loudly when etcd is not installed:
 * a test that needs etcd never passes without one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdServer {
  /** Client URL, e.g. `http://127.0.0.1:23791`. */
  endpoint: string;
  dataDir: string;
  /** Kills the server (SIGKILL when `hard`) and waits for it to exit; data dir kept. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same ports and data dir; resolves when healthy. */
  restart(): Promise<void>;
  /** Sends SIGSTOP / SIGCONT (etcd "unreachable" without losing data). */
  pause(): void;
  resume(): void;
  /** Stops the server and deletes the data dir. Idempotent. */
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts etcd and resolves once `/health` says true. */
export async function startEtcd(): Promise<EtcdServer> {
  const which = spawnSync('sh', ['-c', 'command -v etcd']);
  if (which.status !== 0) {
    throw new Error('etcd is not installed: apt-get install -y etcd-server (the tests need a real etcd)');
  }
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'shoal-etcd-'));
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let proc: ChildProcess | undefined;
  let closed = false;

  const launch = async () => {
    proc = spawn('etcd', [
      '--name', 'test', '--data-dir', dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`,
      // single member: a short election timeout makes it leader in ~0.1 s instead of ~1 s
      '--heartbeat-interval=10', '--election-timeout=100', '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (b) => { stderr = (stderr + b.toString()).slice(-4000); });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}: ${stderr}`);
      try {
        const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy in 15 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const stop = async (hard = false) => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGCONT');
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };

  await launch();
  return {
    endpoint,
    dataDir,
    stop,
    restart: async () => { await stop(); await launch(); },
    pause: () => { proc?.kill('SIGSTOP'); },
    resume: () => { proc?.kill('SIGCONT'); },
    close: async () => {
      if (closed) return;
      closed = true;
      await stop(true);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
