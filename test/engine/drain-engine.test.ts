/**
 * Cordon and drain through the API operations and real engines on a real etcd (agents simulated by
 * reporting states): a drain moves a machine's units one group step at a time, never leaving a group
 * below count − UpdateParallel healthy, continues across an engine failover, leaves a unit no other
 * machine can run where it is (reported), and a cordoned machine gets no new units. shoalctl drain of the
 * only machine reports the unit left and exits 1.
 */
import t from 'tap';
import { engineOnEtcd, machineRecord, until } from '../helpers/engine-etcd';
import { simulateAgents } from '../helpers/state-simulator';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineSession } from '../../src/etcd/registry';
import { setDesiredStates, submitUnit } from '../../src/api/unit-ops';
import { scaleGroup } from '../../src/api/group-ops';
import { cordonMachine, drainMachine, drainStatus, uncordonMachine } from '../../src/api/drain-ops';
import { NotFoundError } from '../../src/api/grpc-errors';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServer } from '../../src/api/server';
import { runCli } from '../../src/cli/program';
import type { CliIO } from '../../src/cli/io';
import { silentLogger } from '../../src/log';

const { reg, startEngine } = engineOnEtcd(t);
const rec = (id: string) => machineRecord(id, id === 'm1' ? { disk: 'ssd' } : {});

/** Healthy instances of each group where they are scheduled now. */
async function healthyByGroup(api: EtcdRegistry): Promise<Map<string, number>> {
  const [units, schedule, states] = await Promise.all([api.listUnits(), api.listSchedule(), api.listStates()]);
  const hash = new Map(units.value.map((u) => [u.name, u.hash]));
  const out = new Map<string, number>([['web', 0], ['api', 0]]);
  for (const s of states.value) {
    const g = s.unit.split('@')[0];
    if (!out.has(g) || s.unit.includes('@.') || schedule.value.get(s.unit) !== s.machine) continue;
    if (s.state.hash === hash.get(s.unit) && s.state.health === 'healthy') out.set(g, out.get(g)! + 1);
  }
  return out;
}

t.test('drain: group steps, floors kept, failover, a pinned unit stays, cordon keeps new units off', async (t) => {
  const P = '/d1/';
  const api = reg(P);
  const sessions: MachineSession[] = [];
  for (const id of ['m1', 'm2', 'm3']) sessions.push(await api.register(rec(id), 5));
  const sim = simulateAgents(api, sessions, { healthyAfterMs: 400 });
  t.teardown(() => sim.stop());
  let e = startEngine(P, 'e1');
  t.teardown(() => e.stop());

  await submitUnit(api, 'web@.service', '[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nInstances=6\nUpdateParallel=1\n');
  await submitUnit(api, 'api@.service', '[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nInstances=3\nUpdateParallel=2\n');
  await submitUnit(api, 'pinned.service', '[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nMachineMetadata=disk=ssd\n');
  await setDesiredStates(api, ['web@.service', 'api@.service', 'pinned.service'], 'launched');
  const floors = new Map([['web', 5], ['api', 1]]);
  await until(async () => { const h = await healthyByGroup(api); return h.get('web') === 6 && h.get('api') === 3; }, 15_000, 'every instance healthy');
  const before = (await api.listAssigned('m1')).value.sort();
  t.ok(before.filter((u) => u.startsWith('web@')).length >= 2, `m1 runs several web instances (${before.join(', ')})`);

  await t.rejects(drainMachine(api, 'nosuch', 60_000, 'test'), NotFoundError, 'an unknown machine is refused');
  const started = await drainMachine(api, 'm1', 60_000, 'test');
  t.match(started, { machine: 'm1', changed: true });
  const again = await drainMachine(api, 'm1', 60_000, 'test');
  t.match(again, { changed: false, drainId: started.drainId, message: /already draining/ }, 'a second drain is a no-op that says so');
  t.match(await cordonMachine(api, 'm1', 'test'), { changed: false, message: /already cordoned/ });

  const lows: string[] = [];
  let failedOver = false;
  const progress = await until(async () => {
    const h = await healthyByGroup(api);
    for (const [g, n] of h) if (n < floors.get(g)!) lows.push(`${g}: ${n} healthy`);
    const s = await drainStatus(api, 'm1');
    if (!failedOver && s.progress && s.progress.moved.length >= 1) {
      failedOver = true;
      await e.stop();
      e = startEngine(P, 'e2'); // the drain lives in etcd: the new leader carries on
    }
    return s.progress?.status === 'done' && s.progress;
  }, 40_000, 'the drain to finish');
  t.same(lows, [], 'no group below count − UpdateParallel during the drain');
  t.ok(failedOver, 'the drain continued after an engine failover');
  t.same((await api.listAssigned('m1')).value, ['pinned.service'], 'only the unit no other machine can run is left');
  t.same(progress.stuck.map((s) => s.unit), ['pinned.service']);
  t.match(progress.stuck[0].reason, /metadata disk/);
  t.same(progress.moved.map((m) => m.unit).sort(), before.filter((u) => u !== 'pinned.service').sort(), 'every other unit moved');
  t.ok(progress.moved.every((m) => m.to !== 'm1' && m.healthy), 'each healthy on its new machine');

  await scaleGroup(api, 'web@.service', 9);
  await until(async () => { const s = (await api.listSchedule()).value; return ['web@7.service', 'web@8.service', 'web@9.service'].every((u) => s.has(u)) && s; }, 5000, 'new instances placed');
  t.notOk((await api.listAssigned('m1')).value.some((u) => u.startsWith('web@')), 'a cordoned machine gets no new units');

  t.match(await uncordonMachine(api, 'm1'), { changed: true });
  t.match(await uncordonMachine(api, 'm1'), { changed: false, message: /not cordoned/ });
  t.same(await drainStatus(api, 'm1'), { machine: 'm1', cordon: null, progress: null });
});

