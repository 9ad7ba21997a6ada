/**
 * The HTTP listener on a real etcd: `[http]` config, the policy beyond loopback (refused at start without
 * credentials; 401 for a non-loopback peer without the token), the status view and its live stream, explain,
 * /metrics, and a slow follower cut off while the others go on.
 */
import t from 'tap';
import * as http from 'node:http';
import * as https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { networkInterfaces } from 'node:os';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { silentLogger } from '../../src/log';
import { parseUnit } from '../../src/units';

const unitHash = (text: string) => parseUnit('x.service', text).hash;
import { httpConfig } from '../../src/web/http-config';
import { buildConfig } from '../../src/daemon/config';
import { WebServer, startWeb, tokenMatches } from '../../src/web/server';
import { StatusHub } from '../../src/web/hub';
import { loadConfig } from '../../src/daemon/config';
import { reloadConfig } from '../../src/daemon/reload';
import { EventStore } from '../../src/events/store';
import { createEtcdClient } from '../../src/etcd/client';
import { KeyLayout } from '../../src/etcd/keys';
import type { StatusView } from '../../src/web/status';
import type { MachineRecord } from '../../src/etcd/registry';

let etcd: EtcdServer;
let reg: EtcdRegistry;

function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('this machine has no non-loopback IPv4 address (ip -4 addr)');
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ code: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (b) => { body += b; });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in 10 s`)));
    req.on('error', reject);
  });
}

/** Follows /api/events; `next(pred)` resolves with the first event (after those already seen) that matches. */
function follow(url: string) {
  const events: { event: string; data: unknown }[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  const seen = new Map<string, number>();
  const req = http.get(url, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
      }
      for (const w of waiters.splice(0)) w();
    });
  });
  req.on('error', () => undefined);
  return {
    async next<T>(event: string, pred: (d: T) => boolean, ms = 10_000): Promise<T> {
      const deadline = Date.now() + ms;
      for (;;) {
        // a cursor per event name: a feed frame may come before or after the status frame of the same change
        for (let i = seen.get(event) ?? 0; i < events.length; i++) {
          seen.set(event, i + 1);
          if (events[i].event === event && pred(events[i].data as T)) return events[i].data as T;
        }
        if (Date.now() > deadline) throw new Error(`no ${event} event matching in ${ms} ms; saw ${events.map((e) => e.event).join(',')}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
    close: () => req.destroy(),
  };
}

const machine = (id: string): MachineRecord => ({ id, address: '10.0.0.1', metadata: { role: 'web' }, capacity: { cpuMillis: 2000, memoryBytes: 2 ** 30 }, version: 'test', startedAt: new Date().toISOString() });

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  reg = new EtcdRegistry({ ...etcd.connection, prefix: '/web/' });
});
t.teardown(async () => {
  reg?.close();
  await etcd?.close();
});

t.test('[http] config: default, env override, off, bad values name the key', async (t) => {
  t.same(httpConfig(undefined, {}), { listen: '127.0.0.1:7412', explicit: false });
  t.same(httpConfig({ listen: '0.0.0.0:8080' }, {}), { listen: '0.0.0.0:8080', explicit: true });
  t.same(httpConfig({ listen: '0.0.0.0:8080' }, { SHOAL_HTTP_LISTEN: '[::1]:9' }), { listen: '[::1]:9', explicit: true });
  t.same(httpConfig({}, { SHOAL_HTTP_LISTEN: '' }), { listen: null, explicit: true });
  t.throws(() => httpConfig({ listn: 'x' }, {}, 'f.toml'), { code: 'config.bad-http', location: { file: 'f.toml', key: 'listn' } });
  t.throws(() => httpConfig({ listen: 'nowhere' }, {}), { code: 'config.bad-http', message: /expected host:port/ });
  t.throws(() => httpConfig({ listen: 7412 }, {}), { code: 'config.bad-http' });
  t.throws(() => httpConfig({}, { SHOAL_HTTP_LISTEN: '1.2.3.4:99999' }), { code: 'config.bad-env', message: /not a TCP port/ });
  t.same(buildConfig({ http: { listen: '127.0.0.1:1' } }, {}).http.listen, '127.0.0.1:1', "shoald's config carries it");
});

