/**
 * The machine-wide testbed lock (pure file logic, on a lock file of its own): a writer that died leaving
 * the lock empty does not block everyone forever; a testbed started by hand from another checkout (the
 * bridge is up, this checkout has no run/) is waited for, not taken over and torn down.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockTestbed } from '../../src/testbed/lock';

const dir = mkdtempSync(join(tmpdir(), 'shoal-lock-'));
const lock = join(dir, 'lock');
const bridge = join(dir, 'br-shoal');
const checkout = join(dir, 'testbed'); // no run/ inside: this checkout started nothing

t.test('an empty lock left by a dead writer is taken after a few seconds', async (t) => {
  writeFileSync(lock, '');
  const old = new Date(Date.now() - 10_000);
  utimesSync(lock, old, old);
  await lockTestbed(checkout, 2000, undefined, { lock, bridge });
  t.equal(readFileSync(lock, 'utf8'), String(process.pid));
});

t.test('a fresh empty lock is waited for (its writer is writing)', async (t) => {
  writeFileSync(lock, '');
  await t.rejects(lockTestbed(checkout, 300, undefined, { lock, bridge }), /stays empty/);
});

t.test("another checkout's manual testbed is waited for while its bridge is up, taken over once it is gone", async (t) => {
  writeFileSync(lock, 'manual');
  writeFileSync(bridge, ''); // stands for /sys/class/net/br-shoal
  const waited: string[] = [];
  await t.rejects(lockTestbed(checkout, 700, (h) => waited.push(h), { lock, bridge }), /started by hand/);
  t.same(waited, ['manual'], 'told the caller who holds it');
  t.equal(readFileSync(lock, 'utf8'), 'manual', 'the lock is left alone');
  await lockTestbed(checkout, 2000, undefined, { lock, bridge: join(dir, 'no-bridge') });
  t.equal(readFileSync(lock, 'utf8'), String(process.pid), 'no bridge, no run/: a stale manual lock is taken');
});