t.test('a unit desired only loaded (a socket\'s service) counts as moved once loaded on its new machine: the drain does not run to its deadline', async (t) => {
  // the newcomer's finding: a machine with a socket-activated echo.service drained for the whole deadline
  const P = '/d3/';
  const api = reg(P);
  const sessions: MachineSession[] = [];
  for (const id of ['m1', 'm2']) sessions.push(await api.register(rec(id), 5));
  const sim = simulateAgents(api, sessions, { healthyAfterMs: 200 });
  t.teardown(() => sim.stop());
  const e = startEngine(P, 'e1');
  t.teardown(() => e.stop());
  await submitUnit(api, 'echo.service', '[Service]\nExecStart=/bin/cat\n[X-Fleet]\nMachineMetadata=disk=ssd\n');
  await setDesiredStates(api, ['echo.service'], 'loaded');
  await until(async () => (await api.listAssigned('m1')).value.includes('echo.service'), 10_000, 'echo loaded on m1');
  // now anywhere: drop the metadata pin so m2 can take it
  await submitUnit(api, 'echo.service', '[Service]\nExecStart=/bin/cat\n', { replace: true });
  await until(async () => (await api.listStates('echo.service')).value.some((s) => s.state.hash && s.machine === 'm1' && s.state.loadState === 'loaded'), 10_000, 'echo reported loaded');
  const t0 = Date.now();
  await drainMachine(api, 'm1', 60_000, 'test');
  const p = await until(async () => { const s = await drainStatus(api, 'm1'); return s.progress?.status === 'done' && s.progress; }, 15_000, 'the drain to finish');
  t.same(p.moved.map((m) => `${m.unit} -> ${m.to} ${m.healthy}`), ['echo.service -> m2 true'], 'moved, and counted arrived when loaded there');
  t.notOk(p.deadlinePassed, `done in ${Date.now() - t0} ms, not by its deadline`);
});

t.test('draining the only machine that can run a unit: shoalctl drain reports it left (exit 1), it stays running there', async (t) => {
  const P = '/d2/';
  const api = reg(P);
  const session = await api.register(rec('solo'), 5);
  const sim = simulateAgents(api, [session], { healthyAfterMs: 100 });
  t.teardown(() => sim.stop());
  const e = startEngine(P, 'e1');
  t.teardown(() => e.stop());
  await submitUnit(api, 'only.service', '[Service]\nExecStart=/bin/sleep 1000\n');
  await setDesiredStates(api, ['only.service'], 'launched');
  const active = async () => (await api.listStates('only.service')).value.some((s) => s.machine === 'solo' && s.state.activeState === 'active');
  await until(active, 15_000, 'only.service active on solo');
  const dir = mkdtempSync(join(tmpdir(), 'shoal-drain-'));
  const server = new ApiServer({ listen: [`unix://${dir}/s.sock`] }, { registry: api, log: silentLogger });
  await server.start();
  t.teardown(async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); });
  const ctl = async (...args: string[]) => {
    let out = '';
    let err = '';
    const io: CliIO = { stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } }, env: { SHOAL_ENDPOINT: `unix://${dir}/s.sock` }, cwd: dir };
    return { code: await runCli(args, io), out, err };
  };
  const r = await ctl('drain', 'solo', '--deadline', '30s');
  t.equal(r.code, 1, 'exit 1: a unit could not move');
  t.match(r.out, /machine solo drained: 0 unit\(s\) moved, 1 left: no other machine can run them/);
  t.match(r.out, /left {2}only\.service: no other machine can run it \(no other machine is live\)/, 'the report names the unit and why');
  t.match(r.err, /1 unit\(s\) left on solo: no other machine can run them/);
  t.same((await api.listAssigned('solo')).value, ['only.service'], 'still placed there');
  t.ok(await active(), 'still running there');
  const again = await ctl('drain', 'solo', '--no-wait');
  t.equal(again.code, 0, again.err);
  t.match(again.out, /cordoned; draining/, 'a drain of a drained machine starts again (units may have come back)');
  const unknown = await ctl('drain', 'nosuch');
  t.equal(unknown.code, 1);
  t.match(unknown.err, /no live machine "nosuch"/, 'an unknown machine is refused, nothing written');
  t.same([...(await api.listCordons()).keys()], ['solo']);
});
