/** shoalctl's verbs in-process (runCli with injected IO) against a real API server on a unix socket and a real etcd. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { dump, etcdctl } from '../etcd/etcdctl';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import type { MachineSession } from '../../src/etcd/registry';
import { ApiServer } from '../../src/api/server';
import { runCli } from '../../src/cli/program';
import type { CliIO } from '../../src/cli/io';
import { silentLogger } from '../../src/log';
import { apiRequests } from '../../src/metrics';

const P = '/cli1/';
const M1 = 'aaaaaaaa11111111aaaaaaaa11111111';
let etcd: EtcdServer;
let reg: EtcdRegistry;
let server: ApiServer;
let dir: string;
const sessions: MachineSession[] = [];

/** Runs shoalctl with `args` against the test server; returns exit code and output. */
async function ctl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } },
    env: { SHOAL_ENDPOINT: `unix://${dir}/s.sock` }, cwd: dir,
  };
  const code = await runCli(args, io);
  return { code, out, err };
}

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  reg = new EtcdRegistry({ ...etcd.connection, prefix: P, callTimeoutMs: 3000 });
  dir = mkdtempSync(join(tmpdir(), 'shoal-cli-'));
  server = new ApiServer({ listen: [`unix://${dir}/s.sock`] }, { registry: reg, log: silentLogger });
  await server.start();
  writeFileSync(join(dir, 'web.service'), '[Unit]\nDescription=the web\n[Service]\nExecStart=/bin/sleep 100\n');
  writeFileSync(join(dir, 'b.service'), '[Service]\nExecStart=/bin/sleep 1\n');
  writeFileSync(join(dir, 'app@.service'), '[Service]\nExecStart=/bin/sleep %i\n');
  writeFileSync(join(dir, 'bad.service'), '[Service]\nExecStart=/bin/true\nnot a key\n');
});

t.teardown(async () => {
  for (const s of sessions) await s.close();
  await server?.close();
  reg?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('submit, cat, --replace, listings sorted with fleetctl columns', async (t) => {
  let r = await ctl('submit', 'web.service', 'b.service');
  t.equal(r.code, 0, r.err);
  t.equal(r.out, 'Unit web.service inactive\nUnit b.service inactive\n');
  writeFileSync(join(dir, 'web.service'), '[Unit]\nDescription=the web v2\n[Service]\nExecStart=/bin/sleep 200\n');
  r = await ctl('submit', 'web.service');
  t.equal(r.code, 1);
  t.match(r.err, /already exists with a different body: run again with --replace/);
  t.match((await ctl('cat', 'web.service')).out, /sleep 100/, 'body unchanged without --replace');
  r = await ctl('submit', '--replace', 'web.service');
  t.equal(r.code, 0);
  t.match((await ctl('cat', 'web.service')).out, /sleep 200/, 'cat shows the replaced body');
  r = await ctl('list-unit-files');
  t.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  t.match(lines[0], /^UNIT\s+HASH\s+DSTATE\s+STATE\s+TARGET\s+INSTANCES$/);
  t.match(lines[1], /^b\.service\s+[0-9a-f]{7}\s+inactive\s+inactive\s+-\s+-$/);
  t.match(lines[2], /^web\.service\s+[0-9a-f]{7}\s+inactive\s+inactive\s+-\s+-$/);
  r = await ctl('list-unit-files', '--no-legend', '--fields', 'unit,desc');
  t.equal(r.out, 'b.service   -\nweb.service the web v2\n');
  r = await ctl('list-unit-files', '-o', 'json');
  const json = JSON.parse(r.out);
  t.same(json.map((u: { name: string }) => u.name), ['b.service', 'web.service']);
  t.match(json[1].hash, /^[0-9a-f]{40}$/);
  r = await ctl('list-unit-files', '--fields', 'unit,bogus');
  t.equal(r.code, 2, 'unknown field is a usage error');
  t.match(r.err, /unknown field\(s\) bogus.*available: unit, hash/);
});

t.test('cat prints exactly the submitted bytes (no final newline added, none taken away)', async (t) => {
  const bodies: Record<string, string> = {
    'nonl.service': '[Service]\nExecStart=/bin/sleep 100',
    'twonl.service': '[Service]\nExecStart=/bin/sleep 100\n\n',
    'crlf.service': '[Service]\r\nExecStart=/bin/sleep 100\r\n',
  };
  for (const [name, body] of Object.entries(bodies)) {
    writeFileSync(join(dir, name), body);
    const r = await ctl('submit', name);
    t.equal(r.code, 0, r.err);
    t.equal((await ctl('cat', name)).out, body, `${name}: cat prints the stored bytes`);
    t.equal((await ctl('destroy', name)).code, 0);
  }
});

t.test('bad input exits 1 or 2 with a clear message', async (t) => {
  let r = await ctl('submit', 'missing.service');
  t.equal(r.code, 1);
  t.match(r.err, /missing\.service: no such file/);
  r = await ctl('submit', 'bad.service');
  t.equal(r.code, 1);
  t.match(r.err, /bad\.service:3/);
  r = await ctl('start', '--no-block', 'no/such/../x.service');
  t.equal(r.code, 1);
  r = await ctl('start', '--no-block', 'a..b.service');
  t.equal(r.code, 1);
  t.match(r.err, /invalid unit name "a\.\.b\.service": contains '\.\.'/);
  r = await ctl('start', '--frobnicate', 'web.service');
  t.equal(r.code, 2);
  t.match(r.err, /unknown option '--frobnicate'/);
  r = await ctl('start', '--no-block', 'nope.service');
  t.equal(r.code, 1);
  t.match(r.err, /unit nope\.service not found: submit it first/);
  r = await ctl('cat', 'nope.service');
  t.equal(r.code, 1);
  t.match(r.err, /not found/);
  r = await ctl('list-units', '--endpoint', `unix://${dir}/nobody.sock`);
  t.equal(r.code, 1);
  t.match(r.err, /cannot reach shoald at unix:\/\/.*nobody\.sock/);
  t.notMatch(r.err, /Resolution note/, 'no dangling "Resolution note:" of grpc-js');
  r = await ctl('start', '--block-attempts', 'x', 'web.service');
  t.equal(r.code, 2);
  t.notOk(dump(etcd, P)[`${P}units/a..b.service`]);
});

/** API calls so far by method (shoal_api_requests_total, counted by the server in this process). */
async function apiCalls(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await apiRequests.get()).values) out[String(v.labels.method)] = (out[String(v.labels.method)] ?? 0) + v.value;
  return out;
}

