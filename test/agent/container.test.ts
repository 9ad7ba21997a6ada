/**
 * Container units for real: a testbed node's systemd runs the generated service, the runner starts
 * a busybox httpd on the host's Docker engine, and the unit and the container live and die together.
 * The agent core is not involved: the test installs the unit with systemctl itself.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ContainerDriver } from '../../src/agent/container-driver';
import { withMachineLock } from '../../src/agent/container-runner';
import { containerUnitText } from '../../src/agent/container-unit';
import type { ContainerSpec, UnitSpec } from '../../src/units/types';
import { parseUnitFile } from '../../src/units/unit-file';
import { up, type Testbed } from '../helpers/testbed';

const ROOT = resolve(__dirname, '..', '..');
const NODE = 'node1';
const UNIT = 'web.service';

/** Compiles the runner (and what it imports) into dist/, where nodes run it from /opt/shoal. */
function buildRunner(): void {
  execFileSync('npx', ['tsc', '--outDir', 'dist', '--rootDir', '.', '--target', 'ES2022', '--module', 'commonjs',
    '--moduleResolution', 'node', '--esModuleInterop', '--skipLibCheck', '--strict', '--types', 'node',
    'src/agent/container-runner.ts'], { cwd: ROOT, stdio: 'pipe' });
}

