/**
 * `shoalctl compose up|ps|down` (the built bin/shoalctl, docs/compose.md) against a real 2-node testbed running
 * shoald, with real containers on the host's Docker engine: up starts every service together and web answers on
 * its published port; up of a changed file replaces only the changed service (a group through a rolling
 * deployment, one instance per step) and leaves the other containers running; a file with one bad service
 * submits nothing (file:line: key); down leaves no unit, container or project network.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { up, type Testbed } from '../helpers/testbed';

const ROOT = resolve(__dirname, '..', '..');
const SHOALCTL = join(ROOT, 'bin', 'shoalctl');
const TOKEN = 'cli-compose-token';
const API_ENV = `SHOAL_API_LISTEN=unix:///run/shoal/shoal.sock,0.0.0.0:7411 SHOAL_API_TOKEN=${TOKEN} SHOAL_API_INSECURE_PLAINTEXT=true SHOAL_API_PORT=7411`;
const PROJECT = 'clic';

if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('shoalctl is not built: run npm run build first');

// web publishes 8094 and reads nothing; worker is a group of 2 (rolling update one at a time, 1 s monitor)
const COMPOSE = `name: ${PROJECT}
services:
  web:
    image: localbusybox:latest
    command: ["sh", "-c", "mkdir -p /w && echo web $$V > /w/index.html && exec httpd -f -p 80 -h /w"]
    ports: ["8094:80"]
    environment:
      V: \${WEB_V:-1}
    depends_on: [cache]
  cache:
    image: localbusybox:latest
    command: sleep 100000
  worker:
    image: localbusybox:latest
    command: ["sh", "-c", "echo worker $$V; exec sleep 100000"]
    environment:
      V: \${WORKER_V:-1}
    deploy:
      replicas: 2
      update_config:
        parallelism: 1
        monitor: 1s
`;

let tb: Testbed;
let dir: string;
let endpoint: string;

/** Runs the built shoalctl on the host against node1's API with `env` added; never throws. */
function ctl(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const all = { PATH: process.env.PATH ?? '/usr/bin:/bin', SHOAL_ENDPOINT: endpoint, SHOAL_TOKEN: TOKEN, ...env };
  return new Promise((res) => {
    execFile(process.execPath, [SHOALCTL, ...args], { cwd: dir, env: all, timeout: 330_000 }, (err, out, errOut) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, out, err: errOut });
    });
  });
}

/** The running containers of one service of the project on the host engine (the testbed's nodes share it). */
async function containers(service: string): Promise<string[]> {
  const out = await tb.sh('node1', `docker ps -q --no-trunc --filter label=com.docker.compose.project=${PROJECT} --filter label=com.docker.compose.service=${service}`);
  return out.split('\n').filter(Boolean).sort();
}

/** `compose ps` rows: SERVICE UNIT MACHINE ACTIVE SUB HEALTH. */
function rows(out: string): string[][] {
  return out.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoal-clicompose-'));
  tb = await up({ nodes: 2, daemon: true, env: { SHOAL_ENV: API_ENV } });
  endpoint = `${tb.ip('node1')}:7411`;
  writeFileSync(join(dir, 'compose.yaml'), COMPOSE);
});

