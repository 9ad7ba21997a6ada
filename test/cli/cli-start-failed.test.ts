/**
 * A blocking `shoalctl start` (the built bin/shoalctl, no --block-attempts: it would wait forever) of units that
 * fail on their machine, against a real 2-node testbed running shoald (real systemd, real etcd): it ends with
 * exit 1, the unit, its machine and systemd's reason, and still reports the units of the same start that did
 * start. A unit systemd restarts by itself (Restart=) is waited for until it runs, or until systemd gives up.
 * A Type=oneshot unit without RemainAfterExit= is never active: its start ends once it ran and exited 0 (exit 0),
 * or failed (exit 1), and a start after stop waits for the new run, not the old one's success.
 * Needs `npm run build` and root (~60 s).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { up, type Testbed } from '../helpers/testbed';

const ROOT = resolve(__dirname, '..', '..');
const SHOALCTL = join(ROOT, 'bin', 'shoalctl');
const TOKEN = 'cli-start-failed-token';
const PKI = '/etc/shoal/pki';
const API_ENV = `SHOAL_API_LISTEN=unix:///run/shoal/shoal.sock,0.0.0.0:7411 SHOAL_API_TOKEN=${TOKEN} SHOAL_API_PORT=7411 `
  + `SHOAL_API_TLS_CERT=${PKI}/api.pem SHOAL_API_TLS_KEY=${PKI}/api-key.pem SHOAL_API_TLS_CA=${PKI}/ca.pem`;
/** How long a start of a failing unit may take before the test calls it hung, ms (the failure comes in ~1-3 s). */
const HANG_MS = 45_000;

if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('shoalctl is not built: run npm run build first');

let tb: Testbed;
let dir: string;
let endpoint: string;

/** Runs the built shoalctl on the host against node1's API; killed (code 99) after HANG_MS; never throws. */
function ctl(args: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  const tls = tb.etcd.tls!;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', SHOAL_ENDPOINT: endpoint, SHOAL_TOKEN: TOKEN, SHOAL_CA_FILE: tls.ca!, SHOAL_CERT_FILE: tls.cert!, SHOAL_KEY_FILE: tls.key! };
  const t0 = Date.now();
  return new Promise((res) => {
    execFile(process.execPath, [SHOALCTL, ...args], { cwd: dir, env, timeout: HANG_MS }, (err, out, errOut) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, out, err: errOut, ms: Date.now() - t0 });
    });
  });
}

const MACHINE = '[0-9a-f]{8}\\.\\.\\./10\\.88\\.0\\.\\d+';

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoal-startfail-'));
  tb = await up({ nodes: 2, daemon: true, env: { SHOAL_ENV: API_ENV } });
  endpoint = `${tb.ip('node1')}:7411`;
  // a binary that does not exist: systemd fails the service with 203/EXEC. Type=exec: its start job waits for the
  // exec, so it is never active; a Type=simple one is active from the fork until the failed exec a few ms later,
  // and a start that sees that moment takes it as started, as systemctl start does (seen here once in 5 starts)
  writeFileSync(join(dir, 'noexist.service'), '[Service]\nType=exec\nExecStart=/usr/bin/shoal-no-such-binary\n');
  writeFileSync(join(dir, 'noexist2.service'), '[Service]\nType=exec\nExecStart=/usr/bin/shoal-no-such-binary\n');
  writeFileSync(join(dir, 'fine.service'), '[Service]\nExecStart=/bin/sleep 100000\n');
  // systemd restarts it by itself (activating/auto-restart, not failed) until its start rate limit stops it: failed
  // only then. A oneshot is never active (a Type=simple /bin/false is, for a moment: start would take that as started)
  writeFileSync(join(dir, 'crashloop.service'), '[Unit]\nStartLimitBurst=3\nStartLimitIntervalSec=60s\n[Service]\nType=oneshot\nExecStart=/bin/false\nRestart=on-failure\nRestartSec=300ms\n');
  // its first start fails before it is active (ExecStartPre=), systemd's Restart= runs it again, and then it runs
  const mark = `/run/shoal-flaky-${process.pid}`;
  // never active: activating while it runs, then inactive (exit 0) or failed (/bin/false). A run of `slow` takes
  // 2 s, so a start that took the success of the run before for the answer would return well before that
  writeFileSync(join(dir, 'once-true.service'), '[Service]\nType=oneshot\nExecStart=/bin/true\n');
  writeFileSync(join(dir, 'once-false.service'), '[Service]\nType=oneshot\nExecStart=/bin/false\n');
  writeFileSync(join(dir, 'once-slow.service'), '[Service]\nType=oneshot\nExecStart=/bin/sleep 2\n');
  writeFileSync(join(dir, 'flaky.service'), `[Service]\nExecStartPre=/bin/sh -c 'test -e ${mark} || { touch ${mark}; exit 1; }'\nExecStart=/bin/sleep 100000\nRestart=on-failure\nRestartSec=1s\n`);
});

