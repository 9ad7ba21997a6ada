/**
 * The built, bundled bin/shoald (npm run build) as systemd runs it, on a real etcd: it starts, logs its
 * start-up time, serves the web page from the bundle (its files are found from dist/), and stops cleanly;
 * the engine role loads no agent, D-Bus or Docker code, and the bundle is one file (no module of src/).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { shoaldEtcdEnv, startEtcd, type EtcdServer } from '../helpers/etcd-server';

const ROOT = resolve(__dirname, '..', '..');
if (!existsSync(join(ROOT, 'dist', 'shoald.js'))) throw new Error('shoald is not built: run npm run build first');

let etcd: EtcdServer;
let dir: string;
t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  dir = mkdtempSync(join(tmpdir(), 'shoal-shoald-bundle-'));
  writeFileSync(join(dir, 'modules.js'), "process.on('exit', () => require('fs').writeFileSync(process.env.MODULES_OUT, Object.keys(require.cache).join('\\n')));\n");
});
t.teardown(async () => {
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A free loopback TCP port. */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => res(port)); });
  });
}

t.test('bin/shoald (engine role) starts from the bundle, serves the page, stops on SIGTERM', async (t) => {
  const port = await freePort();
  const p = spawn(process.execPath, ['--max-semi-space-size=1', '--optimize-for-size', '-r', join(dir, 'modules.js'), join(ROOT, 'bin', 'shoald'), '--config', '/dev/null'], {
    env: {
      PATH: process.env.PATH ?? '', SHOAL_ROLES: 'engine', ...shoaldEtcdEnv(etcd), SHOAL_PREFIX: '/bundle/', SHOAL_ENGINE_ID: 'e1',
      SHOAL_API_LISTEN: `unix://${dir}/api.sock`, SHOAL_HTTP_LISTEN: `127.0.0.1:${port}`, MODULES_OUT: join(dir, 'modules.txt'), SHOAL_LOG_FORMAT: 'logfmt',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  p.stderr!.on('data', (b) => { err += b.toString(); });
  const exit = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  const killer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  try {
    for (const end = Date.now() + 45_000; !/msg="web page listening"/.test(err) || !/msg="elected leader"/.test(err);) {
      if (Date.now() > end || p.exitCode !== null) throw new Error(`shoald did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    t.match(err, /msg="starting" .*uptimeMs=\d+/, 'the start-up time is in the log');
    const page = await fetch(`http://127.0.0.1:${port}/`);
    t.equal(page.status, 200, 'the page is served');
    t.match(await page.text(), /<html/i, 'its index.html');
  } finally {
    p.kill('SIGTERM');
  }
  t.equal(await exit, 0, `clean stop: ${err.split('\n').slice(-3).join(' | ')}`);
  clearTimeout(killer);
  const modules = readFileSync(join(dir, 'modules.txt'), 'utf8').split('\n');
  t.ok(modules.some((m) => m.endsWith(join('dist', 'src', 'bundle-cache.js'))), 'the bundle ran through its loader (vm.Script: not a module of its own)');
  t.same(modules.filter((m) => m.includes(`${join(ROOT, 'dist', 'src')}/`) && !m.endsWith('bundle-cache.js') && !m.endsWith(join('daemon', 'tiering.js'))), [],
    'no module of dist/src but the loader and the compilers switch');
  t.same(modules.filter((m) => /node_modules\/(dockerode|ssh2|dbus-next|systeminformation)\//.test(m)), [], 'no Docker, D-Bus or systeminformation');
});

t.test('bin/shoald under --lite-mode (an agent-only machine\'s flags) runs; with the engine role it says that a leader plans slower', async (t) => {
  const p = spawn(process.execPath, ['--max-semi-space-size=1', '--optimize-for-size', '--lite-mode', join(ROOT, 'bin', 'shoald'), '--config', '/dev/null'], {
    env: {
      PATH: process.env.PATH ?? '', SHOAL_ROLES: 'engine', ...shoaldEtcdEnv(etcd), SHOAL_PREFIX: '/bundle-lite/', SHOAL_ENGINE_ID: 'e2',
      SHOAL_API_LISTEN: `unix://${dir}/api-lite.sock`, SHOAL_HTTP_LISTEN: '', SHOAL_LOG_FORMAT: 'logfmt',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  p.stderr!.on('data', (b) => { err += b.toString(); });
  const exit = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  const killer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  try {
    for (const end = Date.now() + 45_000; !/msg="elected leader"/.test(err);) {
      if (Date.now() > end || p.exitCode !== null) throw new Error(`shoald did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    t.match(err, /level=warn msg="the engine role under --lite-mode\/--jitless/, 'the warning');
  } finally {
    p.kill('SIGTERM');
  }
  t.equal(await exit, 0, `clean stop: ${err.split('\n').slice(-3).join(' | ')}`);
  clearTimeout(killer);
});
