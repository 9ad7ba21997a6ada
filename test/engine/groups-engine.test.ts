/**
 * Groups and versions through the API operations and a real engine on a real etcd: instances 1..N kept,
 * scaling up and down (highest-numbered first), spread over machines, template start/stop/destroy acting
 * on every instance, history and rollback.
 */
import t from 'tap';
import { engineOnEtcd, machineRecord, until } from '../helpers/engine-etcd';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { destroyUnit, setDesiredStates, submitUnit } from '../../src/api/unit-ops';
import { rollback, scaleGroup, unitHistory } from '../../src/api/group-ops';
import { listUnitFiles } from '../../src/api/views';
import { ValidationError } from '../../src/errors';

const { reg, startEngine } = engineOnEtcd(t);
const rec = (id: string) => machineRecord(id);

const tpl = (extra = '', cmd = '/bin/sleep 1000') => `[Service]\nExecStart=${cmd}\n[X-Shoal]\nInstances=3\n${extra}`;

async function instances(api: EtcdRegistry, template = 'web@.service') {
  const [units, desired, schedule] = await Promise.all([api.listUnits(), api.listDesired(), api.listSchedule()]);
  const prefix = template.replace('@.service', '@');
  return units.value.filter((u) => u.name.startsWith(prefix) && u.name !== template)
    .map((u) => ({ name: u.name, hash: u.hash, desired: desired.value.get(u.name), machine: schedule.value.get(u.name) }))
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

t.test('a group keeps instances 1..N launched, scales 3 → 6 → 2, spreads, and its template acts on all', async (t) => {
  const P = '/g1/';
  const api = reg(P);
  for (const id of ['m1', 'm2', 'm3']) await api.register(rec(id), 5);
  const e = startEngine(P);
  t.teardown(() => e.stop());

  await submitUnit(api, 'web@.service', tpl());
  await setDesiredStates(api, ['web@.service'], 'launched');

  const three = await until(async () => { const i = await instances(api); return i.length === 3 && i.every((x) => x.machine) && i; }, 5000, '3 placed instances');
  t.same(three.map((i) => i.name), ['web@1.service', 'web@2.service', 'web@3.service']);
  t.ok(three.every((i) => i.desired === 'launched'), 'instances launched with the template');
  t.equal(new Set(three.map((i) => i.machine)).size, 3, 'spread: one per machine');

  t.same(await scaleGroup(api, 'web@.service', 6), { previous: 3, count: 6 });
  const six = await until(async () => { const i = await instances(api); return i.length === 6 && i.every((x) => x.machine) && i; }, 5000, '6 instances');
  const per = new Map<string, number>();
  for (const i of six) per.set(i.machine!, (per.get(i.machine!) ?? 0) + 1);
  t.same([...per.values()], [2, 2, 2], 'spread: two per machine');
  t.equal((await api.getUnit('web@.service'))!.hash, three.length ? (await api.getUnit('web@.service'))!.hash : '', 'template unchanged by scale');

  const [info] = (await listUnitFiles(api)).filter((u) => u.name === 'web@.service');
  t.match(info, { group: true, instancesDesired: 6 }, 'list-unit-files shows the group');

  await scaleGroup(api, 'web@.service', 2);
  const two = await until(async () => { const i = await instances(api); return i.length === 2 && i; }, 5000, '2 instances');
  t.same(two.map((i) => i.name), ['web@1.service', 'web@2.service'], 'scale down removed the highest-numbered');
  t.equal((await api.listSchedule()).value.has('web@6.service'), false, 'removed instances unscheduled');

  await setDesiredStates(api, ['web@2.service'], 'loaded');
  await setDesiredStates(api, ['web@.service'], 'loaded');
  t.ok((await instances(api)).every((i) => i.desired === 'loaded'), 'stop of the template stops every instance');
  await setDesiredStates(api, ['web@.service'], 'launched');
  await until(async () => (await instances(api)).every((i) => i.desired === 'launched'), 3000, 'the group launched again');
  await new Promise((r) => setTimeout(r, 200));
  await setDesiredStates(api, ['web@2.service'], 'loaded');
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await instances(api)).find((i) => i.name === 'web@2.service')!.desired, 'loaded', 'one instance handled by name stays so');

  await destroyUnit(api, 'web@.service');
  await until(async () => (await instances(api)).length === 0 && (await api.listSchedule()).value.size === 0, 5000, 'group destroyed');
  t.equal(await api.getScale('web@.service'), null, 'scale count gone with the template');
});

t.test('scale refuses a non-template and a bad count; Instances= on a single unit is refused at submit', async (t) => {
  const api = reg('/g2/');
  await t.rejects(scaleGroup(api, 'web.service', 3), ValidationError);
  await t.rejects(scaleGroup(api, 'web@.service', -1), ValidationError);
  await t.rejects(scaleGroup(api, 'web@.service', 3), /not found/);
  await t.rejects(submitUnit(api, 'one.service', '[Service]\nExecStart=/bin/true\n[X-Shoal]\nInstances=2\n'), /only for templates/);
  t.equal((await api.listUnits()).value.length, 0, 'nothing written');
});

t.test('every submit --replace keeps a version (the last 10); rollback to the previous or to a hash', async (t) => {
  const api = reg('/g3/');
  const hashes: string[] = [];
  for (let i = 0; i < 12; i++) hashes.push((await submitUnit(api, 'app.service', `[Service]\nExecStart=/bin/sleep ${1000 + i}\n`, { replace: true })).hash);
  const h = await unitHistory(api, 'app.service');
  t.equal(h.length, 10, 'ten versions kept');
  t.same(h.map((v) => v.hash), hashes.slice(2), 'the newest ten, oldest first');
  t.ok(h.at(-1)!.current && !h[0].current);
  t.same(await rollback(api, 'app.service', ''), { from: hashes[11], to: hashes[10] }, 'rollback = the previous version');
  t.equal((await api.getUnit('app.service'))!.hash, hashes[10]);
  t.same(await rollback(api, 'app.service', hashes[3].slice(0, 7)), { from: hashes[10], to: hashes[3] }, 'rollback --to a hash prefix');
  t.equal((await api.getUnit('app.service'))!.hash, hashes[3]);
  const err = await rollback(api, 'app.service', 'deadbeef').catch((e) => e);
  t.match(err.message, /deadbeef is not a stored version of app.service; stored versions: /);
  t.match(err.message, hashes[5].slice(0, 7), 'names the hashes that exist');
  t.equal((await api.getUnit('app.service'))!.hash, hashes[3], 'an unknown hash changes nothing');
});
