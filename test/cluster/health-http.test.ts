/**
 * HTTP health checks on the testbed, judged by an agent-only shoald started as deploy/shoald-agent-only.conf
 * says (SHOAL_ROLES=agent, --lite-mode: no WebAssembly). The check used fetch, whose HTTP parser is
 * WebAssembly: the first check crashed that shoald. Now: a 2xx is healthy, a 404 unhealthy (its unit is
 * restarted), and shoald is the same process all along. `npm run build` first (nodes run dist/shoald.js).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { UnitStateRecord } from '../../src/etcd/registry';
import { parseUnit } from '../../src/units';
import { up } from '../helpers/testbed';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A unit serving the web page's files with busybox httpd on `port`, checked at `path`. */
const server = (port: number, path: string) => `[Service]
ExecStart=/usr/bin/busybox httpd -f -p 127.0.0.1:${port} -h /opt/shoal/src/web/static
[X-Fleet]
MachineMetadata=node=node2
[X-Shoal]
HealthCheckHTTP=http://127.0.0.1:${port}${path}
HealthInterval=500ms
HealthTimeout=2s
HealthRetries=2
MinHealthyTime=1s
`;

t.test('HTTP health checks judged by an agent-only shoald under --lite-mode', async (t) => {
  if (!existsSync(join(__dirname, '..', '..', 'dist', 'shoald.js'))) throw new Error('dist/shoald.js missing: run npm run build first');
  const tb = await up({ nodes: 2, t, daemon: true, env: { SHOAL_ROLES_node2: 'agent', SHOAL_ENV_node2: 'SHOAL_NODE_FLAGS=--lite-mode' } });
  const reg = new EtcdRegistry({ ...tb.etcd, prefix: '/shoal/' });
  t.teardown(() => reg.close());
  const shoald = async () => {
    const pid = (await tb.sh('node2', 'systemctl show -p MainPID --value shoald')).trim();
    return { pid, cmdline: (await tb.sh('node2', `tr '\\0' ' ' < /proc/${pid}/cmdline`)).trim() };
  };
  const before = await shoald();
  t.match(before.cmdline, /--lite-mode/, 'node2\'s shoald runs with --lite-mode');
  const state = async (unit: string): Promise<UnitStateRecord | undefined> =>
    (await reg.listStates(unit)).value.find((s) => s.machine === tb.machineId('node2'))?.state;

  for (const [name, text] of [['web-ok.service', server(18081, '/index.html')], ['web-404.service', server(18082, '/missing')]]) {
    await reg.submitUnit({ name, text, hash: parseUnit(name, text).hash }, { desired: 'launched' });
  }
  const ok = await until('web-ok healthy', async () => { const s = await state('web-ok.service'); return s?.health === 'healthy' && s; });
  // healthy needs a passed check (the monitor's rule), and a healthy unit carries no check output
  t.same([ok.healthRestarts, ok.healthOutput], [0, undefined], 'healthy on a 200 from the unit\'s page, never restarted');
  const bad = await until('web-404 restarted for failing its check', async () => {
    const s = await state('web-404.service');
    return (s?.healthRestarts ?? 0) >= 1 && s;
  });
  t.match(bad.healthOutput ?? '', /HTTP 404/, `unhealthy on a 404: ${JSON.stringify(bad)}`);
  const after = await shoald();
  t.equal(after.pid, before.pid, 'node2\'s shoald never died (no restart by systemd)');
  t.equal((await tb.sh('node2', 'systemctl show -p NRestarts --value shoald')).trim(), '0', 'NRestarts=0');
});
