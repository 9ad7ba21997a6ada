/**
 * A hung dockerd never costs a machine its registration (issue 9, fault 4): with the host's dockerd
 * stopped (SIGSTOP), shoald restarts on a node; the machine must stay registered past the TTL and its
 * units keep running where they are (same MainPID), none started elsewhere. dockerd is SIGCONTed on
 * every path (teardown and process exit).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { parseUnit } from '../../src/units';
import { up } from '../helpers/testbed';

const SLEEP = '[Service]\nExecStart=/bin/sleep 100000\n';
const TTL = 3;

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function dockerdPids(): number[] {
  try {
    return execFileSync('pidof', ['dockerd']).toString().trim().split(/\s+/).map(Number).filter((n) => n > 0);
  } catch {
    return [];
  }
}

t.test('a hung dockerd: a restarted shoald keeps its machine registered and its units', async (t) => {
  const tb = await up({ nodes: 2, daemon: true, t, env: { SHOAL_TTL: String(TTL) } });
  const reg = new EtcdRegistry({ ...tb.etcd, prefix: '/shoal/', callTimeoutMs: 2000 });
  t.teardown(() => reg.close());
  const node = 'node1';
  const id = tb.machineId(node);
  await until('2 machines', async () => (await reg.listMachines()).value.length === 2);

  const names = ['h1.service', 'h2.service', 'h3.service', 'h4.service'];
  for (const n of names) await reg.submitUnit({ name: n, text: SLEEP, hash: parseUnit(n, SLEEP).hash }, { desired: 'launched' });
  const onNode = await until('units active, some on node1', async () => {
    const states = (await reg.listStates()).value.filter((s) => names.includes(s.unit) && s.state.activeState === 'active');
    if (states.length !== names.length) return undefined;
    const here = states.filter((s) => s.machine === id).map((s) => s.unit);
    return here.length > 0 ? here : undefined;
  });
  const pidOf = async (unit: string) => Number((await tb.sh(node, `systemctl show -p MainPID --value ${unit}`)).trim());
  const before = new Map<string, number>();
  for (const u of onNode) before.set(u, await pidOf(u));
  const schedule = (await reg.listSchedule()).value;

  const pids = dockerdPids();
  t.ok(pids.length > 0, 'the testbed runs a host dockerd');
  const cont = () => { for (const p of pids) { try { process.kill(p, 'SIGCONT'); } catch { /* gone */ } } };
  process.once('exit', cont);
  t.teardown(() => { cont(); process.removeListener('exit', cont); });
  for (const p of pids) process.kill(p, 'SIGSTOP');
  try {
    await tb.sh(node, 'systemctl restart shoald');
    // well past the TTL: the old lease would have run out and the engine would have moved node1's units
    const end = Date.now() + (TTL * 3 + 3) * 1000;
    let gone = '';
    while (Date.now() < end && !gone) {
      if (!(await reg.listMachines()).value.some((m) => m.id === id)) gone = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 500));
    }
    t.equal(gone, '', 'node1 stayed registered the whole time dockerd was stopped');
  } finally {
    cont();
  }
  const after = (await reg.listSchedule()).value;
  for (const u of names) t.equal(after.get(u), schedule.get(u), `${u} not moved`);
  for (const u of onNode) t.equal(await pidOf(u), before.get(u), `${u} still runs on node1 with the same MainPID`);
});
