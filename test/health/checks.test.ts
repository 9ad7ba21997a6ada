/** The health checks on real processes and sockets: verdicts, and every check ends by its deadline. */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as tcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { commandCheck, httpCheck, tcpCheck } from '../../src/health/checks';

const ROOT = resolve(__dirname, '..', '..');
const TS_LOADER = join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs');

t.test('command: exit 0 healthy, otherwise not; a hung command is killed at its deadline', async (t) => {
  t.match(await commandCheck('true', 2000), { ok: true });
  t.match(await commandCheck('echo broken >&2; exit 3', 2000), { ok: false, output: 'broken' });
  const t0 = Date.now();
  t.match(await commandCheck('sleep 30', 300), { ok: false, output: /timed out after 300 ms/ });
  t.ok(Date.now() - t0 < 2000, 'returned at the deadline');
});

t.test('http: 2xx healthy, 500 not, a server that never answers times out', async (t) => {
  let hang = false;
  const srv: Server = createServer((req, res) => {
    if (hang) return; // never answers
    res.statusCode = req.url === '/bad' ? 500 : req.url === '/moved' ? 302 : 204;
    if (req.url === '/moved') res.setHeader('location', '/');
    res.end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => { srv.closeAllConnections(); srv.close(); });
  const port = (srv.address() as AddressInfo).port;
  t.match(await httpCheck(`http://127.0.0.1:${port}/`, 2000), { ok: true, output: 'HTTP 204' });
  t.match(await httpCheck(`http://127.0.0.1:${port}/bad`, 2000), { ok: false, output: 'HTTP 500' });
  t.match(await httpCheck(`http://127.0.0.1:${port}/moved`, 2000), { ok: false, output: 'HTTP 302' }, 'a redirect is not followed');
  t.match(await httpCheck('http://[bad/', 2000), { ok: false, output: /invalid url/i }, 'a malformed URL is an unhealthy verdict, not a throw');
  // shoald may run with --jitless/--lite-mode (no WebAssembly): fetch's HTTP parser is WebAssembly and crashed the process
  const jitless = await new Promise<string>((res, rej) => execFile(process.execPath, ['--jitless', `--import=file://${TS_LOADER}`,
    join(__dirname, 'fixtures', 'http-check.ts'), `http://127.0.0.1:${port}/`, '5000'], { timeout: 60_000 }, (err, out, errOut) => (err ? rej(new Error(errOut || err.message)) : res(out))));
  t.same(JSON.parse(jitless), { ok: true, output: 'HTTP 204' }, 'under --jitless');
  hang = true;
  const t0 = Date.now();
  t.match(await httpCheck(`http://127.0.0.1:${port}/`, 300), { ok: false, output: /timed out/ });
  t.ok(Date.now() - t0 < 2000);
  srv.closeAllConnections();
  srv.close();
  t.match(await httpCheck(`http://127.0.0.1:${port}/`, 2000), { ok: false }, 'nothing listening');
});

t.test('tcp: an accepting port is healthy, a closed one is not', async (t) => {
  const srv = tcpServer((s) => s.end());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  t.match(await tcpCheck(`127.0.0.1:${port}`, 2000), { ok: true });
  await new Promise((r) => srv.close(r));
  t.match(await tcpCheck(`127.0.0.1:${port}`, 2000), { ok: false });
});
