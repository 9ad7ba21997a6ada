/**
 * One unit never holds back another on its machine (issue 9, fault 4), on a real node's systemd and a
 * real etcd: a unit systemd refuses, a start job that never ends, and a `.hidden.service` global stored
 * in etcd each stay that unit's own state (reported with a reason) while every other unit starts.
 */
import t from 'tap';
import { Agent } from '../../src/agent/agent';
import { connectSystemd } from '../../src/agent/systemd-dbus';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { BadValue, MachineRecord, UnitStateRecord } from '../../src/etcd/registry';
import { silentLogger } from '../../src/log';
import { parseUnit } from '../../src/units';
import { listUnitFiles, listUnitStates } from '../../src/api/views';
import { startEtcd } from '../helpers/etcd-server';
import { up } from '../helpers/testbed';
import { etcdctl } from '../etcd/etcdctl';

const SLEEP = '[Service]\nExecStart=/bin/sleep 1000\n';
/** systemd refuses to start it: "Service has no ExecStart=, ExecStop=, or SuccessAction=" (LoadState bad-setting). */
const REFUSED = '[Service]\nRemainAfterExit=yes\n';
/** Its start job never ends: a oneshot whose ExecStart blocks, with no start timeout. */
const BLOCKING = '[Service]\nType=oneshot\nTimeoutStartSec=infinity\nExecStart=/bin/sleep 100000\n';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('one unit never holds back another on its machine', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.close());
  const tb = await up({ nodes: 1, t });
  const node = tb.nodes[0];
  const pid1 = await tb.pid1(node);
  const reg = new EtcdRegistry({ endpoints: [etcd.endpoint], callTimeoutMs: 1000 });
  t.teardown(() => reg.close());
  const machine: MachineRecord = { id: tb.machineId(node), metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'test', startedAt: '' };
  const show = async (unit: string, prop: string) => (await tb.sh(node, `systemctl show -p ${prop} --value ${unit}`)).trim();
  const stateOf = async (unit: string): Promise<UnitStateRecord | undefined> =>
    (await reg.listStates(unit)).value.find((s) => s.machine === machine.id)?.state;
  const active = (unit: string) => until(`${unit} active`, async () => (await stateOf(unit))?.activeState === 'active');

  const lead = new AbortController();
  t.teardown(() => lead.abort());
  const leadership = (await reg.campaign('test-engine', 5, lead.signal))!;
  t.teardown(() => leadership.resign());
  const launch = async (name: string, text: string) => {
    await reg.submitUnit({ name, text, hash: parseUnit(name, text).hash }, { desired: 'launched' });
    if (!parseUnit(name, text).options.global) await reg.applySchedule(leadership.guard, [{ kind: 'place', unit: name, machine: machine.id }]);
  };

  const systemd = await connectSystemd({ busAddress: `unix:path=/proc/${pid1}/root/run/dbus/system_bus_socket` });
  const agent = new Agent({
    registry: reg, systemd, machine, ttlSeconds: 3, parseUnit: (r) => parseUnit(r.name, r.text),
    fsRoot: `/proc/${pid1}/root`, log: silentLogger, safetyIntervalMs: 300, jobTimeoutMs: 2000,
  });
  const ac = new AbortController();
  const running = agent.run(ac.signal);
  t.teardown(async () => { ac.abort(); await running; systemd.close(); });

  await t.test('a unit systemd refuses to start fails alone, with its reason reported; the units after it start', async (t) => {
    // same pass, sorted first: before the fix its failed start ended the pass, so b and c never started
    await launch('a-refused.service', REFUSED);
    await launch('b-good.service', SLEEP);
    await launch('c-good.service', SLEEP);
    await active('b-good.service');
    await active('c-good.service');
    const st = await until('a-refused reports why', async () => { const s = await stateOf('a-refused.service'); return s?.reason ? s : undefined; });
    t.match(st.reason, /start failed: .*bad unit file setting/i);
    const rows = await listUnitStates(reg, ['a-refused.service']);
    t.match(rows[0], { unit: 'a-refused.service', reason: /bad unit file setting/i }, 'list-units shows the reason');
    t.equal(await show('b-good.service', 'ActiveState'), 'active');
  });

  await t.test('a start job that never ends delays no other unit; it is reported late and can still be stopped', async (t) => {
    await launch('d-blocking.service', BLOCKING);
    await until('d activating', async () => (await show('d-blocking.service', 'ActiveState')) === 'activating');
    const t0 = Date.now();
    await launch('e-after.service', SLEEP);
    await active('e-after.service');
    t.ok(Date.now() - t0 < 5000, `e started in ${Date.now() - t0} ms while d's start job runs`);
    const st = await until('d reported late', async () => { const s = await stateOf('d-blocking.service'); return s?.reason ? s : undefined; }, 8000);
    t.match(st.reason, /start job still running/);
    t.equal(st.activeState, 'activating');
    await reg.setDesired('d-blocking.service', 'loaded');
    // a oneshot killed by its stop ends `failed` (Result=signal): systemd's rule for Type=oneshot
    await until('d stopped', async () => ['inactive', 'failed'].includes(await show('d-blocking.service', 'ActiveState')));
    await until('d reported stopped, no reason', async () => { const s = await stateOf('d-blocking.service'); return !!s && s.activeState !== 'activating' && !s.reason; });
  });

  await t.test('a .hidden.service global stored in etcd blocks no other global', async (t) => {
    // the API refuses that name now; an older version (or a hand-written key) could store it
    const text = `${SLEEP}[X-Fleet]\nGlobal=true\n`;
    etcdctl(etcd.endpoint, 'put', '/shoal/units/.hidden.service', JSON.stringify({ name: '.hidden.service', text, hash: 'h' }));
    etcdctl(etcd.endpoint, 'put', '/shoal/desired/.hidden.service', 'launched');
    await launch('g-global.service', text);
    await active('g-global.service');
    t.equal(await show('.hidden.service', 'LoadState').catch(() => 'not-found'), 'not-found', 'the hidden unit is never written or linked');
    const bad: BadValue[] = [];
    await listUnitFiles(reg, undefined, bad);
    t.match(bad, [{ key: '/shoal/units/.hidden.service', reason: /starts with '\.'/ }], 'shoalctl list-unit-files names the bad key');
  });
});
