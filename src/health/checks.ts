/**
 * The three health checks, each bounded by its own deadline so a hung check never outlives it:
 * a command (exit 0 = healthy), an HTTP GET (2xx = healthy), a TCP connect. I/O; used by monitor.ts.
 */
import { spawn } from 'node:child_process';
import { get as httpGet, type ClientRequest } from 'node:http';
import { connect } from 'node:net';

/** One check's verdict; `output` is a short reason or the command's output (at most 200 chars). */
export interface CheckResult {
  ok: boolean;
  output: string;
}

const clip = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 200);

/** Runs `command` with /bin/sh -c; past `timeoutMs` its process group is killed and the check fails. */
export function commandCheck(command: string, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    let out = '';
    let done = false;
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const finish = (r: CheckResult) => { if (!done) { done = true; clearTimeout(timer); resolve(r); } };
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      finish({ ok: false, output: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    const add = (b: Buffer) => { if (out.length < 400) out += b.toString(); };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    child.on('error', (err) => finish({ ok: false, output: clip(err.message) }));
    child.on('close', (code, sig) => finish({ ok: code === 0, output: clip(out) || (code === 0 ? 'ok' : `exit ${code ?? sig}`) }));
  });
}

/**
 * GETs `url` (http://; a redirect is an answer, not followed); healthy on a 2xx status within `timeoutMs`
 * (connect and response head). node:http rather than fetch: fetch's HTTP parser (undici's llhttp) is
 * WebAssembly, which shoald started with --jitless/--lite-mode does not have (docs/performance.md).
 */
export function httpCheck(url: string, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    let req: ClientRequest | undefined;
    const finish = (r: CheckResult) => { clearTimeout(timer); req?.destroy(); resolve(r); };
    const timer = setTimeout(() => finish({ ok: false, output: `timed out after ${timeoutMs} ms` }), timeoutMs);
    try {
      // a connection of its own, closed after the answer: no keep-alive pool towards the checked unit
      req = httpGet(url, { agent: false, headers: { 'user-agent': 'shoal-health-check' } }, (res) => {
        const code = res.statusCode ?? 0;
        res.resume();
        finish({ ok: code >= 200 && code < 300, output: `HTTP ${code}` });
      });
      req.once('error', (err) => finish({ ok: false, output: clip(err.message) }));
    } catch (err) { // a malformed URL or a scheme node:http does not speak
      finish({ ok: false, output: clip((err as Error).message) });
    }
  });
}

/** Connects to `host:port`; healthy when the connection is accepted within `timeoutMs`. */
export function tcpCheck(hostPort: string, timeoutMs: number): Promise<CheckResult> {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(i + 1));
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const finish = (r: CheckResult) => { clearTimeout(timer); sock.destroy(); resolve(r); };
    const timer = setTimeout(() => finish({ ok: false, output: `timed out after ${timeoutMs} ms` }), timeoutMs);
    sock.once('connect', () => finish({ ok: true, output: 'connected' }));
    sock.once('error', (err) => finish({ ok: false, output: clip(err.message) }));
  });
}