t.teardown(async () => {
  await tb?.down();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

t.test('up starts every service together; ps lists them; web answers on its published port', async (t) => {
  const r = await ctl(['compose', 'up', '--block-attempts', '200']);
  t.equal(r.code, 0, r.err);
  for (const u of ['web.service', 'cache.service', 'worker@.service']) t.match(r.out, new RegExp(`^Unit ${PROJECT}-${u.replace('.', '\\.')} submitted$`, 'm'));
  const ps = await ctl(['compose', 'ps']);
  t.equal(ps.code, 0, ps.err);
  t.match(ps.out, /^SERVICE +UNIT +MACHINE +ACTIVE +SUB +HEALTH\n/);
  const got = rows(ps.out);
  t.same(got.map((x) => x[1]).sort(), ['clic-cache.service', 'clic-web.service', 'clic-worker@1.service', 'clic-worker@2.service']);
  t.ok(got.every((x) => x[3] === 'active'), `every unit active:\n${ps.out}`);
  t.equal(new Set(got.map((x) => x[2])).size, 1, 'one project network: every service on one machine');
  const ip = got[0][2].split('/')[1];
  const node = tb.nodes.find((n) => tb.ip(n) === ip)!;
  t.ok(node, `the machine cell names a node address: ${got[0][2]}`);
  const page = await until('web answering on 8094', 30_000, async () => {
    const c = await tb.exec(node, ['curl', '-sf', '-m', '3', 'http://127.0.0.1:8094/']);
    return c.code === 0 ? c.stdout : undefined;
  });
  t.equal(page, 'web 1\n');
  const byName = await ctl(['compose', 'ps', '-p', PROJECT]);
  t.same(rows(byName.out).map((x) => x[1]).sort(), got.map((x) => x[1]).sort(), 'ps -p (without a file) lists the same units');
});

t.test('up of a changed file replaces only what changed; a group rolls one instance at a time', async (t) => {
  const before = { web: await containers('web'), cache: await containers('cache'), worker: await containers('worker') };
  t.equal(before.worker.length, 2);
  const t0 = Date.now();
  // up waits until every unit is active (a group's instances at either version; once 90 s on the loaded machine)
  const r = await ctl(['compose', 'up', '--block-attempts', '600'], { WORKER_V: '2' });
  t.comment(`compose up of the changed file took ${Date.now() - t0} ms`);
  if (r.code !== 0) {
    t.comment((await ctl(['events', '--since', '10m', '-n', '0'])).out.split('\n').filter((l) => /clic-worker|deployment/.test(l)).join('\n'));
    t.comment((await ctl(['deployments'])).out);
  }
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^Unit clic-worker@\.service replaced$/m);
  t.match(r.out, /^Unit clic-web\.service unchanged$/m);
  t.match(r.out, /^Unit clic-cache\.service unchanged$/m);
  t.notMatch(r.out, /destroyed/, 'no instance destroyed: the template stands for them');
  t.match(r.out, /^Group clic-worker@\.service is rolling to its new version: shoalctl rollout status clic-worker@\.service$/m);
  const rollout = await ctl(['rollout', 'status', 'clic-worker@.service']);
  t.equal(rollout.code, 0, `rollout status: ${rollout.out}${rollout.err}`);
  const d = await ctl(['deployments', 'clic-worker@.service', '--no-legend', '--fields', 'unit,status,step']);
  t.match(d.out, /^clic-worker@\.service +succeeded +2\/2\b/m, 'two steps: one instance at a time');
  const after = { web: await containers('web'), cache: await containers('cache'), worker: await containers('worker') };
  t.same(after.web, before.web, 'web\'s container was not replaced');
  t.same(after.cache, before.cache, 'cache\'s container was not replaced');
  t.equal(after.worker.length, 2);
  t.notOk(after.worker.some((c) => before.worker.includes(c)), 'both worker containers are new');
  for (const i of [1, 2]) {
    const j = await ctl(['journal', '-n', '5', `clic-worker@${i}.service`]);
    t.match(j.out, /worker 2/, `worker@${i} runs the new version`);
  }
});

t.test('a file with a bad service submits nothing and names file, line and key', async (t) => {
  const bad = `${COMPOSE.replace('V: ${WEB_V:-1}', 'V: changed')}  builder:\n    build: .\n    container_name: b\n`;
  writeFileSync(join(dir, 'bad.yaml'), bad);
  const lines = bad.split('\n');
  const lineOf = (s: string) => lines.findIndex((l) => l.includes(s)) + 1;
  const webBefore = (await ctl(['cat', 'clic-web.service'])).out;
  const r = await ctl(['compose', 'up', '-f', 'bad.yaml']);
  t.equal(r.code, 1, r.out);
  t.match(r.err, new RegExp(`bad\\.yaml:${lineOf('build: .')}: services\\.builder\\.build: `));
  t.match(r.err, new RegExp(`bad\\.yaml:${lineOf('container_name')}: services\\.builder\\.container_name: `));
  t.match(r.err, new RegExp(`bad\\.yaml:${lineOf('builder:')}: services\\.builder: needs image:`));
  t.match(r.err, /^Error: bad\.yaml:\d+: (.|\n)*\n3 problem\(s\); nothing was converted\n$/);
  t.equal(r.out, '', 'nothing submitted');
  t.equal((await ctl(['cat', 'clic-web.service'])).out, webBefore, 'web\'s unit (changed in the bad file) is unchanged');
  const files = await ctl(['list-unit-files', '--no-legend', '--fields', 'unit']);
  t.notMatch(files.out, /builder/);
  t.equal((await ctl(['compose', 'ps', '-f', 'bad.yaml'])).code, 1, 'ps of a file that does not convert fails too');
});

t.test('down leaves no unit, container or project network; again: nothing to do', async (t) => {
  const machines = tb.nodes.map((n) => tb.machineId(n).slice(0, 12));
  const r = await ctl(['compose', 'down']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^Unit clic-web\.service destroyed$/m);
  t.match(r.out, /Project clic is down\n$/);
  t.equal((await ctl(['list-unit-files', '--no-legend', '--fields', 'unit'])).out.includes('clic-'), false, 'no unit file left');
  t.equal((await ctl(['list-units', '--no-legend', '--fields', 'unit'])).out.includes('clic-'), false, 'no machine reports a unit');
  t.same(await tb.sh('node1', `docker ps -aq --filter label=com.docker.compose.project=${PROJECT}`), '', 'no container left');
  // each unit's ExecStopPost removes the networks no container uses; the last one finds the network free
  const nets = await until('no project network of this testbed\'s machines', 10_000, async () => {
    const left = (await tb.sh('node1', `docker network ls --format '{{.Name}}' --filter name=${PROJECT}_`)).split('\n')
      .filter((n) => machines.some((m) => n.endsWith(m)));
    return left.length === 0 ? left : undefined;
  }).catch((e: Error) => e.message);
  t.same(nets, [], 'no project network left');
  const again = await ctl(['compose', 'down', '-p', PROJECT]);
  t.equal(again.code, 0, again.err);
  t.equal(again.out, `Project ${PROJECT} has no units\n`);
  const ps = await ctl(['compose', 'ps']);
  t.equal(ps.out.trim().split('\n').length, 1, 'ps: the header only');
});
