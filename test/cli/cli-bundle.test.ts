/**
 * The built, bundled bin/shoalctl (npm run build) as a user runs it: local verbs load no gRPC (nor the
 * scheduler unless they plan), and API verbs reach a real shoald API server on a real etcd, globs included.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { ApiServer } from '../../src/api/server';
import { silentLogger } from '../../src/log';

const ROOT = resolve(__dirname, '..', '..');
const SHOALCTL = join(ROOT, 'bin', 'shoalctl');
if (!existsSync(join(ROOT, 'dist', 'shoalctl.js'))) throw new Error('shoalctl is not built: run npm run build first');

let dir: string;
let etcd: EtcdServer;
let reg: EtcdRegistry;
let server: ApiServer;

/** Runs bin/shoalctl; with `modules`, also returns every module file the process loaded. */
function ctl(args: string[], cwd = ROOT): Promise<{ code: number; out: string; err: string; modules: string[] }> {
  const preload = join(dir, 'modules.js');
  return new Promise((res) => {
    execFile(process.execPath, ['-r', preload, SHOALCTL, ...args], { cwd, env: { PATH: process.env.PATH ?? '', SHOAL_ENDPOINT: `unix://${dir}/s.sock`, MODULES_OUT: join(dir, 'modules.txt') }, timeout: 60_000 },
      (err, out, errOut) => {
        const text = existsSync(join(dir, 'modules.txt')) ? require('node:fs').readFileSync(join(dir, 'modules.txt'), 'utf8') as string : '';
        res({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, out, err: errOut, modules: text.split('\n') });
      });
  });
}

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoal-bundle-'));
  writeFileSync(join(dir, 'modules.js'), "process.on('exit', () => require('fs').writeFileSync(process.env.MODULES_OUT, Object.keys(require.cache).join('\\n')));\n");
  writeFileSync(join(dir, 'machines.toml'), '[[machine]]\nid = "m1"\ncpu = 4\nmemory = "8G"\n');
  writeFileSync(join(dir, 'app@.service'), '[Service]\nExecStart=/bin/sleep %i\n');
  etcd = await startEtcd({ tls: true, auth: true });
  reg = new EtcdRegistry({ ...etcd.connection, prefix: '/bundle/', callTimeoutMs: 3000 });
  server = new ApiServer({ listen: [`unix://${dir}/s.sock`] }, { registry: reg, log: silentLogger });
  await server.start();
});

t.teardown(async () => {
  await server?.close();
  reg?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('version, help, verify, plan and completion load no gRPC', async (t) => {
  const examples = readdirSync(join(ROOT, 'units-examples')).map((f) => join('units-examples', f));
  const cases: [string[], RegExp][] = [
    [['version'], /^shoalctl version \d/],
    [['--help'], /Usage: shoalctl/],
    [['verify', ...examples], /app\.service: ok/],
    [['plan', '--machines', join(dir, 'machines.toml'), 'units-examples/hello.service'], /hello\.service/],
    [['completion', 'bash'], /complete/],
  ];
  for (const [args, want] of cases) {
    const r = await ctl(args);
    t.equal(r.code, 0, `${args[0]}: ${r.err}`);
    t.match(r.out, want, args[0]);
    t.notOk(r.modules.some((m) => m.includes('@grpc')), `${args[0]} loads no @grpc module`);
    if (args[0] !== 'plan') t.notOk(r.modules.some((m) => m.includes('smol-toml')), `${args[0]} loads no TOML reader`);
  }
});

t.test('API verbs through the bundle: submit a template, start and stop instances by glob', async (t) => {
  let r = await ctl(['submit', 'app@.service'], dir);
  t.equal(r.code, 0, r.err);
  t.ok(r.modules.some((m) => m.includes('@grpc')), 'an API verb loads gRPC');
  r = await ctl(['start', '--no-block', ...Array.from({ length: 150 }, (_, i) => `app@${i + 1}.service`)], dir);
  t.equal(r.code, 0, r.err);
  t.equal(r.out.trim().split('\n').length, 150);
  r = await ctl(['stop', '--no-block', 'app@1?.service'], dir);
  t.equal(r.code, 0, r.err);
  t.equal(r.out, Array.from({ length: 10 }, (_, i) => `Triggered unit app@1${i}.service stop\n`).join(''));
  r = await ctl(['list-unit-files', '--no-legend', '--fields', 'unit,dstate'], dir);
  t.match(r.out, /^app@10\.service\s+loaded$/m);
  t.match(r.out, /^app@2\.service\s+launched$/m);
  r = await ctl(['destroy', '--no-block', 'app@*.service', 'nope.service'], dir);
  t.equal(r.code, 0, r.err);
  t.match(r.err, /Unit nope\.service does not exist, nothing to destroy/);
  t.notMatch(r.out, /Destroyed nope\.service/, 'a unit that did not exist is not said destroyed');
  t.match(r.out, /^Destroyed app@2\.service$/m);
  t.equal((await reg.listUnits()).value.map((u) => u.name).join(), 'app@.service', 'the instances are gone, the template stays');
});
