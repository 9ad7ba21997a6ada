/**
 * A process whose etcd went away while it watched can still end: closing the registry leaves nothing
 * armed (no watch reconnect, no keep-alive). Real etcd; the watcher runs in a child process that must
 * exit on its own, with etcd dead and after etcd came back.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { startEtcd } from '../helpers/etcd-server';

const DIST = resolve(__dirname, '../../dist/src/etcd/registry-etcd.js');

// the child watches, says "watching", and on stdin "close" aborts its watch, closes its registry and returns
const CHILD = `
const { EtcdRegistry } = require(${JSON.stringify(DIST)});
const reg = new EtcdRegistry({ endpoints: [process.argv[1]], prefix: '/t', callTimeoutMs: 1000 });
const ac = new AbortController();
(async () => { try { for await (const b of reg.watch([{ kind: 'units' }], { signal: ac.signal })) { void b; } } catch {} })();
setTimeout(() => process.stdout.write('watching\\n'), 500);
process.stdin.on('data', (d) => { if (String(d).includes('close')) { ac.abort(); reg.close(); process.stdin.destroy(); } });
`;

for (const comeBack of [false, true]) t.test(`closing a registry whose etcd went away${comeBack ? ' and came back' : ''} lets the process exit`, async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.close());
  const child = spawn(process.execPath, ['-e', CHILD, etcd.endpoint], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  await new Promise<void>((res) => child.stdout!.on('data', (d) => { if (String(d).includes('watching')) res(); }));
  await etcd.stop(true); // the watch stream breaks: etcd3 starts reconnecting with its backoff
  await new Promise((r) => setTimeout(r, 2500));
  const t0 = Date.now();
  child.stdin!.write('close\n');
  const code = await Promise.race([exited, new Promise<'hung'>((res) => setTimeout(() => res('hung'), 10_000))]);
  t.not(code, 'hung', 'the process exits by itself after close (no timer left armed)');
  t.equal(code, 0);
  t.ok(Date.now() - t0 < 10_000, `exited ${Date.now() - t0} ms after close`);
});
