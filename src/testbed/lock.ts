/**
 * The machine-wide testbed lock: one testbed per machine (one bridge, one etcd on :2379), so tests,
 * scenarios and benches take turns. The lock file holds the owner's pid, or `manual` while a testbed
 * started by hand (testbed/up) runs; a dead owner's lock is taken over.
 */
import { closeSync, existsSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Where the lock lives. */
export const TESTBED_LOCK = '/run/shoal-testbed.lock';

/** The testbed's bridge: up while any checkout's testbed runs. */
const BRIDGE = '/sys/class/net/br-shoal';

/** An empty lock older than this (ms) is a writer that died, not one writing. */
const EMPTY_STALE_MS = 5000;

function mtimeMs(path: string): number {
  try { return statSync(path).mtimeMs; } catch { return Date.now(); }
}

/** True when `pid` runs (a zombie counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // the testbed's processes are reparented to a PID 1 that may reap late: a zombie is gone
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Takes the lock for this process, waiting while a live process or a manual testbed holds it.
 * `testbedDir` is the testbed/ folder (its run/ dir tells whether a manual testbed is up).
 * Throws after `timeoutMs` saying who holds it. `where` is for tests (another lock file and bridge path).
 */
export async function lockTestbed(testbedDir: string, timeoutMs: number, onWait?: (holder: string) => void,
  where: { lock?: string; bridge?: string } = {}): Promise<void> {
  const lockPath = where.lock ?? TESTBED_LOCK;
  const bridgePath = where.bridge ?? BRIDGE;
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let content: string;
    try {
      content = readFileSync(lockPath, 'utf8').trim();
    } catch { continue; } // released meanwhile
    if (content === '') {
      // being written (a shell's `echo pid > lock` truncates first); empty for long = its writer died
      if (Date.now() - mtimeMs(lockPath) > EMPTY_STALE_MS) { unlinkSync(lockPath); continue; }
      if (Date.now() > deadline) throw new Error(`${lockPath} stays empty; remove it if no testbed is being started`);
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const owner = Number(content);
    if (owner === process.pid) return;
    // "manual": someone ran testbed/up by hand, in this checkout or another (the bridge is machine-wide);
    // never tear their cluster down under them
    const manual = content === 'manual' && (existsSync(join(testbedDir, 'run')) || existsSync(bridgePath));
    if (!manual && (!owner || !processAlive(owner))) { unlinkSync(lockPath); continue; }
    if (Date.now() > deadline) {
      throw new Error(manual ? 'a testbed started by hand (testbed/up) is running; stop it with testbed/down'
        : `the testbed is held by pid ${owner} (${lockPath}) for too long`);
    }
    if (!told) { onWait?.(content); told = true; }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Releases the lock if this process holds it. Never throws. */
export function unlockTestbed(): void {
  try {
    if (Number(readFileSync(TESTBED_LOCK, 'utf8').trim()) === process.pid) unlinkSync(TESTBED_LOCK);
  } catch { /* not ours or gone */ }
}
