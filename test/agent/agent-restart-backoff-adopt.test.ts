/**
 * A shoald restart while a failing unit's health restarts back off, on a real systemd in a testbed node with a
 * real etcd: the starts before the restart still count in systemd's start rate limit (5 in 10 s by default), so
 * the new agent must not restart the unit at once as if it had never been restarted (before: the old agent's
 * 4 starts in ~3 s, then the new agent's restart at once and another 1-2 s later: start-limit-hit, failed for good).
 */
import t from 'tap';
import { Agent } from '../../src/agent/agent';
import { connectSystemd } from '../../src/agent/systemd-dbus';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord, UnitStateRecord } from '../../src/etcd/registry';
import { silentLogger } from '../../src/log';
import { parseUnit } from '../../src/units';
import { startEtcd } from '../helpers/etcd-server';
import { up } from '../helpers/testbed';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('a restarted agent does not restart a failing unit into systemd\'s start rate limit', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.close());
  const tb = await up({ nodes: 1, t });
  const node = tb.nodes[0];
  const pid1 = await tb.pid1(node);
  const reg = new EtcdRegistry({ endpoints: [etcd.endpoint], callTimeoutMs: 1000 });
  t.teardown(() => reg.close());
  const machine: MachineRecord = {
    id: tb.machineId(node), metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'test', startedAt: '',
  };
  const show = async (unit: string, prop: string) => (await tb.sh(node, `systemctl show -p ${prop} --value ${unit}`)).trim();
  const stateOf = async (unit: string): Promise<UnitStateRecord | undefined> =>
    (await reg.listStates(unit)).value.find((s) => s.machine === machine.id)?.state;
  const lead = new AbortController();
  t.teardown(() => lead.abort());
  const leadership = (await reg.campaign('test-engine', 5, lead.signal))!;
  t.teardown(() => leadership.resign());

  // one agent run: stopped with a restart's shutdown (units keep running)
  const start = async () => {
    const systemd = await connectSystemd({ busAddress: `unix:path=/proc/${pid1}/root/run/dbus/system_bus_socket` });
    const agent = new Agent({
      registry: reg, systemd, machine, ttlSeconds: 3, parseUnit: (r) => parseUnit(r.name, r.text),
      fsRoot: `/proc/${pid1}/root`, log: silentLogger, safetyIntervalMs: 300,
    });
    const ac = new AbortController();
    const running = agent.run(ac.signal);
    let stopped = false;
    const stop = async () => { if (stopped) return; stopped = true; ac.abort(); await running; systemd.close(); };
    t.teardown(stop);
    return stop;
  };

  const stopFirst = await start();
  const name = 'sick.service';
  const text = `[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nHealthCheck=false\nHealthInterval=100ms\nHealthRetries=1\nMinHealthyTime=0\n`;
  await reg.submitUnit({ name, text, hash: parseUnit(name, text).hash }, { desired: 'launched' });
  await reg.applySchedule(leadership.guard, [{ kind: 'place', unit: name, machine: machine.id }]);
  // the first start, then restarts at once and ≥ 1 s, ≥ 2 s apart: 4 starts within ~3-4 s
  await until('3 health restarts by the first agent', async () => ((await stateOf(name))?.healthRestarts ?? 0) >= 3);
  await stopFirst();
  await start();
  const t0 = Date.now();
  while (Date.now() - t0 < 15_000) {
    const [active, result] = [await show(name, 'ActiveState'), await show(name, 'Result')];
    if (active === 'failed' || result !== 'success') {
      t.fail(`systemd gave up on it ${Math.round((Date.now() - t0) / 100) / 10} s after the agent restart: ${active}, Result=${result}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(await show(name, 'ActiveState'), 'active', 'still running, restarted with backoff by the new agent');
  await reg.destroyUnit(name);
  await until('sick gone', async () => (await show(name, 'LoadState')) === 'not-found');
});
