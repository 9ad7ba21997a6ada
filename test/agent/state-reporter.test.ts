/**
 * issue 9, fault 6, on a real etcd: a state write made under the old session that completes after the
 * agent switched to a new session is written again under the new lease (before the fix it counted as
 * written, and the old lease's revoke deleted it for good).
 */
import t from 'tap';
import { startEtcd } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineRecord, MachineSession } from '../../src/etcd/registry';
import { StateReporter } from '../../src/agent/state-reporter';
import { systemClock } from '../../src/agent/clock';
import { silentLogger } from '../../src/log';

t.test('a write that completes under the old session is rewritten under the new one', async (t) => {
  const etcd = await startEtcd({ tls: true, auth: true });
  t.teardown(() => etcd.close());
  const reg = new EtcdRegistry({ ...etcd.connection, callTimeoutMs: 1000 });
  t.teardown(() => reg.close());
  const rec: MachineRecord = { id: 'm1', metadata: {}, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 't', startedAt: '', session: '6f1c2b9e-0000-4000-8000-000000000001' };
  const old = await reg.register(rec, 5);
  // the old session's write reaches etcd, but its answer is held back until after the switch
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  let reached!: () => void;
  const atEtcd = new Promise<void>((r) => { reached = r; });
  const slow: MachineSession = {
    ...old, machineId: old.machineId, lost: old.lost,
    update: (r) => old.update(r), close: () => old.close(), detach: () => old.detach(), handOver: () => old.handOver(),
    reportState: async (unit, state) => { await old.reportState(unit, state); reached(); await held; },
    reportStates: async (states) => { await old.reportStates(states); reached(); await held; },
  };
  const reporter = new StateReporter(systemClock, silentLogger);
  t.teardown(() => reporter.close());
  reporter.setSession(slow);
  reporter.update('web.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', mainPid: 42 });
  await atEtcd;
  // the restarted agent takes the record over (same token): new lease, the old one revoked with its states
  const next = await reg.register(rec, 5);
  t.teardown(() => next.close());
  reporter.setSession(next);
  release();
  await new Promise((r) => setTimeout(r, 300));
  await reporter.idle();
  const states = (await reg.listStates('web.service')).value;
  t.equal(states.length, 1, 'the state is in etcd under the new lease');
  t.equal(states[0]?.state.mainPid, 42);
});