t.test('tokens: Bearer, or Basic with the token as password; anything else is refused', async (t) => {
  t.ok(tokenMatches('Bearer s3cret', 's3cret'));
  t.ok(tokenMatches(`Basic ${Buffer.from('anyone:s3cret').toString('base64')}`, 's3cret'));
  t.notOk(tokenMatches('Bearer s3cre', 's3cret'));
  t.notOk(tokenMatches(`Basic ${Buffer.from('s3cret').toString('base64')}`, 's3cret'.slice(1)));
  t.notOk(tokenMatches(undefined, 's3cret'));
  t.notOk(tokenMatches('s3cret', 's3cret'));
});

t.test('a non-loopback listener without token or client certificates is refused at start', async (t) => {
  t.throws(() => new WebServer({ listen: '0.0.0.0:0' }, { listen: [] }, { registry: reg, log: silentLogger }), { code: 'api.insecure-listener' });
  t.throws(() => new WebServer({ listen: `${externalAddress()}:0` }, { listen: [], tls: { certFile: 'c', keyFile: 'k' } }, { registry: reg, log: silentLogger }), { code: 'api.insecure-listener' }, 'TLS without a CA is not enough');
  const w = await startWeb({ listen: '127.0.0.1:0', explicit: true }, { listen: [] }, { registry: reg, log: silentLogger });
  t.teardown(() => w?.close());
  const taken = w!.address();
  await t.rejects(startWeb({ listen: taken, explicit: true }, { listen: [] }, { registry: reg, log: silentLogger }), { code: 'http.listen', message: /cannot listen on .*\[http\] listen/ });
  t.equal(await startWeb({ listen: taken, explicit: false }, { listen: [] }, { registry: reg, log: silentLogger }), null, 'the default address taken: shoald runs on without the page');
});

t.test('the page, its live view, explain and /metrics; a non-loopback peer needs the token', async (t) => {
  const web = await startWeb({ listen: '0.0.0.0:0', explicit: true }, { listen: [], token: 'tok', insecurePlaintext: true }, { registry: reg, log: silentLogger });
  t.teardown(() => web?.close());
  const port = Number(web!.address().split(':').pop());
  const local = `http://127.0.0.1:${port}`;
  const remote = `http://${externalAddress()}:${port}`;

  const page = await get(`${local}/`);
  t.equal(page.code, 200);
  t.match(page.body, /<script type="module" src="\/app.js">/);
  t.match(page.headers['content-security-policy'], /default-src 'self'/);
  for (const f of ['/app.js', '/render.js', '/style.css']) t.equal((await get(`${local}${f}`)).code, 200, f);
  t.equal((await get(`${local}/../package.json`)).code, 404, 'nothing but the page files');

  const denied = await get(`${remote}/api/status`);
  t.equal(denied.code, 401, 'a non-loopback peer without credentials is refused');
  t.match(denied.headers['www-authenticate'], /^Basic realm="shoal"/, 'a browser prompts for the token');
  t.equal((await get(`${remote}/metrics`)).code, 401, '/metrics too');
  t.equal((await get(`${remote}/api/status`, { authorization: 'Bearer nope' })).code, 401);
  t.equal((await get(`${remote}/api/status`, { authorization: 'Bearer tok' })).code, 200);
  t.equal((await get(`${remote}/`, { authorization: `Basic ${Buffer.from('me:tok').toString('base64')}` })).code, 200);

  const m1 = await reg.register(machine('m1'), 5);
  t.teardown(() => m1.close());
  const text = '[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nCPU=500m\n';
  await reg.submitUnit({ name: 'a.service', text, hash: unitHash(text) }, { desired: 'launched' });
  const big = '[Service]\nExecStart=/bin/sleep 1000\n[X-Shoal]\nMemory=64G\n';
  await reg.submitUnit({ name: 'huge.service', text: big, hash: unitHash(big) }, { desired: 'launched' });

  const s = JSON.parse((await get(`${local}/api/status`)).body) as StatusView;
  t.same(s.machines.map((m) => [m.id, m.metadata.role, m.capacity.cpuMillis]), [['m1', 'web', 2000]]);
  t.same(s.units.map((u) => u.name), ['a.service', 'huge.service']);
  const huge = s.units.find((u) => u.name === 'huge.service')!;
  t.equal(huge.ok, false);
  t.match(huge.unplaced, /m1: .*memory/i, 'why it is unplaced, from the planner');
  t.equal(s.machines[0].reserved.cpuMillis, 500, 'the plan reserves a.service on m1');

  const ex = await get(`${local}/api/explain?unit=huge.service`);
  t.equal(ex.code, 200);
  t.equal(JSON.parse(ex.body).status, 'unplaceable');
  t.equal((await get(`${local}/api/explain?unit=nope.service`)).code, 404);
  t.equal((await get(`${local}/api/explain`)).code, 400);

  // live: a follower sees a machine join, a unit's state, and a machine leave, without asking again
  const f = follow(`${local}/api/events`);
  t.teardown(() => f.close());
  await f.next<StatusView>('status', (v) => v.machines.length === 1);
  const m2 = await reg.register(machine('m2'), 5);
  await f.next<StatusView>('status', (v) => v.machines.map((m) => m.id).join() === 'm1,m2');
  t.ok(await f.next<{ kind: string }[]>('feed', (es) => es.some((e) => e.kind === 'machine.joined')), 'feed: machine joined');
  await m2.reportState('a.service', { loadState: 'loaded', activeState: 'active', subState: 'running', hash: unitHash(text), since: new Date().toISOString() });
  const withState = await f.next<StatusView>('status', (v) => !!v.units.find((u) => u.name === 'a.service')?.states.m2);
  t.same(withState.units.find((u) => u.name === 'a.service')!.states.m2, { active: 'active', sub: 'running', current: true });
  // the agent's load report and a cordon show on the machine
  await m2.reportLoad({ at: new Date().toISOString(), cpuMillis: 700, cpuTotalMillis: 2000, memAvailableBytes: 3 * 2 ** 30, memTotalBytes: 4 * 2 ** 30, diskFreeBytes: 10, diskTotalBytes: 40, units: {} });
  const loaded = await f.next<StatusView>('status', (v) => !!v.machines.find((m) => m.id === 'm2')?.load);
  t.match(loaded.machines.find((m) => m.id === 'm2')!.load, { cpuMillis: 700, cpuTotalMillis: 2000, memoryBytes: 2 ** 30, memTotalBytes: 4 * 2 ** 30, diskUsedBytes: 30, diskTotalBytes: 40 });
  await reg.putCordon('m2', { since: Date.now(), by: 'test' });
  const cordoned = await f.next<StatusView>('status', (v) => v.machines.find((m) => m.id === 'm2')?.cordon === 'cordoned');
  t.ok(cordoned, 'a cordoned machine says so');
  await m2.close();
  await f.next<StatusView>('status', (v) => v.machines.length === 1);
  t.ok(await f.next<{ kind: string; subject: string }[]>('feed', (es) => es.some((e) => e.kind === 'machine.lost' && e.subject === 'm2')), 'feed: machine lost');

  const metrics = await get(`${local}/metrics`);
  t.equal(metrics.code, 200);
  t.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(metrics.body, /shoal_http_requests_total\{route="\/api\/status",code="401"\} [1-9]/);
  t.match(metrics.body, /shoal_http_page_streams 1/);
  t.equal((await get(`${local}/nothing`)).code, 404);
});

