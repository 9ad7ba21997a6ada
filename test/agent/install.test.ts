/**
 * [Install] and socket activation on a real systemd (a testbed node) with the agent in this process and
 * a real etcd, as fleet did them: units with [Install] are enabled in the runtime scope (WantedBy= works),
 * and a loaded unit that systemd itself starts (socket activation, WantedBy=) is left running.
 */
import t from 'tap';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { Agent } from '../../src/agent/agent';
import { connectSystemd } from '../../src/agent/systemd-dbus';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord } from '../../src/etcd/registry';
import { silentLogger } from '../../src/log';
import { parseUnit } from '../../src/units';
import { startEtcd } from '../helpers/etcd-server';
import { up } from '../helpers/testbed';

const EXAMPLES = `${__dirname}/../../units-examples`;

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One connection to host:port; resolves with what the peer sent before closing. */
function ask(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let got = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`no answer from ${host}:${port} in 5 s`)); });
    s.on('data', (b) => { got += b.toString(); });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

t.test('agent: [Install] enabled at runtime, socket activation', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.close());
  const tb = await up({ nodes: 1, t });
  const node = tb.nodes[0];
  const pid1 = await tb.pid1(node);
  const reg = new EtcdRegistry({ endpoints: [etcd.endpoint], callTimeoutMs: 1000 });
  t.teardown(() => reg.close());
  const machine: MachineRecord = { id: tb.machineId(node), metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'test', startedAt: '' };
  const show = async (unit: string, prop: string) => (await tb.sh(node, `systemctl show -p ${prop} --value ${unit}`)).trim();
  const lead = new AbortController();
  t.teardown(() => lead.abort());
  const leadership = (await reg.campaign('test-engine', 5, lead.signal))!;
  t.teardown(() => leadership.resign());
  const submitPlaced = async (name: string, text: string, desired: 'loaded' | 'launched') => {
    await reg.submitUnit({ name, text, hash: parseUnit(name, text).hash }, { desired });
    await reg.applySchedule(leadership.guard, [{ kind: 'place', unit: name, machine: machine.id }]);
  };
  const systemd = await connectSystemd({ busAddress: `unix:path=/proc/${pid1}/root/run/dbus/system_bus_socket` });
  const agent = new Agent({
    registry: reg, systemd, machine, ttlSeconds: 3, parseUnit: (r) => parseUnit(r.name, r.text),
    fsRoot: `/proc/${pid1}/root`, log: silentLogger, safetyIntervalMs: 200,
  });
  const ac = new AbortController();
  const done = agent.run(ac.signal);
  t.teardown(async () => { ac.abort(); await done; systemd.close(); });

  await t.test('WantedBy=: starting hello starts discovery; BindsTo= stops it; unload disables', async (t) => {
    await submitPlaced('discovery.service', readFileSync(`${EXAMPLES}/discovery.service`, 'utf8'), 'loaded');
    await submitPlaced('hello.service', '[Service]\nExecStart=/bin/sleep 100000\n', 'loaded');
    await until('both loaded', async () => (await show('discovery.service', 'LoadState')) === 'loaded' && (await show('hello.service', 'LoadState')) === 'loaded');
    t.equal((await tb.exec(node, ['test', '-L', '/run/systemd/system/hello.service.wants/discovery.service'])).code, 0,
      'enabled in the runtime scope: hello.service.wants/discovery.service');
    await reg.setDesired('hello.service', 'launched');
    await until('hello active', async () => (await show('hello.service', 'ActiveState')) === 'active');
    await until('discovery started with it', async () => (await show('discovery.service', 'ActiveState')) === 'active');
    const passes = agent.passes;
    await until('a few reconcile passes', async () => agent.passes >= passes + 3);
    t.equal(await show('discovery.service', 'ActiveState'), 'active', 'the agent leaves it running (desired loaded, started by systemd)');
    await reg.setDesired('hello.service', 'loaded');
    await until('discovery stopped with hello (BindsTo=)', async () => (await show('discovery.service', 'ActiveState')) === 'inactive');
    await reg.destroyUnit('discovery.service');
    await until('discovery unloaded', async () => (await show('discovery.service', 'LoadState')) === 'not-found');
    t.not((await tb.exec(node, ['test', '-e', '/run/systemd/system/hello.service.wants/discovery.service'])).code, 0, 'enable link removed');
    await reg.destroyUnit('hello.service');
  });

  await t.test('a replaced unit whose WantedBy= changed keeps only its new enable link', async (t) => {
    const v1 = '[Service]\nExecStart=/bin/sleep 100000\n[Install]\nWantedBy=a-target.service\n';
    const v2 = '[Service]\nExecStart=/bin/sleep 100001\n[Install]\nWantedBy=b-target.service\n';
    await submitPlaced('wanted.service', v1, 'loaded');
    const link = (x: string) => `/run/systemd/system/${x}-target.service.wants/wanted.service`;
    const has = async (x: string) => (await tb.exec(node, ['test', '-L', link(x)])).code === 0;
    await until('enabled for a-target', () => has('a'));
    await reg.submitUnit({ name: 'wanted.service', text: v2, hash: parseUnit('wanted.service', v2).hash }, { replace: true });
    await until('enabled for b-target', () => has('b'));
    await until('ExecStart of the new text', async () => (await show('wanted.service', 'ExecStart')).includes('100001'));
    t.notOk(await has('a'), `the old version's link ${link('a')} is gone`);
    await reg.destroyUnit('wanted.service');
    await until('unloaded', async () => (await show('wanted.service', 'LoadState')) === 'not-found');
    t.notOk(await has('b'), 'and the new one goes with the unit');
  });

  await t.test('socket activation: a connection starts the loaded service; the agent leaves it running', async (t) => {
    await submitPlaced('echo.service', readFileSync(`${EXAMPLES}/echo.service`, 'utf8'), 'loaded');
    await submitPlaced('echo.socket', readFileSync(`${EXAMPLES}/echo.socket`, 'utf8'), 'launched');
    await until('socket listening', async () => (await show('echo.socket', 'ActiveState')) === 'active');
    t.equal(await show('echo.service', 'ActiveState'), 'inactive', 'service not started before a connection');
    t.equal(await ask(tb.ip(node), 7777), node, 'the service answers the first connection');
    t.equal(await show('echo.service', 'ActiveState'), 'active');
    const passes = agent.passes;
    await until('a few reconcile passes', async () => agent.passes >= passes + 3);
    t.equal(await show('echo.service', 'ActiveState'), 'active', 'the agent did not stop the socket-activated service');
    t.equal(await ask(tb.ip(node), 7777), node, 'and it keeps answering');
    await reg.destroyUnit('echo.socket');
    await reg.destroyUnit('echo.service');
    await until('both gone', async () => (await show('echo.socket', 'LoadState')) === 'not-found' && (await show('echo.service', 'LoadState')) === 'not-found');
  });
});