function diffCalls(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) > 0) out[k] = v - (a[k] ?? 0);
  return out;
}

t.test('start/stop/unload block until agents report; templates; --no-block', async (t) => {
  const s = await reg.register({ id: M1, address: '10.1.1.1', metadata: { role: 'web' }, capacity: { cpuMillis: 0, memoryBytes: 0 }, version: 'x', startedAt: 'now' }, 10);
  sessions.push(s);
  const hash = JSON.parse(dump(etcd, P)[`${P}units/web.service`]).hash;
  // stand-in for the agent: report what the desired state asks for, a little later
  const report = (unit: string, active: string) => setTimeout(() => {
    void s.reportState(unit, { loadState: 'loaded', activeState: active, subState: active === 'active' ? 'running' : 'dead', hash, since: 'now' });
  }, 300);
  report('web.service', 'active');
  const before = await apiCalls();
  let r = await ctl('start', '--block-attempts', '50', 'web.service');
  t.equal(r.code, 0, r.err);
  t.equal(r.out, 'Unit web.service launched on aaaaaaaa.../10.1.1.1\n');
  // a stream is counted when the server ends it, just after the client cancelled it
  let calls: Record<string, number> = {};
  for (let i = 0; i < 100 && !calls.WatchUnitStates; i++) { calls = diffCalls(before, await apiCalls()); await new Promise((res) => setTimeout(res, 50)); }
  // one read of the states before the write (a failure reported then is an older run's, not this start's), then the stream
  t.same(Object.keys(calls).sort(), ['ApplyBatch', 'ListUnits', 'WatchUnitStates'], `start follows the state stream, no polling reads: ${JSON.stringify(calls)}`);
  t.equal(calls.ListUnits, 1, 'one states read, before the write');
  t.equal(calls.WatchUnitStates, 1, 'one watch call');
  t.equal(r.err, 'web.service launched (1/1)\n', 'not a terminal: one plain progress line per unit');
  t.equal(dump(etcd, P)[`${P}desired/web.service`], 'launched');
  r = await ctl('list-units');
  t.equal(r.out, 'UNIT        MACHINE              ACTIVE SUB     HEALTH\nweb.service aaaaaaaa.../10.1.1.1 active running -\n');
  r = await ctl('list-units', '--full', '--no-legend', '--fields', 'machine,load');
  t.equal(r.out, `${M1}/10.1.1.1 loaded\n`);
  report('web.service', 'inactive');
  r = await ctl('stop', '--block-attempts', '50', 'web.service');
  t.equal(r.code, 0, r.err);
  t.equal(r.out, 'Unit web.service stopped\n');
  r = await ctl('stop', '--block-attempts', '3', 'b.service');
  t.match(r.err, /Unit b\.service is not loaded, skipping/);
  r = await ctl('start', '--block-attempts', '3', 'b.service');
  t.equal(r.code, 1, 'nothing reports it: gives up');
  t.match(r.err, /gave up after 3 attempts waiting for b\.service to be launched \(now b\.service: no machine reports it\)/);
  // An unplaceable unit says why inline, as explain would (issue 10 item 5).
  writeFileSync(join(dir, 'picky.service'), '[Service]\nExecStart=/bin/sleep 1\n[X-Fleet]\nMachineMetadata=role=nonexistent\n');
  r = await ctl('start', '--block-attempts', '3', join(dir, 'picky.service'));
  t.equal(r.code, 1);
  t.match(r.err, /picky\.service: no machine reports it: not placed: none of 1 machine\(s\) passes the filters: metadata on 1/);
  t.equal((await ctl('destroy', 'picky.service')).code, 0);
  setTimeout(() => { void s.reportState('web.service', null); }, 300);
  r = await ctl('unload', '--block-attempts', '50', 'web.service');
  t.equal(r.code, 0, r.err);
  t.equal(dump(etcd, P)[`${P}desired/web.service`], 'inactive');
  r = await ctl('start', '--no-block', 'app@.service');
  t.equal(r.code, 1, 'a template cannot be started');
  r = await ctl('start', '--no-block', 'app@1.service', 'app@2.service', 'app@3.service');
  t.equal(r.code, 0, r.err);
  t.equal(r.out, 'Triggered unit app@1.service start\nTriggered unit app@2.service start\nTriggered unit app@3.service start\n');
  t.equal(dump(etcd, P)[`${P}desired/app@2.service`], 'launched', 'instances created from the template');
  r = await ctl('destroy', '--no-block', 'app@1.service', 'app@2.service', 'app@3.service', 'app@.service');
  t.equal(r.code, 0, r.err);
  t.notOk(dump(etcd, P)[`${P}units/app@2.service`]);
});