t.test('a follower that does not read is cut off; the others keep getting every change', async (t) => {
  const hub = new StatusHub({ registry: reg, log: silentLogger, maxBufferedBytes: 1 << 20, minIntervalMs: 50 });
  t.teardown(() => hub.close());
  let slowClosed = false;
  let slowBuffered = 0;
  hub.follow({ send: (frame) => { slowBuffered += frame.length * 400; return slowBuffered; }, close: () => { slowClosed = true; } });
  const got: string[] = [];
  let readerCut = false;
  hub.follow({ send: (frame) => { got.push(frame); return 0; }, close: () => { readerCut = true; } });
  for (let i = 0; i < 8 && !slowClosed; i++) {
    await reg.setDesired('a.service', i % 2 ? 'launched' : 'loaded');
    await new Promise((r) => setTimeout(r, 150));
  }
  t.ok(slowClosed, 'the slow follower was cut off');
  t.equal(hub.size, 1);
  const before = got.length;
  const text = '[Service]\nExecStart=/bin/true\n';
  await reg.submitUnit({ name: 'after.service', text, hash: unitHash(text) });
  const seen = () => got.slice(before).some((f) => f.startsWith('event: status') && f.includes('"after.service"'));
  for (let i = 0; i < 50 && !seen(); i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(seen(), 'the other follower got the next change');
  t.notOk(readerCut, 'the reading follower was never cut off');
});

t.test('given the cluster events stream, the feed is that stream: stored events first, then live ones', async (t) => {
  const client = createEtcdClient({ ...etcd.connection });
  t.teardown(() => client.close());
  const store = new EventStore(client, new KeyLayout('/web/'));
  await store.append({ kind: 'unit.placed', unit: 'x.service', machine: 'm9', message: 'placed on m9' });
  const hub = new StatusHub({ registry: reg, log: silentLogger, events: store });
  t.teardown(() => hub.close());
  const feed: { time: number; kind: string; subject: string; text: string }[] = [];
  hub.follow({ send: (frame) => { if (frame.startsWith('event: feed\n')) feed.push(...JSON.parse(frame.split('data: ')[1])); return 0; }, close: () => undefined });
  const wait = async (pred: () => boolean) => { for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 100)); return pred(); };
  t.ok(await wait(() => feed.some((e) => e.kind === 'unit.placed')), 'a stored event');
  t.same(feed.find((e) => e.kind === 'unit.placed'), { time: feed[0].time, kind: 'unit.placed', subject: 'x.service', text: 'x.service: placed on m9' });
  await store.append({ kind: 'job.done', unit: 'backup@1.service', machine: 'm9', message: 'exit 0 after 12 s' });
  t.ok(await wait(() => feed.some((e) => e.kind === 'job.done')), 'a live event');
  t.equal(feed.find((e) => e.kind === 'job.done')!.text, 'backup@1.service on m9: exit 0 after 12 s');
  // the hub's own watch no longer makes feed lines: a machine joining shows only as the stream says
  const m3 = await reg.register(machine('m3'), 5);
  await m3.close();
  await new Promise((r) => setTimeout(r, 1000));
  t.notOk(feed.some((e) => e.kind === 'machine.joined'), 'no second events system: nothing derived by the page itself');
});

