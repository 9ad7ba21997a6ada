/**
 * The load reporter on a real etcd (issue 12): one put per significant change, a major change written at the
 * next sample, a minor one only once the last write is minorEveryMs old, nothing for no change; a new session
 * (new lease) gets the report again; a failing source never stops the reporter.
 */
import t from 'tap';
import { startEtcd } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineLoad, MachineRecord } from '../../src/etcd/registry';
import { LoadReporter } from '../../src/agent/load-reporter';
import type { Clock } from '../../src/agent/clock';
import { silentLogger } from '../../src/log';

t.test('writes only significant changes, at their pace', async (t) => {
  const etcd = await startEtcd({ tls: true, auth: true });
  t.teardown(() => etcd.close());
  const reg = new EtcdRegistry({ ...etcd.connection, callTimeoutMs: 2000 });
  t.teardown(() => reg.close());
  const rec: MachineRecord = { id: 'm1', metadata: {}, capacity: { cpuMillis: 2000, memoryBytes: 0 }, version: 't', startedAt: '' };
  const session = await reg.register(rec, 10);
  const sim = { now: 0 };
  const clock: Clock = { now: () => sim.now, setTimeout: () => undefined, clearTimeout: () => undefined };
  let unitCpu = 200;
  let fail = false;
  const load = (): MachineLoad => ({
    at: new Date(sim.now).toISOString(), cpuMillis: 500, cpuTotalMillis: 2000, memAvailableBytes: 1000, memTotalBytes: 2000,
    diskFreeBytes: 10, diskTotalBytes: 20, units: { 'a.service': { cpuMillis: unitCpu } },
  });
  const r = new LoadReporter({ source: { sample: async () => { if (fail) throw new Error('no /proc'); return load(); } }, units: () => [], clock, log: silentLogger, minorEveryMs: 30_000 });
  const stored = async () => (await reg.listLoads()).get('m1')?.units['a.service']?.cpuMillis;
  const step = async (ms = 5000) => { sim.now += ms; await r.tick(); };

  await r.tick();
  t.equal(r.writes, 0, 'no session: nothing written');
  r.setSession(session);
  await step();
  t.equal(r.writes, 1, 'first report written');
  t.equal(await stored(), 200);
  await step();
  t.equal(r.writes, 1, 'no change: no write');
  unitCpu = 260;
  await step();
  t.equal(r.writes, 1, 'minor change (+60m) within 30 s of the last write: held');
  await step(25_000);
  t.equal(r.writes, 2, 'minor change written once the last write is 30 s old');
  t.equal(await stored(), 260);
  unitCpu = 900;
  await step();
  t.equal(r.writes, 3, 'major change (a burn starts) written at the next sample');
  t.equal(await stored(), 900);
  fail = true;
  await step();
  t.equal(r.samples, 6, 'a failing sample is skipped');
  fail = false;
  const next = await reg.register({ ...rec, id: 'm1', session: undefined }, 10).catch((e) => e);
  t.match(next, { code: 'machine.duplicate-id' }, 'the machine is still registered');
  const s2 = await reg.register({ ...rec, id: 'm2' }, 10);
  r.setSession(s2);
  await step();
  t.equal(r.writes, 4, 'a new session gets the report again, unchanged or not');
  t.equal((await reg.listLoads()).get('m2')?.units['a.service']?.cpuMillis, 900);
  await session.close();
  t.notOk((await reg.listLoads()).has('m1'), 'the report goes with its lease');
  r.close();
  await s2.close();
});
