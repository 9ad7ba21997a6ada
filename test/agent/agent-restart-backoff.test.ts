/**
 * Agent restarts against systemd's start rate limit (StartLimitIntervalSec=/StartLimitBurst=, default 5 starts
 * in 10 s), on a real systemd in a testbed node with a real etcd. A unit whose health check always fails is
 * restarted with backoff, so systemd never refuses it (before: a restart per failed check, `start-limit-hit`
 * within a second, failed for good and no reason shown); a unit that systemd gave up on shows why in its
 * reported `reason` (what list-units' REASON column prints); and a user's stop + start runs it again without
 * anyone running `systemctl reset-failed` on the machine.
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
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('agent restarts and systemd\'s start rate limit, on a real node', async (t) => {
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
  const launch = async (name: string, text: string) => {
    await reg.submitUnit({ name, text, hash: parseUnit(name, text).hash }, { desired: 'launched' });
    await reg.applySchedule(leadership.guard, [{ kind: 'place', unit: name, machine: machine.id }]);
  };

  const systemd = await connectSystemd({ busAddress: `unix:path=/proc/${pid1}/root/run/dbus/system_bus_socket` });
  const agent = new Agent({
    registry: reg, systemd, machine, ttlSeconds: 3, parseUnit: (r) => parseUnit(r.name, r.text),
    fsRoot: `/proc/${pid1}/root`, log: silentLogger, safetyIntervalMs: 300,
  });
  const ac = new AbortController();
  const running = agent.run(ac.signal);
  t.teardown(async () => { ac.abort(); await running; systemd.close(); });

  await t.test('a health check that always fails (100 ms interval): restarted with backoff, never start-limit-hit in 30 s', async (t) => {
    // systemd's defaults (5 starts in 10 s): before, every failed check restarted it, and the sixth start within
    // a second was refused for good
    await launch('sick.service', `[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nHealthCheck=false\nHealthInterval=100ms\nHealthRetries=1\nMinHealthyTime=0\n`);
    await until('sick started', async () => (await show('sick.service', 'ExecMainStartTimestampMonotonic')) !== '0');
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000) {
      const [active, result] = [await show('sick.service', 'ActiveState'), await show('sick.service', 'Result')];
      if (active === 'failed' || result !== 'success') {
        t.fail(`systemd gave up on it after ${Math.round((Date.now() - t0) / 1000)} s: ${active}, Result=${result}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const st = await until('sick reported', async () => { const s = await stateOf('sick.service'); return s?.health === 'unhealthy' && !!s.reason && s; });
    // restarts at ~0, then at least 1, 2, 4, 8 s apart: 4 or 5 in 30 s, not one per check (300)
    t.ok(st.healthRestarts! >= 3 && st.healthRestarts! <= 6, `restarted ${st.healthRestarts} times in 30 s`);
    t.match(st.reason, /health check failed/, `the reason names the health check: ${st.reason}`);
    t.match(st.reason, /next restart in \d+ s/, 'and when the next restart is due');
    await reg.destroyUnit('sick.service');
  });

  await t.test('health restarts that still run into a unit\'s own low start limit: failed, and the reason names both', async (t) => {
    await launch('sicker.service', `[Unit]\nStartLimitIntervalSec=1h\nStartLimitBurst=2\n[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nHealthCheck=false\nHealthInterval=100ms\nHealthRetries=1\nMinHealthyTime=0\n`);
    const st = await until('sicker failed with a reason', async () => { const s = await stateOf('sicker.service'); return s?.activeState === 'failed' && /start rate limit/.test(s.reason ?? '') && s; });
    t.equal(await show('sicker.service', 'Result'), 'start-limit-hit');
    t.match(st.reason, /^start rate limit hit \(systemd StartLimitBurst=2 in StartLimitIntervalSec=1h\): restarted 2 times for failing its health check \(last: exit 1\)/, `the reason: ${st.reason}`);
    t.equal(st.health, 'unhealthy');
    await reg.destroyUnit('sicker.service');
  });

  await t.test('an ExecStart that cannot run: failed, and the reason says why', async (t) => {
    await launch('noexec.service', '[Service]\nExecStart=/nonexistent/daemon\n');
    const st = await until('noexec failed with a reason', async () => { const s = await stateOf('noexec.service'); return s?.activeState === 'failed' && !!s.reason && s; });
    t.match(st.reason, /203\/EXEC/, `the reason: ${st.reason}`);
    await reg.destroyUnit('noexec.service');
  });

  await t.test('systemd gave up restarting it (start-limit-hit): the reason says so; the user\'s stop + start runs it again', async (t) => {
    // fails until /run/flaky-ok exists; systemd restarts it (Restart=always) until its start limit: 3 starts an hour
    await tb.sh(node, 'rm -f /run/flaky-ok');
    await launch('flaky.service', '[Unit]\nStartLimitIntervalSec=1h\nStartLimitBurst=3\n[Service]\nExecStart=/bin/sh -c \'test -e /run/flaky-ok && exec sleep 1000\'\nRestart=always\nRestartSec=100ms\n');
    const st = await until('flaky failed for good with a reason', async () => { const s = await stateOf('flaky.service'); return s?.activeState === 'failed' && /start rate limit/.test(s.reason ?? '') && s; })
      .catch(async (err) => {
        t.comment(`flaky.service reported: ${JSON.stringify(await stateOf('flaky.service'))}; systemd: ${await tb.sh(node, 'systemctl show -p ActiveState,Result,NRestarts,StartLimitBurst,StartLimitIntervalUSec flaky.service | tr "\\n" " "')}`);
        throw err;
      });
    // systemd 252 keeps Result=exit-code when its own restarts run into the limit; a start it refuses now is start-limit-hit
    t.equal(await show('flaky.service', 'NRestarts'), '3', 'started 3 times; the third restart refused');
    t.match(st.reason, /start rate limit hit \(systemd StartLimitBurst=3 in StartLimitIntervalSec=1h\)/, `the reason: ${st.reason}`);
    t.match(st.reason, /exited with status 1/, 'and how its last run ended');
    // the user fixes what was wrong, then `shoalctl stop` + `start`: no ssh, no systemctl reset-failed
    await tb.sh(node, 'touch /run/flaky-ok');
    await reg.setDesired('flaky.service', 'loaded');
    await until('flaky stopped by the agent', async () => agent.managed().find((u) => u.name === 'flaky.service')?.started === false);
    await reg.setDesired('flaky.service', 'launched');
    const back = await until('flaky active again', async () => { const s = await stateOf('flaky.service'); return s?.activeState === 'active' && s; });
    t.equal(back.reason, undefined, 'running: no reason any more');
    t.equal(await show('flaky.service', 'ActiveState'), 'active');
    await reg.destroyUnit('flaky.service');
  });
});