t.test('the view shows batch jobs (jobs/), groups and deployments in progress, and which engine leads, live', async (t) => {
  const client = createEtcdClient({ ...etcd.connection });
  t.teardown(() => client.close());
  const keys = new KeyLayout('/jobs-web/');
  const jreg = new EtcdRegistry({ ...etcd.connection, prefix: '/jobs-web/' });
  t.teardown(() => jreg.close());
  const store = new EventStore(client, keys);
  const hub = new StatusHub({ registry: jreg, log: silentLogger, events: store, minIntervalMs: 50 });
  t.teardown(() => hub.close());
  const views: StatusView[] = [];
  hub.follow({ send: (frame) => { if (frame.startsWith('event: status\n')) views.push(JSON.parse(frame.split('data: ')[1])); return 0; }, close: () => undefined });
  const wait = async (pred: (v: StatusView) => boolean, what: string) => {
    for (let i = 0; i < 100; i++) { const v = views.find(pred); if (v) return v; await new Promise((r) => setTimeout(r, 100)); }
    throw new Error(`no view with ${what}: last ${JSON.stringify(views.at(-1))}`);
  };
  const first = await wait(() => true, 'anything');
  t.same(first.jobs, [], 'no jobs yet');
  t.equal(first.leader, null, 'no leader yet');

  const now = Date.now();
  const run = { kind: 'run', unit: 'report.service', hash: 'h1', status: 'retrying', failures: 1, backoffLimit: 3, retryAt: now + 4000, avoid: ['m1'], createdAt: now, updatedAt: now, message: 'run 1 failed: exit-code (exited 3)',
    runs: [{ machine: 'm1', placedAt: now, startedAt: now, endedAt: now, result: 'exit-code', exitCode: 'exited', exitStatus: 3, outcome: 'failed' }] };
  await client.put(keys.job('report.service')).value(JSON.stringify(run));
  await client.put(keys.job('old.service')).value(JSON.stringify({ ...run, unit: 'old.service', status: 'succeeded', updatedAt: now - 60_000, retryAt: undefined, message: 'succeeded',
    runs: [{ ...run.runs[0], machine: 'm2', result: 'success', exitStatus: 0, outcome: 'succeeded' }] }));
  await client.put(keys.job('shard@.service')).value(JSON.stringify({ kind: 'completions', unit: 'shard@.service', hash: 'h2', status: 'running', completions: 4, parallelism: 2, succeeded: 3, failed: 0, createdAt: now, updatedAt: now - 1000, message: '3/4 done' }));
  const withJobs = await wait((v) => v.jobs.length === 3, 'three jobs');
  t.same(withJobs.jobs.map((j) => [j.unit, j.status, j.progress, j.machine, j.exit, j.finished]), [
    ['report.service', 'retrying', 'run 1, 1 failed, BackoffLimit=3', 'm1', 'status=3', false],
    ['shard@.service', 'running', '3/4 done', '', '', false],
    ['old.service', 'succeeded', 'run 1, 1 failed, BackoffLimit=3', 'm2', 'status=0', true],
  ], 'unfinished first (latest change first), then finished; the last run\'s machine and exit');
  t.equal(withJobs.jobs[0].next, now + 4000, 'when a retrying job runs again');

  // the batch units themselves: unscheduled on purpose once run (or waiting to retry), so their job says how they stand
  const batch = '[Service]\nExecStart=/bin/true\n[X-Shoal]\nKind=batch\n';
  for (const name of ['report.service', 'old.service', 'never.service']) await jreg.submitUnit({ name, text: batch, hash: unitHash(batch) }, { desired: 'launched' });
  const units = (await wait((v) => v.units.length === 3, 'three batch units')).units;
  const byName = (n: string) => units.find((u) => u.name === n)!;
  t.match(byName('old.service'), { ok: true, actual: 'job succeeded' }, 'a succeeded batch unit is as desired, not "not placed"');
  t.notOk(byName('old.service').unplaced, 'and no reason why it is unplaced');
  t.match(byName('report.service'), { ok: false, actual: /^job retrying: run 1 failed/ }, 'a retrying one says so');
  t.match(byName('never.service'), { ok: false, unplaced: 'no live machines' }, 'one without a job yet is unplaced as any unit, with the planner\'s reason');

  // groups (scale counts) and deployments: the one in progress first, with its step and health
  await client.put(`/jobs-web/groups/web@.service`).value('3');
  const dep = (unit: string, status: string, step: number, updatedAt: number) => JSON.stringify({
    unit, id: `abc-${updatedAt}`, from: null, to: { hash: 'abc', text: '' }, target: 'abc', status, parallel: 1, canary: 0, autoRevert: true, healthyDeadlineMs: 60_000,
    step, steps: 3, inFlight: [], stepStartedAt: updatedAt, healthy: step, total: 3, maxInFlight: 1, startedAt: updatedAt, updatedAt, message: `${status} at step ${step}`,
  });
  await client.put('/jobs-web/deployments/api@.service').value(dep('api@.service', 'succeeded', 3, now - 5000));
  await client.put('/jobs-web/deployments/web@.service').value(dep('web@.service', 'running', 2, now));
  const withDeps = await wait((v) => v.deployments.length === 2 && v.groups.length === 1, 'a group and two deployments');
  t.same(withDeps.groups, [{ template: 'web@.service', count: 3 }], 'the group and its count');
  t.same(withDeps.deployments.map((d) => [d.unit, d.status, d.step, d.steps, d.healthy, d.total, d.finished]), [
    ['web@.service', 'running', 2, 3, 2, 3, false],
    ['api@.service', 'succeeded', 3, 3, 3, 3, true],
  ], 'the deployment in progress first, then the finished one');

  // a new leader: the key (engine/leader, as the engine writes it) and the recorder's leader.changed event
  await client.put(keys.leader).value(JSON.stringify({ id: 'm7', pid: 1, since: '2026-11-30T19:00:00.000Z' }));
  await store.append({ kind: 'leader.changed', message: 'engine m7 leads', actor: 'm7' });
  const led = await wait((v) => v.leader !== null, 'a leader');
  t.same(led.leader, { id: 'm7', since: '2026-11-30T19:00:00.000Z' }, 'the page says which engine leads');
  const fresh = await hub.status();
  t.same(fresh.leader, led.leader, '/api/status too');
});