t.teardown(async () => {
  await tb?.down();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

t.test('start of a unit whose ExecStart= binary does not exist ends with exit 1, its machine and reason', async (t) => {
  let r = await ctl(['start', 'noexist.service']);
  t.equal(r.code, 1, `exit 1, not a hang (${r.ms} ms): ${r.err}`);
  t.ok(r.ms < 30_000, `within 30 s (${r.ms} ms)`);
  t.match(r.err, new RegExp(`noexist\\.service failed on ${MACHINE}: main process exited with status 203/EXEC \\(systemd could not run ExecStart=\\)`));
  t.equal(r.out, '', 'no unit reported launched');
  // launched already and still failed: nothing will start it again, the answer comes at once
  r = await ctl(['start', 'noexist.service']);
  t.equal(r.code, 1, r.err);
  t.match(r.err, /noexist\.service failed on .*203\/EXEC/);
  // stop + start runs it again: the old failure is not taken for the new run's (it fails again, anew)
  t.equal((await ctl(['stop', 'noexist.service'])).code, 0);
  r = await ctl(['start', 'noexist.service']);
  t.equal(r.code, 1, r.err);
  t.match(r.err, /noexist\.service failed on .*203\/EXEC/);
  // restart right away: its stop of a failed unit is done at once, its start must still run the unit again
  r = await ctl(['restart', 'noexist.service']);
  t.equal(r.code, 1, `exit 1 (${r.ms} ms): ${r.err}`);
  t.equal(r.out, 'Unit noexist.service stopped\n');
  t.match(r.err, /noexist\.service failed on .*203\/EXEC/);
  await ctl(['destroy', 'noexist.service']);
});

t.test('a start of two units, one failing: both are reported, exit 1', async (t) => {
  const r = await ctl(['start', 'noexist2.service', 'fine.service']);
  t.equal(r.code, 1, `exit 1 (${r.ms} ms): ${r.err}`);
  t.match(r.out, new RegExp(`^Unit fine\\.service launched on ${MACHINE}\\n$`), 'the unit that started is reported');
  t.match(r.err, new RegExp(`noexist2\\.service failed on ${MACHINE}: main process exited with status 203/EXEC`));
  t.notMatch(r.err, /fine\.service failed/);
  await ctl(['destroy', 'noexist2.service', 'fine.service']);
});

t.test('Restart=: waited for while systemd restarts it; failed once its start rate limit stops it', async (t) => {
  let r = await ctl(['start', 'flaky.service']);
  t.equal(r.code, 0, `its first run failed, systemd's restart ran: ${r.err}`);
  t.match(r.out, /^Unit flaky\.service launched on /);
  r = await ctl(['start', 'crashloop.service']);
  t.equal(r.code, 1, `exit 1 (${r.ms} ms): ${r.err}`);
  t.match(r.err, new RegExp(`crashloop\\.service failed on ${MACHINE}: start rate limit hit \\(systemd StartLimitBurst=3 in StartLimitIntervalSec=1min\\): systemd restarted it \\d times \\(Restart=on-failure\\)`));
  t.ok(r.ms > 500, `not before systemd's restarts (${r.ms} ms)`);
  await ctl(['destroy', 'flaky.service', 'crashloop.service']);
});

t.test('a oneshot without RemainAfterExit=: start ends once it ran and exited 0, or failed', async (t) => {
  let r = await ctl(['start', 'once-true.service']);
  t.equal(r.code, 0, `exit 0, not a hang (${r.ms} ms): ${r.err}`);
  t.ok(r.ms < 30_000, `within 30 s (${r.ms} ms)`);
  t.match(r.out, new RegExp(`^Unit once-true\\.service ran and exited 0 on ${MACHINE}\\n$`));
  // launched already: nothing runs it again, the run that ended is the answer, at once
  r = await ctl(['start', 'once-true.service']);
  t.equal(r.code, 0, `launched already (${r.ms} ms): ${r.err}`);
  t.match(r.out, /^Unit once-true\.service ran and exited 0 on /);
  r = await ctl(['start', 'once-false.service']);
  t.equal(r.code, 1, `exit 1 (${r.ms} ms): ${r.err}`);
  t.match(r.err, new RegExp(`once-false\\.service failed on ${MACHINE}: main process exited with status 1`));
  t.equal(r.out, '');
  await ctl(['destroy', 'once-true.service', 'once-false.service']);
});

t.test('a oneshot started again after stop (and restarted) waits for the new run, not the old one\'s success', async (t) => {
  let r = await ctl(['start', 'once-slow.service']);
  t.equal(r.code, 0, `first run (${r.ms} ms): ${r.err}`);
  t.ok(r.ms >= 2000, `not before its 2 s run ended (${r.ms} ms)`);
  t.match(r.out, /^Unit once-slow\.service ran and exited 0 on /);
  t.equal((await ctl(['stop', 'once-slow.service'])).code, 0);
  r = await ctl(['start', 'once-slow.service']);
  t.equal(r.code, 0, `second run (${r.ms} ms): ${r.err}`);
  t.ok(r.ms >= 2000, `waited for the new run, not the old run's success (${r.ms} ms)`);
  t.match(r.out, /^Unit once-slow\.service ran and exited 0 on /);
  r = await ctl(['restart', 'once-slow.service']);
  t.equal(r.code, 0, `restart (${r.ms} ms): ${r.err}`);
  t.ok(r.ms >= 2000, `restart ran it again (${r.ms} ms)`);
  t.match(r.out, /^Unit once-slow\.service stopped\nUnit once-slow\.service ran and exited 0 on /);
  await ctl(['destroy', 'once-slow.service']);
});
