/**
 * The D-Bus driver and the UnitManager against a real systemd over its real system bus, in a testbed
 * node (booted without shoald). The test process connects from the host to the node's bus socket
 * and writes unit files through /proc/<pid1>/root.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { connectSystemd, unitNameOfPath, unitObjectPath } from '../../src/agent/systemd-dbus';
import type { Systemd, SystemdUnitState } from '../../src/agent/systemd';
import { UnitManager } from '../../src/agent/unit-manager';
import { ShoalError } from '../../src/errors';
import { ProcLoadSampler } from '../../src/agent/load-sampler';
import { up } from '../helpers/testbed';

const SLEEP = '[Service]\nExecStart=/bin/sleep 1000\n';

/**
 * A UnitManager whose queued jobs can be awaited: start/stop return once systemd accepted the job,
 * and the job's end arrives through onSettled (the agent never waits on a job).
 */
function managerWithJobs(opts: { systemd: Systemd; fsRoot: string }) {
  const waiters = new Map<string, Array<() => void>>();
  const um = new UnitManager({ ...opts, onSettled: (name) => { for (const w of waiters.get(name) ?? []) w(); waiters.delete(name); } });
  const settled = (name: string) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no job end for ${name} within 10 s`)), 10_000);
    waiters.set(name, [...(waiters.get(name) ?? []), () => { clearTimeout(timer); resolve(); }]);
  });
  /** Queues `kind` for `name` and resolves once its job (for an unload: its stop and file removal) ended. */
  const run = async (kind: 'start' | 'stop' | 'unload', name: string) => {
    const done = settled(name);
    await um[kind](name);
    await done;
  };
  return { um, run };
}

t.test('object paths round-trip', async (t) => {
  for (const n of ['a.service', 'web@3.service', 'x-y_z.service', 'ünï.service']) {
    const p = unitObjectPath(n);
    t.match(p, /^\/org\/freedesktop\/systemd1\/unit\/[A-Za-z0-9_]+$/);
    t.equal(unitNameOfPath(p), n);
  }
  t.equal(unitObjectPath('a-b.service'), '/org/freedesktop/systemd1/unit/a_2db_2eservice');
  t.equal(unitNameOfPath('/org/freedesktop/systemd1/job/12'), undefined);
});

t.test('on a real node', async (t) => {
  const tb = await up({ nodes: 1, t });
  const node = tb.nodes[0];
  const pid1 = await tb.pid1(node);
  const busAddress = `unix:path=/proc/${pid1}/root/run/dbus/system_bus_socket`;
  const fsRoot = `/proc/${pid1}/root`;
  const show = async (unit: string, prop: string) => (await tb.sh(node, `systemctl show -p ${prop} --value ${unit}`)).trim();

  const sd = await connectSystemd({ busAddress });
  t.teardown(() => sd.close());

  await t.test('D-Bus errors become ShoalErrors with systemd codes', async (t) => {
    await t.rejects(sd.startUnit('no-such-thing.service'), { code: 'systemd.no-such-unit' });
    const err = await sd.startUnit('no-such-thing.service').catch((e) => e);
    t.ok(err instanceof ShoalError);
    t.match(err.message, /no-such-thing\.service/);
  });

  await t.test('UnitManager: load three units with one reload, start them, follow states by signals', async (t) => {
    const { um, run } = managerWithJobs({ systemd: sd, fsRoot });
    t.teardown(() => um.close());
    t.same(await um.adopt(), []);
    const seen: string[] = [];
    um.onState((u) => seen.push(`${u.name}=${u.state.activeState}`));
    for (const n of ['a.service', 'b.service', 'c.service']) await um.load(n, SLEEP);
    t.ok(existsSync(`${fsRoot}/run/shoal/units/a.service`), 'file in the runtime dir');
    await um.reload();
    t.equal(await show('a.service', 'LoadState'), 'loaded');
    t.equal(await show('a.service', 'FragmentPath'), '/run/systemd/system/a.service');

    await run('start', 'a.service');
    await run('start', 'b.service');
    const a = um.get('a.service')!;
    t.equal(a.state.activeState, 'active');
    t.equal(a.state.subState, 'running');
    t.ok(a.started);
    t.ok(a.state.mainPid > 0);
    t.equal(await show('a.service', 'ActiveState'), 'active');
    t.equal(Number(await show('a.service', 'MainPID')), a.state.mainPid, 'MainPID as systemctl sees it');
    t.ok(seen.includes('a.service=active'), 'active state reported through the listener');

    // killed from outside: the state change arrives by signal, no call on our side
    const changed = new Promise<SystemdUnitState>((resolve) => {
      const off = um.onState((u) => { if (u.name === 'b.service' && u.state.activeState !== 'active') { off(); resolve(u.state); } });
    });
    await tb.sh(node, 'systemctl kill -s KILL b.service');
    const st = await changed;
    t.match(st.activeState, /^(failed|inactive|deactivating)$/);

    await run('stop', 'a.service');
    t.equal(um.get('a.service')!.state.activeState, 'inactive');
    t.notOk(um.get('a.service')!.started);
    await run('start', 'a.service');
    t.equal(um.get('a.service')!.state.activeState, 'active');
  });

  await t.test('a replaced unit runs its new text; no daemon-reload unless systemd still holds the old one', async (t) => {
    let reloads = 0;
    const counted = new Proxy(sd, {
      get(target, prop) {
        if (prop === 'reload') return async () => { reloads++; await target.reload(); };
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const { um, run } = managerWithJobs({ systemd: counted, fsRoot });
    t.teardown(() => um.close());
    await um.adopt();
    const text = (v: string) => `[Service]\nExecStart=/bin/sh -c 'echo ${v} > /run/r.out; exec sleep 1000'\n`;
    const runsText = async (v: string) => {
      for (let i = 0; i < 100 && (await tb.sh(node, 'cat /run/r.out 2>/dev/null || true')).trim() !== v; i++) await new Promise((r) => setTimeout(r, 50));
      return (await tb.sh(node, 'cat /run/r.out')).trim();
    };
    // a unit systemd has never seen: found through its unit-path cache, no reload
    await um.load('r.service', text('v1'));
    await um.reload();
    await run('start', 'r.service');
    t.equal(await runsText('v1'), 'v1', 'the first text runs');
    t.equal(reloads, 0, 'a new unit: no daemon-reload');
    // replaced as the agent does (unload: stop, file removed; then load the new text): systemd collected the old unit
    await run('unload', 'r.service');
    await um.load('r.service', text('v2'));
    await um.reload();
    await run('start', 'r.service');
    t.equal(await runsText('v2'), 'v2', 'the new text runs');
    t.equal(reloads, 0, 'a replaced unit systemd had collected: no daemon-reload');
    t.equal(await show('r.service', 'NeedDaemonReload'), 'no');
    // held by another unit's Wants=: systemd keeps the old definition in memory, so a reload is needed and done
    await um.load('holder.service', '[Unit]\nWants=r.service\n' + SLEEP);
    await um.reload();
    await run('start', 'holder.service');
    await run('unload', 'r.service');
    await um.load('r.service', text('v3'));
    await um.reload();
    await run('start', 'r.service');
    t.equal(await runsText('v3'), 'v3', 'the new text runs while another unit holds the name');
    t.equal(reloads, 1, 'one daemon-reload, because systemd still held the old unit');
    t.equal(await show('r.service', 'NeedDaemonReload'), 'no');
    for (const n of ['holder.service', 'r.service']) await run('unload', n);
    await um.reload();
  });

  await t.test('a start job that fails leaves the unit failed, and still started', async (t) => {
    const { um, run } = managerWithJobs({ systemd: sd, fsRoot });
    t.teardown(() => um.close());
    await um.adopt();
    await um.load('bad.service', '[Service]\nType=oneshot\nExecStart=/bin/false\n');
    await um.reload();
    await run('start', 'bad.service');
    t.equal(um.get('bad.service')!.state.activeState, 'failed');
    t.ok(um.get('bad.service')!.started, 'counts as started: Restart= decides, not the agent');
    await run('unload', 'bad.service');
    await um.reload();
    t.equal(await show('bad.service', 'LoadState'), 'not-found');
  });

  await t.test('a new UnitManager adopts the running units (same MainPID) and unloads cleanly', async (t) => {
    const pid = Number(await show('a.service', 'MainPID'));
    t.ok(pid > 0);
    // d.service: managed (its file in the runtime dir) but started by systemd itself, as a socket's service or
    // a WantedBy= of an enabled unit is: the newcomer's finding (a shoald restart stopped such units)
    await tb.sh(node, `printf '[Service]\\nExecStart=/bin/sleep 1000\\n' > /run/shoal/units/d.service && systemctl link --runtime /run/shoal/units/d.service && systemctl start d.service`);
    const sd2 = await connectSystemd({ busAddress });
    t.teardown(() => sd2.close());
    const { um, run } = managerWithJobs({ systemd: sd2, fsRoot });
    t.teardown(() => um.close());
    const adopted = await um.adopt();
    t.same(adopted.map((u) => u.name), ['a.service', 'b.service', 'c.service', 'd.service']);
    const a = adopted[0];
    t.ok(a.started);
    t.equal(a.state.mainPid, pid, 'adopted, not restarted');
    t.notOk(adopted[2].started, 'c was never started');
    t.equal(adopted[3].state.activeState, 'active');
    t.notOk(adopted[3].started, 'd runs, but systemd started it, not shoal: a desired-loaded d is not stopped');

    for (const n of ['a.service', 'b.service', 'c.service', 'd.service']) await run('unload', n);
    await um.reload();
    t.same(um.list(), []);
    t.equal(await show('a.service', 'LoadState'), 'not-found');
    t.equal(await show('a.service', 'ActiveState'), 'inactive');
    t.notOk(existsSync(`${fsRoot}/run/shoal/units/a.service`));
    t.notOk(existsSync(`${fsRoot}/run/systemd/system/a.service`), 'runtime link removed');
    t.equal((await tb.exec(node, ['kill', '-0', String(pid)])).code === 0, false, 'process gone');
  });

  await t.test('cgroup accounting: unitUsage and the load sampler see a busy unit (issue 12)', async (t) => {
    const { um, run } = managerWithJobs({ systemd: sd, fsRoot });
    t.teardown(() => um.close());
    await um.adopt();
    // busy for 2 s, then idle: brief, the machine has 2 cores for everyone
    await um.load('burn.service', '[Service]\nExecStart=/bin/sh -c "timeout 2 /bin/sh -c \'while :; do :; done\'; exec sleep 1000"\n');
    await um.load('idle.service', SLEEP);
    await um.reload();
    await run('start', 'burn.service');
    await run('start', 'idle.service');
    // the host's /proc: the node's cgroup.procs, read from here, lists host pids (nspawn shares /proc/stat and meminfo anyway)
    const sampler = new ProcLoadSampler(sd, fsRoot, '/proc', `${fsRoot}/sys/fs/cgroup`);
    const first = await sampler.sample(['burn.service', 'idle.service']);
    t.same(first.units, {}, 'a rate needs two readings');
    t.ok(first.memTotalBytes > 0 && first.memAvailableBytes > 0 && first.memAvailableBytes <= first.memTotalBytes, 'meminfo read');
    t.ok(first.diskTotalBytes > 0 && first.diskFreeBytes <= first.diskTotalBytes, 'statfs read');
    await new Promise((r) => setTimeout(r, 700));
    const second = await sampler.sample(['burn.service', 'idle.service']);
    // a busy loop gets up to a core; a loaded 2-core machine shares it
    t.ok(second.units['burn.service'].cpuMillis > 100, `burning unit uses CPU: ${second.units['burn.service'].cpuMillis}m`);
    t.ok(second.units['idle.service'].cpuMillis < 50, `sleeping unit does not: ${second.units['idle.service'].cpuMillis}m`);
    const mem = second.units['idle.service'].memoryBytes ?? 0;
    t.ok(mem > 100_000 && mem < 100 * 1024 ** 2, `memory of a sleep (MemoryCurrent, or its processes' RSS): ${mem} bytes`);
    t.ok(second.cpuMillis > 0 && second.cpuMillis <= second.cpuTotalMillis, `machine cpu ${second.cpuMillis}m of ${second.cpuTotalMillis}m`);
    const usage = await sd.unitUsage('burn.service');
    t.ok((usage.cpuNSec ?? 0) > 1e8, 'CPUUsageNSec counts ns');
    // a unit systemd does not know: a D-Bus error or nothing accounted, never a hang
    const gone = await sd.unitUsage('never-there.service', 1000).catch(() => ({}));
    t.notOk('cpuNSec' in gone && (gone as { cpuNSec?: number }).cpuNSec! > 0);
    for (const n of ['burn.service', 'idle.service']) await run('unload', n);
    await um.reload();
  });
});