t.test('SIGHUP token rotation reaches the page and /metrics: the old token is refused, the new and the read-only ones work, the listener stays', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-web-rotate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const op = join(dir, 'op.token');
  const ro = join(dir, 'ro.token');
  writeFileSync(op, 'op-1\n');
  writeFileSync(ro, 'ro-1\n');
  const path = join(dir, 'shoal.toml');
  writeFileSync(path, `[machine]\nid = "m1"\n[api]\ntoken_file = "${op}"\nread_token_file = "${ro}"\ninsecure_plaintext = true\n[http]\nlisten = "0.0.0.0:0"\n`);
  const prev = loadConfig(path, {});
  const web = await startWeb(prev.http, prev.api, { registry: reg, log: silentLogger });
  t.teardown(() => web?.close());
  const port = Number(web!.address().split(':').pop());
  const remote = `http://${externalAddress()}:${port}`;
  const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });
  const basic = (tok: string) => ({ authorization: `Basic ${Buffer.from(`me:${tok}`).toString('base64')}` });
  // one kept-alive connection, opened before the rotation and used after it
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const getOn = (url: string, headers: Record<string, string>) => new Promise<{ code: number; reused: boolean }>((resolve, reject) => {
    const req = http.get(url, { headers, agent, timeout: 10_000 }, (res) => { res.resume(); res.on('end', () => resolve({ code: res.statusCode ?? 0, reused: req.reusedSocket })); });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in 10 s`)));
    req.on('error', reject);
  });
  /** A live page (SSE) opened with `headers`; `closed` resolves when shoald ends it. */
  const openStream = (url: string, headers: Record<string, string>) => new Promise<{ closed: Promise<void>; req: http.ClientRequest }>((resolve, reject) => {
    const req = http.get(url, { headers });
    req.on('response', (res) => {
      if (res.statusCode !== 200) { reject(new Error(`${url}: HTTP ${res.statusCode}`)); return; }
      res.resume();
      resolve({ req, closed: new Promise((r) => { res.on('close', () => r()); res.on('error', () => r()); }) });
    });
    req.on('error', reject);
  });

  t.equal((await getOn(`${remote}/`, basic('op-1'))).code, 200, 'the page with the operator token');
  t.equal((await getOn(`${remote}/metrics`, bearer('ro-1'))).code, 200, '/metrics with the read-only token');
  const oldStream = await openStream(`${remote}/api/events`, basic('ro-1'));
  const localStream = await openStream(`http://127.0.0.1:${port}/api/events`, {});
  t.teardown(() => { oldStream.req.destroy(); localStream.req.destroy(); });
  let localClosed = false;
  void localStream.closed.then(() => { localClosed = true; });

  writeFileSync(op, 'op-2\n');
  writeFileSync(ro, 'ro-2\n');
  const next = await reloadConfig(path, prev, { web: web! }, silentLogger);
  t.equal(next.api.token, 'op-2');
  t.equal(web!.address(), `0.0.0.0:${port}`, 'the same listener');

  const after = await getOn(`${remote}/metrics`, bearer('op-2'));
  t.equal(after.code, 200, '/metrics with the new operator token');
  t.ok(after.reused, 'over the connection opened before the rotation: nothing was dropped');
  for (const [tok, what] of [['op-1', 'old operator'], ['ro-1', 'old read-only']]) {
    t.equal((await getOn(`${remote}/metrics`, bearer(tok))).code, 401, `/metrics refuses the ${what} token`);
    t.equal((await getOn(`${remote}/`, basic(tok))).code, 401, `the page refuses the ${what} token`);
    t.equal((await getOn(`${remote}/api/status`, basic(tok))).code, 401, `/api/status refuses the ${what} token`);
  }
  t.equal((await getOn(`${remote}/`, basic('ro-2'))).code, 200, 'the page with the new read-only token');
  t.equal((await getOn(`${remote}/api/status`, bearer('ro-2'))).code, 200, 'its data too');
  await Promise.race([oldStream.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('the live page opened with the old token was not cut off in 5 s')), 5000))]);
  t.pass('a live page opened with the old token was cut off');
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(localClosed, 'a loopback live page goes on');
  const renewed = await openStream(`${remote}/api/events`, basic('ro-2'));
  t.teardown(() => renewed.req.destroy());
  t.pass('a live page with the new read-only token opens');
});

