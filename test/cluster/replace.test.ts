/**
 * Replacing a launched unit (a new text for the same name) on real testbed agents: the unit ends
 * running its new version, for every unit kind (plain, container, global), when replaced twice in a
 * row, and when replaced while its agent restarts. Regression: the new text was loaded and started in
 * the pass that queued the old one's stop; the start canceled the stop, and the stop's cleanup then
 * removed and unlinked the new file, so the unit ran nowhere, forever (container units every time).
 * Agents run from the compiled project (`npm run build` first); placements are written from the host.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { parseUnit } from '../../src/units';
import { up, type Testbed } from '../helpers/testbed';

const AGENT = '/opt/shoal/dist/src/agent/agent-main.js';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await fn().catch((err) => { last = err; return undefined; });
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startAgent(tb: Testbed, node: string): Promise<void> {
  await tb.sh(node, `systemd-run --unit=shoal-agent -p Restart=always -p RestartSec=200ms -p StartLimitIntervalSec=0 ` +
    `--setenv=SHOAL_TTL=3 --setenv=SHOAL_SAFETY_MS=2000 /usr/bin/node ${AGENT}`);
}

type Kind = 'plain' | 'container' | 'global';
/** The chaos campaign's unit texts: versions differ in Description= only. */
function text(kind: Kind, v: number): string {
  const body = kind === 'container'
    ? '[Service]\nRestart=always\nRestartSec=1\n\n[X-Container]\nImage=localbusybox:latest\nCommand=sleep 1000000\n'
    : '[Service]\nExecStart=/usr/bin/sleep infinity\n';
  return `[Unit]\nDescription=replace test ${kind} v${v}\n\n${body}${kind === 'global' ? '\n[X-Fleet]\nGlobal=true\n' : ''}`;
}

t.test('a replaced launched unit runs its new version', async (t) => {
  if (!existsSync(join(__dirname, '..', '..', AGENT.replace('/opt/shoal/', '')))) {
    throw new Error(`${AGENT} missing: run npm run build before the cluster tests`);
  }
  const tb = await up({ nodes: 3, t });
  const reg = new EtcdRegistry({ ...tb.etcd, prefix: '/shoal/' });
  t.teardown(() => reg.close());
  for (const n of tb.nodes) await startAgent(tb, n);
  await until('3 machines registered', async () => (await reg.listMachines()).value.length === 3);
  const lead = new AbortController();
  const leadership = (await reg.campaign('replace-test', 5, lead.signal))!;
  t.teardown(async () => { lead.abort(); await leadership.resign(); });

  const units: { name: string; kind: Kind; nodes: string[] }[] = [
    { name: 'rp-plain.service', kind: 'plain', nodes: ['node1'] },
    { name: 'rp-co.service', kind: 'container', nodes: ['node2'] },
    { name: 'rp-gl.service', kind: 'global', nodes: tb.nodes },
  ];
  const submit = async (name: string, kind: Kind, v: number) => {
    const body = text(kind, v);
    t.match(await reg.submitUnit({ name, text: body, hash: parseUnit(name, body).hash }, { replace: true, desired: 'launched' }), /created|replaced/);
  };
  const show = async (node: string, unit: string) => {
    const out = (await tb.sh(node, `systemctl show -p ActiveState -p Description ${unit}`)).trim();
    return Object.fromEntries(out.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  };
  const containers = (unit: string) => execFileSync('docker', ['ps', '-q', '--filter', `label=shoal.unit=${unit}`]).toString().trim().split('\n').filter(Boolean);
  /** Every unit active with version `v` on each of its nodes (and a container unit in exactly one container). */
  const runsVersion = async (v: number, which = units) => {
    for (const u of which) {
      for (const n of u.nodes) {
        await until(`${u.name} active as v${v} on ${n}`, async () => {
          const s = await show(n, u.name);
          return s.ActiveState === 'active' && s.Description === `replace test ${u.kind} v${v}`;
        });
      }
      if (u.kind === 'container') await until(`one container of ${u.name}`, async () => containers(u.name).length === 1, 15_000);
    }
  };

  for (const u of units) await submit(u.name, u.kind, 1);
  await reg.applySchedule(leadership.guard, [
    { kind: 'place', unit: 'rp-plain.service', machine: tb.machineId('node1') },
    { kind: 'place', unit: 'rp-co.service', machine: tb.machineId('node2') },
  ]);
  await runsVersion(1);

  await t.test('replaced once: every kind runs v2', async (t) => {
    for (const u of units) await submit(u.name, u.kind, 2);
    await runsVersion(2);
    // and it stays so (no late cleanup of the old version removes the new one)
    await new Promise((r) => setTimeout(r, 3000));
    await runsVersion(2);
    t.pass('v2 runs');
  });

  await t.test('replaced twice in a row: every kind runs the last version', async (t) => {
    for (const u of units) await submit(u.name, u.kind, 3);
    await new Promise((r) => setTimeout(r, 300)); // the v3 stop jobs are under way
    for (const u of units) await submit(u.name, u.kind, 4);
    await runsVersion(4);
    t.pass('v4 runs');
  });

  await t.test('replaced while the agent restarts: every kind runs the new version', async (t) => {
    await Promise.all(tb.nodes.map((n) => tb.sh(n, 'systemctl kill -s KILL shoal-agent.service')));
    for (const u of units) await submit(u.name, u.kind, 5);
    await runsVersion(5);
    // killed again in the middle of the replace (stop jobs queued by the old agent)
    for (const u of units) await submit(u.name, u.kind, 6);
    await new Promise((r) => setTimeout(r, 500));
    await Promise.all(tb.nodes.map((n) => tb.sh(n, 'systemctl kill -s KILL shoal-agent.service')));
    await runsVersion(6);
    t.pass('v6 runs');
  });

  for (const u of units) await reg.destroyUnit(u.name);
  for (const u of units) {
    for (const n of u.nodes) await until(`${u.name} gone from ${n}`, async () => (await show(n, u.name)).ActiveState === 'inactive');
  }
});
