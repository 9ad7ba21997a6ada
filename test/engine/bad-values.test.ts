/**
 * Bad values under the prefix (garbage, truncated JSON, a unit record with an invalid name) against a real
 * etcd: reads and watches skip and name them, the engine keeps its leadership and places everything else.
 */
import t from 'tap';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { BadValue, MachineRecord } from '../../src/etcd/registry';
import { Engine } from '../../src/engine/engine';
import { silentLogger, type Logger } from '../../src/log';
import { unitHash } from '../../src/units/unit-hash';
import { parseUnitFile } from '../../src/units/unit-file';
import { listMachines, listUnitFiles, listUnitStates } from '../../src/api/views';
import { etcdctl } from '../etcd/etcdctl';

let etcd: EtcdServer;
const regs: EtcdRegistry[] = [];
const P = '/bad/';
const reg = () => { const r = new EtcdRegistry({ ...etcd.connection, prefix: P, callTimeoutMs: 1000 }); regs.push(r); return r; };
const rec = (id: string): MachineRecord => ({ id, metadata: {}, capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }, version: 'test', startedAt: '' });
const unit = (name: string) => {
  const text = '[Service]\nExecStart=/bin/sleep 1000\n';
  return { name, text, hash: unitHash(parseUnitFile(text)) };
};
const put = (key: string, value: string) => etcdctl(etcd, 'put', `${P}${key}`, value);

t.before(async () => { etcd = await startEtcd({ tls: true, auth: true }); });
t.teardown(async () => { for (const r of regs) r.close(); await etcd.close(); });

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A logger that keeps warnings (the engine must name each bad key in a log line). */
function recordingLogger(lines: { msg: string; fields: Record<string, unknown> }[]): Logger {
  const log: Logger = {
    ...silentLogger,
    warn: (msg: string, fields?: Record<string, unknown>) => { lines.push({ msg, fields: fields ?? {} }); },
    child: () => log,
  };
  return log;
}

const GARBAGE: Record<string, string> = {
  'units/garbage.service': 'not json {',
  'units/trunc.service': '{"name":"trunc.service","text":"[Serv',
  'units/.hidden.service': JSON.stringify({ name: '.hidden.service', text: '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n', hash: 'h' }),
  'units/other.service': JSON.stringify({ name: 'not-other.service', text: '', hash: 'h' }),
  'desired/garbage.service': 'bogus',
  'machines/m9': '\u00ff\u0001garbage',
  'states/a.service/m1': '{"loadState":',
};

t.test('garbage under the prefix is skipped and named; the engine leads on and places every good unit', async (t) => {
  const api = reg();
  const sessions = [await api.register(rec('m1'), 5), await api.register(rec('m2'), 5)];
  t.teardown(() => Promise.all(sessions.map((s) => s.close())));
  for (const [k, v] of Object.entries(GARBAGE)) put(k, v);
  await api.submitUnit(unit('a.service'), { desired: 'launched' });
  await api.submitUnit(unit('b.service'), { desired: 'launched' });

  // reads skip each bad key and say which and why
  const units = await api.listUnits();
  t.same(units.value.map((u) => u.name).sort(), ['a.service', 'b.service']);
  const badKeys = (b: BadValue[] | undefined) => (b ?? []).map((x) => x.key).sort();
  t.same(badKeys(units.bad), [`${P}units/.hidden.service`, `${P}units/garbage.service`, `${P}units/other.service`, `${P}units/trunc.service`]);
  t.match(units.bad!.find((b) => b.key.endsWith('.hidden.service'))!, { unit: '.hidden.service', reason: /invalid unit name/ });
  t.match(units.bad!.find((b) => b.key.endsWith('other.service'))!, { reason: /not the unit its key names/ });
  t.same(badKeys((await api.listDesired()).bad), [`${P}desired/garbage.service`]);
  t.same((await api.listMachines()).value.map((m) => m.id).sort(), ['m1', 'm2']);
  t.same(badKeys((await api.listMachines()).bad), [`${P}machines/m9`]);
  t.same(badKeys((await api.listStates()).bad), [`${P}states/a.service/m1`]);
  const cluster = await api.readCluster();
  t.equal(cluster.bad?.length, 7, 'readCluster names all seven (it reads states/ for health gates)');

  // what shoalctl's listings get
  const bad: BadValue[] = [];
  t.same((await listUnitFiles(api, undefined, bad)).map((u) => u.name), ['a.service', 'b.service']);
  t.equal(bad.length, 7, 'list-unit-files reports the bad keys it skipped');
  const bad2: BadValue[] = [];
  await listUnitStates(api, [], bad2);
  await listMachines(api, bad2);
  t.same(badKeys(bad2), [`${P}machines/m9`, `${P}states/a.service/m1`]);

  const lines: { msg: string; fields: Record<string, unknown> }[] = [];
  const r = reg();
  const engine = new Engine({ registry: r, id: 'e1', log: recordingLogger(lines), ttlSeconds: 2, debounceMs: 20 });
  const ac = new AbortController();
  const done = engine.run(ac.signal);
  t.teardown(async () => { ac.abort(); await done; });
  await until(async () => (await api.listSchedule()).value.size === 2, 5000, 'a and b placed');
  for (const k of Object.keys(GARBAGE)) {
    t.ok(lines.some((l) => l.fields.key === `${P}${k}` && /bad value/.test(l.msg)), `log line names ${k}`);
  }

  // a watch names a bad value written later; the engine goes on placing
  const watchAc = new AbortController();
  t.teardown(() => watchAc.abort());
  const seen: BadValue[] = [];
  const watching = (async () => {
    for await (const b of api.watch([{ kind: 'units' }], { signal: watchAc.signal })) seen.push(...(b.bad ?? []));
  })();
  await new Promise((r) => setTimeout(r, 200));
  put('units/late.service', '{"truncated');
  await api.submitUnit(unit('c.service'), { desired: 'launched' });
  await until(async () => (await api.listSchedule()).value.has('c.service'), 5000, 'c placed after more garbage');
  await until(async () => seen.length > 0, 5000, 'the watch to name the bad key');
  t.same(seen.map((b) => b.key), [`${P}units/late.service`]);
  t.ok(lines.some((l) => l.fields.key === `${P}units/late.service`), 'the engine logs the key seen by watch');

  // a placed unit whose record turns to garbage keeps its placement (never moved or stopped for a value we cannot read)
  const where = (await api.listSchedule()).value.get('a.service');
  put('units/a.service', 'garbage');
  await api.submitUnit(unit('d.service'), { desired: 'launched' });
  await until(async () => (await api.listSchedule()).value.has('d.service'), 5000, 'd placed');
  t.equal((await api.listSchedule()).value.get('a.service'), where, 'a keeps its machine');
  // writing a good value over a bad one is how a user fixes it: single submit and the batch path both overwrite
  t.equal(await api.submitUnit(unit('garbage.service'), { desired: 'launched' }), 'exists', 'no silent overwrite without replace');
  t.equal(await api.submitUnit(unit('garbage.service'), { replace: true, desired: 'launched' }), 'replaced');
  const res = await api.applyUnitBatch([{ kind: 'submit', unit: unit('trunc.service'), replace: true, desired: 'launched' }]);
  t.equal(res[0].outcome, 'replaced', 'the batch path overwrites a bad value too');
  await until(async () => { const s = (await api.listSchedule()).value; return s.has('garbage.service') && s.has('trunc.service'); }, 5000, 'the fixed units placed');
  t.equal(engine.stats.terms, 1, 'one term: leadership never dropped');
  watchAc.abort();
  await watching;
});
