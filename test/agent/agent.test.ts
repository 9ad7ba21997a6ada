/**
 * The agent end to end against a real etcd (its own, so it can be paused) and a real systemd in a
 * testbed node. The agent runs in this process and reaches the node's systemd through its bus socket.
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

const SLEEP = '[Service]\nExecStart=/bin/sleep 1000\n';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('agent on a real node with a real etcd', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.close());
  const tb = await up({ nodes: 1, t });
  const node = tb.nodes[0];
  const pid1 = await tb.pid1(node);
  const busAddress = `unix:path=/proc/${pid1}/root/run/dbus/system_bus_socket`;
  const reg = new EtcdRegistry({ endpoints: [etcd.endpoint], callTimeoutMs: 1000 });
  t.teardown(() => reg.close());
  const machine: MachineRecord = {
    id: tb.machineId(node), metadata: { role: 'web' }, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'test', startedAt: '',
  };
  const show = async (unit: string, prop: string) => (await tb.sh(node, `systemctl show -p ${prop} --value ${unit}`)).trim();
  const stateOf = async (unit: string): Promise<UnitStateRecord | undefined> =>
    (await reg.listStates(unit)).value.find((s) => s.machine === machine.id)?.state;

  const lead = new AbortController();
  t.teardown(() => lead.abort());
  const leadership = (await reg.campaign('test-engine', 5, lead.signal))!;
  t.teardown(() => leadership.resign());
  const place = (unit: string) => reg.applySchedule(leadership.guard, [{ kind: 'place', unit, machine: machine.id }]);
  const submit = async (name: string, text: string, desired: 'loaded' | 'launched') => {
    const spec = parseUnit(name, text);
    await reg.submitUnit({ name, text, hash: spec.hash }, { desired });
    return spec;
  };

  const startAgent = async (opts: { debounceMs?: number; safetyIntervalMs?: number } = { safetyIntervalMs: 300 }) => {
    const systemd = await connectSystemd({ busAddress });
    const agent = new Agent({
      registry: reg, systemd, machine, ttlSeconds: 3, parseUnit: (r) => parseUnit(r.name, r.text),
      fsRoot: `/proc/${pid1}/root`, log: silentLogger, ...opts,
    });
    const ac = new AbortController();
    const done = agent.run(ac.signal);
    return { agent, stop: async () => { ac.abort(); await done; systemd.close(); } };
  };

  let a = await startAgent();
  t.teardown(() => a.stop());

  await t.test('a placed, launched unit becomes active and its state is reported', async (t) => {
    const spec = await submit('web.service', SLEEP, 'launched');
    await place('web.service');
    const st = await until('web active in etcd', async () => { const s = await stateOf('web.service'); return s?.activeState === 'active' && s; });
    t.equal(st.subState, 'running');
    t.equal(st.loadState, 'loaded');
    t.equal(st.hash, spec.hash);
    t.ok(st.mainPid! > 0);
    t.equal(await show('web.service', 'ActiveState'), 'active');
    t.equal(Number(await show('web.service', 'MainPID')), st.mainPid);
  });

  await t.test('desired loaded stops it; launched starts it again', async (t) => {
    await reg.setDesired('web.service', 'loaded');
    await until('web inactive', async () => (await stateOf('web.service'))?.activeState === 'inactive');
    t.equal(await show('web.service', 'ActiveState'), 'inactive');
    t.equal(await show('web.service', 'LoadState'), 'loaded');
    await reg.setDesired('web.service', 'launched');
    await until('web active again', async () => (await stateOf('web.service'))?.activeState === 'active');
  });

  await t.test('global units run where metadata matches, not elsewhere', async (t) => {
    await submit('g-web.service', `${SLEEP}[X-Fleet]\nGlobal=true\nMachineMetadata=role=web\n`, 'launched');
    await submit('g-db.service', `${SLEEP}[X-Fleet]\nGlobal=true\nMachineMetadata=role=db\n`, 'launched');
    await until('g-web active', async () => (await stateOf('g-web.service'))?.activeState === 'active');
    t.equal(await show('g-web.service', 'ActiveState'), 'active');
    t.equal(await show('g-db.service', 'LoadState'), 'not-found');
    t.equal(await stateOf('g-db.service'), undefined);
    // dynamic metadata wins over static: now this machine is a db machine
    await reg.setMetadata(machine.id, 'role', 'db');
    await until('g-db active', async () => (await stateOf('g-db.service'))?.activeState === 'active');
    await until('g-web gone', async () => (await stateOf('g-web.service')) === undefined);
    t.equal(await show('g-web.service', 'LoadState'), 'not-found');
  });

  await t.test('restarting the agent adopts running units: same MainPID', async (t) => {
    const pid = Number(await show('web.service', 'MainPID'));
    t.ok(pid > 0);
    await a.stop();
    a = await startAgent();
    await until('adopted', async () => a.agent.passes > 0);
    await new Promise((r) => setTimeout(r, 500)); // a few safety passes
    t.equal(Number(await show('web.service', 'MainPID')), pid);
    t.equal(await show('web.service', 'ActiveState'), 'active');
    t.ok(a.agent.managed().find((u) => u.name === 'web.service')?.started);
  });

  await t.test('etcd unreachable: running units keep running; changes made meanwhile apply after', async (t) => {
    const pid = Number(await show('web.service', 'MainPID'));
    etcd.pause();
    const passes = a.agent.passes;
    await until('safety passes while etcd is paused', async () => a.agent.passes >= passes + 3, 5000);
    t.equal(Number(await show('web.service', 'MainPID')), pid, 'still the same process');
    etcd.resume();
    await reg.applySchedule(leadership.guard, [{ kind: 'unschedule', unit: 'web.service', from: machine.id }]);
    await until('web unloaded after unschedule', async () => (await show('web.service', 'LoadState')) === 'not-found');
    await until('web state deleted', async () => (await stateOf('web.service')) === undefined);
  });

  await t.test('options given as undefined (as shoald gives them) take their defaults: an idle agent runs no passes', async (t) => {
    await a.stop();
    a = await startAgent({ debounceMs: undefined, safetyIntervalMs: undefined });
    await until('first pass', async () => a.agent.passes > 0);
    await new Promise((r) => setTimeout(r, 300)); // the first passes after registration and the view's read
    const passes = a.agent.passes;
    await new Promise((r) => setTimeout(r, 1000));
    // before the fix: a pass every ~1 ms (the next one scheduled in NaN ms), hundreds a second
    t.ok(a.agent.passes - passes <= 2, `passes in an idle second: ${a.agent.passes - passes}`);
    await a.stop();
    a = await startAgent();
  });

  await t.test('a destroyed unit is stopped and removed', async (t) => {
    await submit('tmp.service', SLEEP, 'launched');
    await place('tmp.service');
    await until('tmp active', async () => (await show('tmp.service', 'ActiveState')) === 'active');
    await reg.destroyUnit('tmp.service');
    await until('tmp gone', async () => (await show('tmp.service', 'LoadState')) === 'not-found');
    t.equal(await show('tmp.service', 'ActiveState'), 'inactive');
  });
});