function webUnit(): UnitSpec {
  const text = `[Unit]\nDescription=busybox httpd in a container\n\n[Service]\nRestart=always\nRestartSec=200ms\n`;
  const container: ContainerSpec = {
    image: 'localbusybox:latest',
    command: ['sh', '-c', 'mkdir -p /www && echo "hello $GREETING" > /www/index.html && echo "serving $GREETING" && exec httpd -f -p 80 -h /www'],
    env: { GREETING: 'from-shoal' },
    ports: ['8080:80'],
    volumes: [],
  };
  return {
    name: UNIT, text, hash: 'test', file: parseUnitFile(text, { file: UNIT }),
    options: { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [] },
    resources: { cpuMillis: 0, memoryBytes: 0 }, container,
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) { last = err; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Body of GET http://<node ip>:8080/ fetched from inside the node, or undefined. */
async function fetchFromNode(tb: Testbed): Promise<string | undefined> {
  const r = await tb.exec(NODE, ['curl', '-sf', '-m', '2', `http://${tb.ip(NODE)}:8080/`]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

t.test('container unit on a testbed node', async (t) => {
  buildRunner();
  const tb = await up({ nodes: 1, t });
  const machine = tb.machineId(NODE);
  const docker = new ContainerDriver({ socketPath: '/run/docker.sock' });
  const running = async () => (await docker.list(machine, UNIT)).filter((c) => c.state === 'running');
  const text = containerUnitText(webUnit(), { node: '/usr/bin/node', runner: '/opt/shoal/dist/src/agent/container-runner.js' });
  const b64 = Buffer.from(text).toString('base64');
  await tb.sh(NODE, `echo ${b64} | base64 -d > /run/systemd/system/${UNIT} && systemctl daemon-reload`);

  await t.test('start: busybox httpd answers at the node address', async (t) => {
    await tb.sh(NODE, `systemctl start ${UNIT}`);
    t.equal(await until('httpd', () => fetchFromNode(tb)), 'hello from-shoal');
    const cs = await running();
    t.equal(cs.length, 1, 'one running container for the unit');
    t.equal(cs[0].machineId, machine, 'labelled with the machine');
    const journal = await tb.sh(NODE, `journalctl -u ${UNIT} --no-pager -o cat`);
    t.match(journal, /serving from-shoal/, 'container output reaches the journal');
  });

  await t.test('systemctl stop: no container left, unit inactive (not failed)', async (t) => {
    const t0 = Date.now();
    await tb.sh(NODE, `systemctl stop ${UNIT}`);
    t.comment(`stop took ${Date.now() - t0} ms`);
    t.same(await docker.list(machine, UNIT), [], 'no container of the unit, in any state');
    t.equal((await tb.exec(NODE, ['systemctl', 'is-active', UNIT])).stdout.trim(), 'inactive');
    t.equal(await fetchFromNode(tb), undefined, 'nothing answers');
  });

  await t.test('docker kill: systemd restarts the unit and a new container answers', async (t) => {
    await tb.sh(NODE, `systemctl start ${UNIT}`);
    await until('httpd', () => fetchFromNode(tb));
    const [first] = await running();
    execFileSync('docker', ['kill', first.id]);
    const second = await until('a new container', async () => (await running()).find((c) => c.id !== first.id));
    t.not(second.id, first.id, 'a different container');
    t.equal(await until('httpd again', () => fetchFromNode(tb)), 'hello from-shoal');
    const restarts = Number((await tb.sh(NODE, `systemctl show -P NRestarts ${UNIT}`)).trim());
    t.ok(restarts >= 1, `systemd restarted the unit (NRestarts=${restarts})`);
    t.same((await docker.list(machine, UNIT)).map((c) => c.id), [second.id], 'the killed container was removed');
  });

  await t.test('orphan cleanup removes a labelled container whose unit is gone, keeps active ones', async (t) => {
    const orphan = execFileSync('docker', ['run', '-d', '--init', '--label', 'shoal.unit=gone.service',
      '--label', `shoal.machine=${machine}`, 'localbusybox:latest', 'sleep', '300'], { encoding: 'utf8' }).trim();
    const isActive = async (unit: string) => (await tb.exec(NODE, ['systemctl', 'is-active', unit])).stdout.trim() === 'active';
    const removed = await docker.removeOrphans(machine, isActive);
    t.same(removed.map((c) => c.id), [orphan], 'exactly the orphan removed');
    t.equal((await running()).length, 1, 'the active unit keeps its container');
    t.same((await docker.list(machine)).map((c) => c.unit), [UNIT], 'only the unit container is left');
    // what shoald's agent does (list, health, remove orphans) goes over Docker's socket: shoald never loads dockerode
    t.same(Object.keys(require.cache).filter((k) => /node_modules[\\/]dockerode[\\/]/.test(k)), [], 'listing and removing loaded no dockerode');
  });

  await t.test('killing the runner abruptly: ExecStopPost removes the container', async (t) => {
    // no restart, so only ExecStopPost (not a new runner's leftover cleanup) can remove it
    await tb.sh(NODE, `mkdir -p /run/systemd/system/${UNIT}.d && printf '[Service]\\nRestart=no\\n' > /run/systemd/system/${UNIT}.d/no-restart.conf`
      + ` && systemctl daemon-reload`);
    t.equal((await running()).length, 1, 'a container runs before the kill');
    await tb.sh(NODE, `systemctl kill -s KILL --kill-whom=main ${UNIT}`);
    const state = await until('the unit to fail', async () => {
      const s = (await tb.exec(NODE, ['systemctl', 'is-active', UNIT])).stdout.trim();
      return s === 'failed' ? s : undefined;
    });
    t.equal(state, 'failed', 'runner killed: unit failed');
    t.same(await docker.list(machine, UNIT), [], 'no container left');
  });

  await t.test('units starting together settle on one network: concurrent creates that made two are resolved', async (t) => {
    // Docker lets concurrent creates make two networks of one name (the compose scenario's three units did)
    for (let round = 0; round < 3; round++) {
      const name = `shoal-test-net-${process.pid}-${round}`;
      // as each unit's runner does: under the machine's lock
      const ids = await Promise.all(Array.from({ length: 6 }, () => withMachineLock(`net-${name}`, () => docker.ensureNetwork(name, machine))));
      t.equal(new Set(ids).size, 1, `round ${round}: every caller got the same network`);
      const again = await docker.ensureNetwork(name, machine);
      t.equal(again, ids[0], `round ${round}: a later caller gets it too (the duplicates are gone)`);
      t.equal(await docker.removeNetworksIfUnused(name), 1, `round ${round}: one network left to remove`);
      t.equal(await docker.removeNetworksIfUnused(name), 0, `round ${round}: none left`);
    }
  });
});