t.test('stop and restart follow the state stream too: no polling reads', async (t) => {
  const s = sessions[0];
  writeFileSync(join(dir, 'poll.service'), '[Service]\nExecStart=/bin/sleep 100\n');
  t.equal((await ctl('submit', join(dir, 'poll.service'))).code, 0);
  const hash = JSON.parse(dump(etcd, P)[`${P}units/poll.service`]).hash;
  // stand-in for the agent: reports what each desired state asks for, a little after it is set
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  void (async () => {
    for await (const b of reg.watch([{ kind: 'desired' }], { signal: ac.signal })) {
      for (const e of b.events) {
        if (e.type !== 'desired' || e.unit !== 'poll.service' || !e.value) continue;
        const active = e.value === 'launched' ? 'active' : 'inactive';
        setTimeout(() => { void s.reportState('poll.service', { loadState: 'loaded', activeState: active, subState: active === 'active' ? 'running' : 'dead', hash, since: 'now' }); }, 200);
      }
    }
  })();
  const counted = async (before: Record<string, number>, streams: number) => {
    // a stream is counted when the server ends it, just after the client cancelled it
    let calls: Record<string, number> = {};
    for (let i = 0; i < 100 && (calls.WatchUnitStates ?? 0) < streams; i++) { calls = diffCalls(before, await apiCalls()); await new Promise((res) => setTimeout(res, 50)); }
    return calls;
  };
  let before = await apiCalls();
  let r = await ctl('start', '--block-attempts', '50', 'poll.service');
  t.equal(r.code, 0, r.err);
  await counted(before, 1);
  before = await apiCalls();
  r = await ctl('stop', '--block-attempts', '50', 'poll.service');
  t.equal(r.code, 0, r.err);
  let calls = await counted(before, 1);
  t.same(calls, { ApplyBatch: 1, WatchUnitStates: 1 }, `stop: one write, one watch, no ListUnits polling: ${JSON.stringify(calls)}`);
  before = await apiCalls();
  r = await ctl('restart', '--block-attempts', '50', 'poll.service');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /poll\.service/);
  calls = await counted(before, 2);
  // the start reads the states once before its write: a failure already reported then is not taken for the new run's
  t.same(calls, { ApplyBatch: 2, WatchUnitStates: 2, ListUnits: 1 }, `restart: a stop and a start, each one write and one watch, no polling: ${JSON.stringify(calls)}`);
  t.equal(dump(etcd, P)[`${P}desired/poll.service`], 'launched');
  ac.abort();
  t.equal((await ctl('destroy', '--no-block', 'poll.service')).code, 0);
});

