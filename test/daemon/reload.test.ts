/** SIGHUP reloads shoald's config: what can change is applied, a bad file changes nothing, the API stays up. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { ApiClient } from '../../src/api/client';
import { loadConfig } from '../../src/daemon/config';
import { reloadConfig, restartOnlyChanges } from '../../src/daemon/reload';
import { silentLogger } from '../../src/log';

const ROOT = join(__dirname, '..', '..');
const TS_LOADER = join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs');
const dir = mkdtempSync(join(tmpdir(), 'shoal-reload-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const conf = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

t.test('reloadConfig applies metadata, capacity and strategy; reports restart-only settings; keeps them', async (t) => {
  const path = conf('a.toml', '[etcd]\nprefix = "/a/"\n[machine]\nid = "m1"\ncapacity_cpu = "1000m"\ncapacity_memory = 1000000\nmetadata = { role = "web" }\n');
  const prev = loadConfig(path, {});
  conf('a.toml', '[etcd]\nprefix = "/b/"\n[machine]\nid = "m1"\ncapacity_cpu = "2000m"\ncapacity_memory = 1000000\nmetadata = { role = "db" }\n[engine]\nstrategy = "binpack"\n');
  const calls: unknown[] = [];
  const next = await reloadConfig(path, prev, {
    agent: { updateMachine: async (u) => { calls.push(['machine', u]); } },
    engine: { setStrategy: (s) => { calls.push(['strategy', s]); } },
  }, silentLogger);
  // capacity's disk is probed (not configured here): any size
  t.equal(calls.length, 2);
  t.same(calls[0], ['strategy', 'binpack']);
  t.match(calls[1], ['machine', { address: undefined, metadata: { role: 'db' }, capacity: { cpuMillis: 2000, memoryBytes: 1000000 } }]);
  t.same(restartOnlyChanges(prev, loadConfig(path, {})), ['etcd']);
  t.equal(next.etcd.prefix, '/a/', 'a restart-only setting keeps its running value');
  t.same(next.machine.metadata, { role: 'db' });
});

t.test('SIGHUP rotates the API tokens (from their files); other [api] changes wait for a restart', async (t) => {
  const op = conf('op.token', 'op-1\n');
  const ro = conf('ro.token', 'ro-1\n');
  const path = conf('t.toml', `[machine]\nid = "m1"\n[api]\ntoken_file = "${op}"\nread_token_file = "${ro}"\n`);
  const prev = loadConfig(path, {});
  conf('op.token', 'op-2\n');
  conf('ro.token', 'ro-2\n');
  const rotated: unknown[] = [];
  const next = await reloadConfig(path, prev, { api: { updateTokens: (c) => { rotated.push([c.token, c.readToken]); } } }, silentLogger);
  t.same(rotated, [['op-2', 'ro-2']], 'the server got the new tokens');
  t.equal(next.api.token, 'op-2');
  t.same(restartOnlyChanges(prev, loadConfig(path, {})), [], 'a token change needs no restart');
  conf('t.toml', `[machine]\nid = "m1"\n[api]\nport = 7999\ntoken_file = "${op}"\n`);
  t.same(restartOnlyChanges(next, loadConfig(path, {})), ['api'], 'a port change does');
});

t.test('a bad config on reload is refused and changes nothing', async (t) => {
  const path = conf('b.toml', '[machine]\nid = "m1"\nmetadata = { role = "web" }\n');
  const prev = loadConfig(path, {});
  conf('b.toml', '[machine]\nid = "m1"\nttl = "soon"\n');
  let called = false;
  const next = await reloadConfig(path, prev, { agent: { updateMachine: async () => { called = true; } } }, silentLogger);
  t.equal(next, prev);
  t.notOk(called);
});

t.test('shoald: SIGHUP with a bad file is logged and refused, the API keeps serving, a good one is applied', async (t) => {
  const etcd: EtcdServer = await startEtcd();
  t.teardown(() => etcd.close());
  const sock = join(dir, 'shoal.sock');
  const path = conf('d.toml', `roles = ["engine"]\n[etcd]\nendpoints = ["${etcd.endpoint}"]\nprefix = "/reload/"\n[api]\nlisten = ["unix://${sock}"]\n`);
  const p = spawn(process.execPath, [`--import=file://${TS_LOADER}`, join(ROOT, 'src/daemon/main.ts'), '--config', path], {
    env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  p.stderr!.on('data', (b) => { err += b.toString(); });
  const exit = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  t.teardown(() => { p.kill('SIGKILL'); });
  const c = new ApiClient({ endpoint: sock, timeoutMs: 2000 });
  const answers = async () => c.listUnitFiles().then(() => true, () => false);
  // generous: shoald starts through the TypeScript loader, slow on a loaded machine
  for (const until = Date.now() + 60_000; Date.now() < until && !(await answers());) await new Promise((r) => setTimeout(r, 100));
  t.ok(await answers(), 'the API answers');
  const waitFor = async (re: RegExp) => {
    for (const until = Date.now() + 20_000; Date.now() < until && !re.test(err);) await new Promise((r) => setTimeout(r, 50));
    return re.test(err);
  };
  writeFileSync(path, 'roles = ["engine"\n');
  p.kill('SIGHUP');
  t.ok(await waitFor(/config reload refused/), 'the bad file is refused, with the reason');
  t.ok(await answers(), 'the API still answers');
  t.equal(p.exitCode, null, 'shoald keeps running');
  writeFileSync(path, `roles = ["engine"]\n[etcd]\nendpoints = ["${etcd.endpoint}"]\nprefix = "/reload/"\n[api]\nlisten = ["unix://${sock}"]\n[engine]\nstrategy = "spread"\n`);
  p.kill('SIGHUP');
  t.ok(await waitFor(/config reloaded/), 'a good file is applied');
  t.ok(await answers(), 'the API still answers');
  c.close();
  p.kill('SIGTERM');
  t.equal(await exit, 0, 'and it stops cleanly');
});
