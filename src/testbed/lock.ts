/**
 * The machine-wide testbed lock: one testbed per machine (one bridge, one etcd on :2379), so tests,
 * scenarios and benches take turns. The lock file holds the owner's pid, or `manual` while a testbed
 * started by hand (testbed/up) runs; a dead owner's lock is taken over.
 */
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Where the lock lives. */
export const TESTBED_LOCK = '/run/shoal-testbed.lock';

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
 * Throws after `timeoutMs` saying who holds it.
 */
export async function lockTestbed(testbedDir: string, timeoutMs: number, onWait?: (holder: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(TESTBED_LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const content = readFileSync(TESTBED_LOCK, 'utf8').trim();
    if (content === '') { await new Promise((r) => setTimeout(r, 50)); continue; } // being written
    const owner = Number(content);
    if (owner === process.pid) return;
    // "manual": someone ran testbed/up by hand; never tear their cluster down under them
    const manual = content === 'manual' && existsSync(join(testbedDir, 'run'));
    if (!manual && (!owner || !processAlive(owner))) { unlinkSync(TESTBED_LOCK); continue; }
    if (Date.now() > deadline) {
      throw new Error(manual ? 'a testbed started by hand (testbed/up) is running; stop it with testbed/down'
        : `the testbed is held by pid ${owner} (${TESTBED_LOCK}) for too long`);
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