t.test('start ends for a unit that failed on its machine, never for an older run\'s failure', async (t) => {
  const s = sessions[0];
  writeFileSync(join(dir, 'crash.service'), '[Service]\nExecStart=/usr/bin/no-such-binary\n');
  t.equal((await ctl('submit', join(dir, 'crash.service'))).code, 0);
  const hash = JSON.parse(dump(etcd, P)[`${P}units/crash.service`]).hash;
  const failed = (reason: string, since: string) => ({ loadState: 'loaded', activeState: 'failed', subState: 'failed', hash, since, reason });
  // an older run failed (the agent still says why: it had not taken in a stop yet)
  await s.reportState('crash.service', failed('main process exited with status 1 (the old run)', '2026-12-01T06:00:00.000Z'));
  // stand-in for the agent: a start resets and runs it (activating), and it fails again
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  void (async () => {
    for await (const b of reg.watch([{ kind: 'desired' }], { signal: ac.signal })) {
      for (const e of b.events) {
        if (e.type !== 'desired' || e.unit !== 'crash.service' || e.value !== 'launched') continue;
        setTimeout(() => { void s.reportState('crash.service', { loadState: 'loaded', activeState: 'activating', subState: 'start', hash, since: '2026-12-01T06:00:10.000Z' }); }, 300);
        setTimeout(() => { void s.reportState('crash.service', failed('main process exited with status 203/EXEC (systemd could not run ExecStart=)', '2026-12-01T06:00:10.100Z')); }, 600);
      }
    }
  })();
  let r = await ctl('start', 'crash.service');
  t.equal(r.code, 1, r.err);
  t.equal(r.out, '');
  t.match(r.err, /^crash\.service failed on aaaaaaaa\.\.\.\/10\.1\.1\.1: main process exited with status 203\/EXEC/m, 'the new run\'s failure, with its machine');
  t.notMatch(r.err, /the old run/, 'not the failure reported before the start');
  t.match(r.err, /see shoalctl status\/journal UNIT/);
  // launched already: nothing will start it again, so the failure reported now is the answer, at once
  r = await ctl('start', 'crash.service');
  t.equal(r.code, 1, r.err);
  t.match(r.err, /crash\.service failed on .*203\/EXEC/);
  ac.abort();
  await s.reportState('crash.service', null);
  t.equal((await ctl('destroy', '--no-block', 'crash.service')).code, 0);
});

t.test('machines and metadata', async (t) => {
  let r = await ctl('set-metadata', 'aaaa', 'disk=ssd');
  t.equal(r.code, 0, r.err);
  t.equal(r.out, `Set disk=ssd on ${M1}\n`);
  r = await ctl('list-machines');
  t.equal(r.out, 'MACHINE     IP       METADATA          STATE\naaaaaaaa... 10.1.1.1 disk=ssd,role=web ready\n');
  r = await ctl('unset-metadata', M1, 'disk');
  t.equal(r.out, `Removed disk from ${M1}\n`);
  r = await ctl('set-metadata', 'aaaa', 'novalue');
  t.equal(r.code, 2);
  for (const bad of ['a=b=c', 'a=', 'a="x"']) {
    r = await ctl('set-metadata', 'aaaa', bad);
    t.equal(r.code, 2, `${bad}: refused`);
  }
  r = await ctl('set-metadata', 'aaaa', 'a=b=c');
  t.match(r.err, /holds '=', which no unit can match/, 'says why');
  r = await ctl('list-machines', '-o', 'json');
  t.same(JSON.parse(r.out)[0].metadata, { role: 'web' });
});

