/**
 * The testbed itself: 3 nspawn nodes with real systemd as PID 1, distinct machine ids, a working
 * network to each other and to etcd; kill + restart, cut + heal; down leaves nothing behind.
 */
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { up } from '../helpers/testbed';

const ping = (ip: string) => ['busybox', 'ping', '-c1', '-W1', ip];
// over TLS with the client certificate the node got (a request without it is refused: see below)
const etcdHealth = ['curl', '-sf', '-m', '2', '--cacert', '/etc/shoal/pki/ca.pem', '--cert', '/etc/shoal/pki/client.pem', '--key', '/etc/shoal/pki/client-key.pem', 'https://10.88.0.1:2379/health'];

t.test('testbed: nodes, faults and teardown', async (t) => {
  const tb = await up({
    nodes: 3, t,
    env: { SHOAL_METADATA_node2: 'role=db,disk=ssd', SHOAL_CAPACITY_CPU: '2', SHOAL_CAPACITY_CPU_node3: '500m' },
  });
  const pids: number[] = [];

  await t.test('every node runs systemd as PID 1 and is fully up', async (t) => {
    for (const n of tb.nodes) {
      const pid1 = await tb.pid1(n);
      pids.push(pid1);
      t.equal(readFileSync(`/proc/${pid1}/comm`, 'utf8').trim(), 'systemd', `${n}: host pid ${pid1} is systemd`);
      t.equal((await tb.sh(n, 'cat /proc/1/comm')).trim(), 'systemd', `${n}: PID 1 inside is systemd`);
      const st = await tb.exec(n, ['systemctl', 'is-system-running']);
      t.equal(st.stdout.trim(), 'running', `${n}: is-system-running`);
      t.equal((await tb.exec(n, ['systemctl', 'is-active', 'dbus.service'])).stdout.trim(), 'active', `${n}: D-Bus runs`);
    }
  });

  await t.test('machine ids are distinct and match what the testbed recorded', async (t) => {
    const ids = await Promise.all(tb.nodes.map((n) => tb.sh(n, 'cat /etc/machine-id').then((s) => s.trim())));
    t.equal(new Set(ids).size, 3, `distinct: ${ids.join(' ')}`);
    tb.nodes.forEach((n, i) => t.equal(ids[i], tb.machineId(n), `${n} machine id`));
    t.match(ids[0], /^[0-9a-f]{32}$/);
  });

  await t.test('node <-> node and node -> etcd connectivity', async (t) => {
    for (const a of tb.nodes) {
      for (const b of tb.nodes) {
        if (a === b) continue;
        t.equal((await tb.exec(a, ping(tb.ip(b)))).code, 0, `${a} -> ${b} (${tb.ip(b)})`);
      }
      const h = await tb.exec(a, etcdHealth);
      t.match(h.stdout, /"health":\s*"true"/, `${a} -> etcd`);
    }
    const noCert = await tb.exec('node1', ['curl', '-sf', '-m', '2', '--cacert', '/etc/shoal/pki/ca.pem', 'https://10.88.0.1:2379/health']);
    t.not(noCert.code, 0, 'etcd refuses a client without a certificate');
    const plain = await tb.exec('node1', ['curl', '-sf', '-m', '2', 'http://10.88.0.1:2379/health']);
    t.not(plain.code, 0, 'etcd does not answer plain http');
    // etcd auth is on: the client certificate's CN is the user shoal, which may write under / only
    await t.rejects(tb.etcdctl('put', 'outside-of-slash', 'x'), /permission denied/, 'etcd auth is on: shoal may not write outside /');
    t.match(await tb.etcdctl('put', '/testbed-auth-check', 'x'), /OK/, 'and may write under /');
    t.equal((await tb.sh('node1', 'getent hosts node2')).trim().split(/\s+/)[0], '10.88.0.12', 'names resolve');
  });

  await t.test('per-node settings reach every unit of the node', async (t) => {
    const env = async (n: string) => (await tb.sh(n, 'echo "$SHOAL_METADATA|$SHOAL_CAPACITY_CPU|$SHOAL_ADDRESS|$SHOAL_ETCD"')).trim();
    t.equal(await env('node1'), 'node=node1|2|10.88.0.11|https://10.88.0.1:2379');
    t.equal(await env('node2'), 'node=node2,role=db,disk=ssd|2|10.88.0.12|https://10.88.0.1:2379');
    t.equal(await env('node3'), 'node=node3|500m|10.88.0.13|https://10.88.0.1:2379', 'per-node value wins');
    t.equal((await tb.sh('node1', 'echo "$SHOAL_ETCD_CA|$SHOAL_ETCD_CERT|$SHOAL_ETCD_KEY"')).trim(),
      '/etc/shoal/pki/ca.pem|/etc/shoal/pki/client.pem|/etc/shoal/pki/client-key.pem', 'the TLS files reach shoald');
    t.equal((await tb.sh('node1', 'echo $SHOAL_MACHINE_ID')).trim(), tb.machineId('node1'));
  });

  await t.test('a fourth node joins later and stops cleanly', async (t) => {
    await tb.start('node4', { SHOAL_METADATA_node4: 'role=late' });
    t.equal((await tb.exec('node4', ['systemctl', 'is-system-running'])).stdout.trim(), 'running');
    t.equal((await tb.sh('node4', 'echo $SHOAL_METADATA')).trim(), 'node=node4,role=late');
    t.equal((await tb.exec('node1', ping(tb.ip('node4')))).code, 0, 'node1 reaches node4');
    t.equal((await tb.sh('node4', 'getent hosts node1')).trim().split(/\s+/)[0], '10.88.0.11');
    const pid = await tb.pid1('node4');
    await tb.stop('node4');
    t.notOk(existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`).length > 0, 'node4 powered off');
  });

  await t.test('kill a node, then restart it with the same identity', async (t) => {
    const old = await tb.pid1('node2');
    const id = tb.machineId('node2');
    await tb.kill('node2');
    t.notOk(existsSync(`/proc/${old}/comm`) && !/Z/.test(readFileSync(`/proc/${old}/stat`, 'utf8').split(' ')[2]),
      'old PID 1 is gone');
    t.not((await tb.exec('node1', ping(tb.ip('node2')))).code, 0, 'node2 unreachable while dead');
    await t.rejects(tb.exec('node2', ['true']).then((r) => { if (r.code) throw new Error(r.stderr); }),
      'exec into a dead node fails');
    // by hand, as a user would: none of the settings `up` was given are in this environment
    const clean = { PATH: process.env.PATH ?? '/usr/bin:/bin', SHOAL_TESTBED_OWNER: String(process.pid) };
    execFileSync(join(__dirname, '..', '..', 'testbed', 'node'), ['start', 'node2'], { env: clean, stdio: 'ignore', timeout: 60_000 });
    t.equal((await tb.sh('node2', 'echo "$SHOAL_METADATA|$SHOAL_CAPACITY_CPU"')).trim(), 'node=node2,role=db,disk=ssd|2',
      'testbed/node start keeps the per-node settings testbed/up was given');
    t.equal((await tb.exec('node2', ['systemctl', 'is-active', 'shoald.service'])).stdout.trim(), 'inactive', 'and SHOAL_NO_DAEMON=1');
    t.not(await tb.pid1('node2'), old, 'a new PID 1');
    t.equal((await tb.sh('node2', 'cat /etc/machine-id')).trim(), id, 'same machine id after restart');
    t.equal((await tb.exec('node1', ping(tb.ip('node2')))).code, 0, 'node1 reaches node2 again');
  });

  await t.test('cut and heal the network of a node', async (t) => {
    await tb.cut('node3');
    t.not((await tb.exec('node3', ping('10.88.0.1'))).code, 0, 'node3 cannot reach the host when cut');
    t.not((await tb.exec('node1', ping(tb.ip('node3')))).code, 0, 'node1 cannot reach node3 when cut');
    t.equal((await tb.exec('node1', ping(tb.ip('node2')))).code, 0, 'the others are not disturbed');
    await tb.heal('node3');
    t.equal((await tb.exec('node3', etcdHealth)).code, 0, 'node3 reaches etcd after heal');
  });

  await t.test('down leaves no bridge, processes, cgroups or run state', async (t) => {
    const live = await Promise.all(tb.nodes.map((n) => tb.pid1(n)));
    await tb.down();
    const link = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    t.notMatch(link, /br-shoal|vb-node/, 'no bridge or veth');
    for (const p of [...pids, ...live]) t.notOk(existsSync(`/proc/${p}/cmdline`) && readFileSync(`/proc/${p}/cmdline`).length > 0, `pid ${p} gone`);
    for (const h of ['systemd', 'unified']) {
      const dir = `/sys/fs/cgroup/${h}/shoal`;
      t.ok(!existsSync(dir) || readdirSync(dir).filter((d) => d.startsWith('node')).length === 0, `no ${dir}/node*`);
    }
    t.notOk(existsSync('testbed/run') || existsSync(`${__dirname}/../../testbed/run`), 'no testbed/run');
    const fwd = execFileSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' });
    t.notMatch(fwd, /br-shoal/, 'no FORWARD rule');
    const etcdUp = await fetch('http://127.0.0.1:2390/health').then(() => true, () => false);
    t.notOk(etcdUp, 'etcd stopped');
  });
});