t.test('TLS with a CA beyond loopback: HTTPS; a client certificate signed by the CA is let in, none or another CA\'s is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-web-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ip = externalAddress();
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 30_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'rogue-ca']) openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '1', '-subj', `/CN=${ca}`);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=IP:${ip}\n`);
  const sign = (name: string, ca: string, ext?: string) => {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', ...(ext ? ['-extfile', ext] : []));
  };
  sign('server', 'ca', 'san.ext');
  sign('client', 'ca');
  sign('rogue', 'rogue-ca');
  const f = (n: string) => join(dir, n);
  const web = await startWeb({ listen: `${ip}:0`, explicit: true }, { listen: [], tls: { certFile: f('server.pem'), keyFile: f('server.key'), caFile: f('ca.pem') } }, { registry: reg, log: silentLogger });
  t.teardown(() => web?.close());
  const get = (cert?: string) => new Promise<number>((resolve, reject) => {
    const req = https.get(`https://${web!.address()}/api/status`, {
      ca: readFileSync(f('ca.pem')), timeout: 10_000,
      ...(cert ? { cert: readFileSync(f(`${cert}.pem`)), key: readFileSync(f(`${cert}.key`)) } : {}),
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
  });
  t.equal(await get('client'), 200, 'a client certificate signed by the CA');
  t.equal(await get(), 401, 'no client certificate');
  t.equal(await get('rogue'), 401, "another CA's certificate");
});