t.test('cordon, drain and uncordon: state in list-machines, second calls and bad input say so', async (t) => {
  let r = await ctl('cordon', 'aaaa');
  t.equal(r.code, 0, r.err);
  t.equal(r.out, `machine ${M1} cordoned: no new units will be placed there\n`);
  r = await ctl('cordon', 'aaaa');
  t.match(r.out, /is already cordoned \(since .* by local\)/, 'a second cordon is a no-op that says so');
  r = await ctl('list-machines', '--fields', 'machine,state');
  t.equal(r.out, 'MACHINE     STATE\naaaaaaaa... cordoned\n');
  r = await ctl('drain', '--no-wait', 'aaaa', '--deadline', '5min');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /cordoned; draining \(deadline /);
  r = await ctl('drain', '--no-wait', 'aaaa');
  t.match(r.out, /is already draining \(drain aaaaaaaa1111-\d+, since /, 'a second drain follows the running one');
  r = await ctl('list-machines', '--fields', 'machine,state');
  t.equal(r.out, 'MACHINE     STATE\naaaaaaaa... draining\n');
  r = await ctl('drain', 'nosuch');
  t.equal(r.code, 1);
  t.match(r.err, /no live machine "nosuch"/, 'an unknown machine is refused');
  r = await ctl('drain', 'aaaa', '--deadline', 'soon');
  t.equal(r.code, 2, 'a bad deadline is a usage error');
  t.match(r.err, /--deadline: "soon" is not a time span/);
  r = await ctl('uncordon', 'aaaa');
  t.equal(r.out, `machine ${M1} uncordoned: it takes new units again\n`);
  r = await ctl('uncordon', 'aaaa');
  t.equal(r.out, `machine ${M1} is not cordoned\n`);
  t.notOk(dump(etcd, P)[`${P}cordon/${M1}`], 'nothing left in etcd');
});

t.test('explain and completion', async (t) => {
  await ctl('submit', 'b.service');
  let r = await ctl('explain', 'b.service');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^b\.service: on aaaaaaaa11111111aaaaaaaa11111111: /, 'b.service (desired launched earlier) is placed');
  t.match(r.out, /^ MACHINE\s+FITS\s+SCORE\s+WHY$/m);
  t.match(r.out, /^\*aaaaaaaa\.\.\.\s+yes\s+\d+\.\d/m, 'the chosen machine is marked, with its score');
  r = await ctl('explain', 'web.service');
  t.match(r.out, /^web\.service: desired state is inactive/);
  r = await ctl('explain', '-o', 'json', 'b.service');
  t.equal(JSON.parse(r.out).details[0].machine, M1);
  r = await ctl('completion', 'bash');
  t.match(r.out, /complete -o filenames -F _shoalctl shoalctl/);
  t.match(r.out, /list-unit-files/);
  t.match(r.out, /start\) flags="[^"]*--replace/);
  const syntax = spawnSync('bash', ['-n'], { input: r.out });
  t.equal(syntax.status, 0, `bash accepts the script: ${syntax.stderr}`);
  const tried = spawnSync('bash', ['-c', `${r.out}\nCOMP_WORDS=(shoalctl list-u); COMP_CWORD=1; _shoalctl; echo "\${COMPREPLY[@]}"`]);
  t.same(tried.stdout.toString().trim().split(' ').sort(), ['list-unit-files', 'list-units'], 'completes verbs');
  const flag = spawnSync('bash', ['-c', `${r.out}\nCOMP_WORDS=(shoalctl start --re); COMP_CWORD=2; _shoalctl; echo "\${COMPREPLY[@]}"`]);
  t.equal(flag.stdout.toString().trim(), '--replace', 'completes a verb\'s flags');
  r = await ctl('completion', 'zsh');
  t.match(r.out, /^#compdef shoalctl\n.*bashcompinit/s);
  r = await ctl('completion', 'fish');
  t.equal(r.code, 2);
});

t.test('a bad value in etcd is named on stderr and skipped; an agent-reported reason shows in list-units', async (t) => {
  const s = sessions[0];
  await s.reportState('b.service', { loadState: 'error', activeState: 'inactive', subState: 'dead', hash: '', since: 'now', reason: 'start failed: bad unit file setting' });
  let r = await ctl('list-units', 'b.service');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^UNIT +MACHINE +ACTIVE +SUB +HEALTH +REASON\nb\.service +aaaaaaaa\.\.\.\/10\.1\.1\.1 +inactive +dead +- +start failed: bad unit file setting\n$/, 'REASON joins the default columns');
  await s.reportState('b.service', null);
  etcdctl(etcd, 'put', `${P}units/junk.service`, '{"name":"junk.ser');
  r = await ctl('list-unit-files', '--no-legend', '--fields', 'unit');
  t.equal(r.code, 0, r.err);
  t.equal(r.out, 'b.service\nweb.service\n', 'the listing goes on without the bad key');
  t.equal(r.err, `warning: skipped etcd key ${P}units/junk.service: not JSON (fix or delete that key)\n`);
  etcdctl(etcd, 'del', `${P}units/junk.service`);
});
