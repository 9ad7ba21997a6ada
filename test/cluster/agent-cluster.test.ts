/**
 * Agents in real testbed nodes (real systemd, D-Bus, etcd over the bridge, host Docker), each run as
 * the `shoal-agent` service from the compiled project (`npm run build` first). Placements are
 * written from the host through the registry with a real leader guard (no engine in this file).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { UnitStateRecord } from '../../src/etcd/registry';
import { parseUnit } from '../../src/units';
import { up, type Testbed } from '../helpers/testbed';

const AGENT = '/opt/shoal/dist/src/agent/agent-main.js';
const SLEEP = '[Service]\nExecStart=/bin/sleep 1000\n';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the agent in `node` as a transient service that systemd restarts when it dies. */
async function startAgent(tb: Testbed, node: string): Promise<void> {
  await tb.sh(node, `systemd-run --unit=shoal-agent -p Restart=always -p RestartSec=200ms -p StartLimitIntervalSec=0 ` +
    `--setenv=SHOAL_TTL=3 --setenv=SHOAL_SAFETY_MS=2000 /usr/bin/node ${AGENT}`);
}

t.test('agents on a 3-node testbed', async (t) => {
  if (!existsSync(join(__dirname, '..', '..', AGENT.replace('/opt/shoal/', '')))) {
    throw new Error(`${AGENT} missing: run npm run build before the cluster tests`);
  }
  const tb = await up({ nodes: 3, t });
  const reg = new EtcdRegistry({ ...tb.etcd, prefix: '/shoal/' });
  t.teardown(() => reg.close());
  for (const n of tb.nodes) await startAgent(tb, n);
  await until('3 machines registered', async () => (await reg.listMachines()).value.length === 3);

  const lead = new AbortController();
  const leadership = (await reg.campaign('cluster-test', 5, lead.signal))!;
  t.teardown(async () => { lead.abort(); await leadership.resign(); });
  const idOf = (node: string) => tb.machineId(node);
  const submit = async (name: string, text: string, desired: 'loaded' | 'launched') => {
    await reg.submitUnit({ name, text, hash: parseUnit(name, text).hash }, { desired });
  };
  const show = async (node: string, unit: string, prop: string) =>
    (await tb.sh(node, `systemctl show -p ${prop} --value ${unit}`)).trim();
  const state = async (unit: string, node: string): Promise<UnitStateRecord | undefined> =>
    (await reg.listStates(unit)).value.find((s) => s.machine === idOf(node))?.state;

  await t.test('a native unit placed on node2 runs there only, and disappears on destroy', async (t) => {
    await submit('hello.service', SLEEP, 'launched');
    await reg.applySchedule(leadership.guard, [{ kind: 'place', unit: 'hello.service', machine: idOf('node2') }]);
    await until('active on node2', async () => (await show('node2', 'hello.service', 'ActiveState')) === 'active');
    const st = await until('state in etcd', async () => { const s = await state('hello.service', 'node2'); return s?.activeState === 'active' && s; });
    t.equal(Number(await show('node2', 'hello.service', 'MainPID')), st.mainPid);
    t.equal(await show('node1', 'hello.service', 'LoadState'), 'not-found');
    t.equal(await show('node3', 'hello.service', 'LoadState'), 'not-found');

    await reg.setDesired('hello.service', 'inactive');
    await until('gone from node2', async () => (await show('node2', 'hello.service', 'LoadState')) === 'not-found');
    t.equal(await show('node2', 'hello.service', 'ActiveState'), 'inactive');
    await reg.destroyUnit('hello.service');
    await until('state deleted', async () => (await reg.listStates('hello.service')).value.length === 0);
  });

  await t.test('a global unit runs on every node, and on a node that joins later', async (t) => {
    await submit('everywhere.service', `${SLEEP}[X-Fleet]\nGlobal=true\n`, 'launched');
    for (const n of tb.nodes) {
      await until(`active on ${n}`, async () => (await show(n, 'everywhere.service', 'ActiveState')) === 'active');
    }
    await tb.start('node4');
    await startAgent(tb, 'node4');
    await until('active on node4', async () => (await show('node4', 'everywhere.service', 'ActiveState')) === 'active');
    // systemd says active before the agent's report reaches etcd: wait for the report, then count
    const active = async () => (await reg.listStates('everywhere.service')).value.filter((s) => s.state.activeState === 'active').length;
    await until('4 reported active', async () => (await active()) === 4);
    t.equal(await active(), 4);
    await reg.destroyUnit('everywhere.service');
    for (const n of [...tb.nodes, 'node4']) {
      await until(`gone from ${n}`, async () => (await show(n, 'everywhere.service', 'LoadState')) === 'not-found');
    }
    await tb.stop('node4');
  });

  await t.test('a container unit serves HTTP; stop leaves no container; a killed container is restarted', async (t) => {
    const text = '[Service]\nRestart=always\nRestartSec=200ms\n[X-Container]\nImage=localbusybox:latest\n' +
      'Command=/bin/sh -c "mkdir -p /www && echo hi-from-shoal > /www/index.html && exec httpd -f -p 80 -h /www"\nPort=8080:80/tcp\n';
    await submit('web-c.service', text, 'launched');
    await reg.applySchedule(leadership.guard, [{ kind: 'place', unit: 'web-c.service', machine: idOf('node1') }]);
    const get = async () => {
      const r = await tb.exec('node1', ['curl', '-sf', '-m', '2', `http://${tb.ip('node1')}:8080/`]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    };
    t.equal(await until('httpd answers', get, 30_000), 'hi-from-shoal');
    const containers = () => execFileSync('docker', ['ps', '-aq', '--filter', 'label=shoal.unit=web-c.service']).toString().trim();
    const first = containers();
    t.ok(first, 'a labelled container runs on the host engine');
    execFileSync('docker', ['kill', first]);
    await until('a new container', async () => { const c = containers(); return c !== '' && c !== first && c; }, 30_000);
    t.equal(await until('httpd answers again', get, 30_000), 'hi-from-shoal');

    await reg.setDesired('web-c.service', 'loaded');
    await until('stopped', async () => (await show('node1', 'web-c.service', 'ActiveState')) !== 'active');
    await until('no container left', async () => containers() === '', 15_000);
    await reg.destroyUnit('web-c.service');
  });

  await t.test('restarting the agent keeps units running (same MainPID)', async (t) => {
    await submit('keep.service', SLEEP, 'launched');
    await reg.applySchedule(leadership.guard, [{ kind: 'place', unit: 'keep.service', machine: idOf('node3') }]);
    await until('active', async () => (await show('node3', 'keep.service', 'ActiveState')) === 'active');
    const pid = Number(await show('node3', 'keep.service', 'MainPID'));
    const agentPid = Number(await show('node3', 'shoal-agent.service', 'MainPID'));
    const startedAt = async () => (await reg.listMachines()).value.find((m) => m.id === idOf('node3'))?.startedAt;
    const before = await startedAt();
    t.ok(before);
    await tb.sh('node3', 'systemctl kill -s KILL shoal-agent.service');
    await until('agent restarted', async () => {
      const p = Number(await show('node3', 'shoal-agent.service', 'MainPID'));
      return p > 0 && p !== agentPid;
    });
    // the new agent re-registers once the old lease is gone (TTL 3 s), then reports again
    await until('registered by the new agent', async () => { const s = await startedAt(); return s !== undefined && s !== before; });
    await until('reported again', async () => (await state('keep.service', 'node3'))?.activeState === 'active');
    t.equal(Number(await show('node3', 'keep.service', 'MainPID')), pid, 'same process: adopted, not restarted');
    t.equal((await state('keep.service', 'node3'))?.mainPid, pid);
  });
});
