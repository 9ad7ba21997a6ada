/** WatchEvents and `shoalctl events` against a real etcd, a real API server and the recorder. */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { shoalctl } from '../helpers/cli';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { createEtcdClient } from '../../src/etcd/client';
import { KeyLayout } from '../../src/etcd/keys';
import { ApiServer } from '../../src/api/server';
import { ApiClient } from '../../src/api/client';
import { EventStore } from '../../src/events/store';
import { runRecorder } from '../../src/events/recorder';
import { emitEvent, setEventSink } from '../../src/events/emit';
import { EventCursor, parseSince } from '../../src/cli/commands/events';
import { spawn } from 'node:child_process';
import type { ClusterEventMsg } from '../../src/api/messages';
import { silentLogger } from '../../src/log';
import type { Etcd3 } from 'etcd3';

const P = '/evapi/';
const SVC = '[Service]\nExecStart=/bin/sleep 1000\n';
let etcd: EtcdServer;
let reg: EtcdRegistry;
let raw: Etcd3;
let server: ApiServer;
let bare: ApiServer;
let dir: string;
let client: ApiClient;
const ac = new AbortController();
let recorder: Promise<void>;
let store: EventStore;

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  reg = new EtcdRegistry({ ...etcd.connection, prefix: P, callTimeoutMs: 3000 });
  raw = createEtcdClient({ ...etcd.connection });
  store = new EventStore(raw, new KeyLayout(P));
  recorder = runRecorder({ client: raw, store, isLeader: () => true, checkMs: 20 }, ac.signal);
  dir = mkdtempSync(join(tmpdir(), 'shoal-ev-'));
  server = new ApiServer({ listen: [`unix://${dir}/shoal.sock`] }, { registry: reg, log: silentLogger, events: store });
  bare = new ApiServer({ listen: [`unix://${dir}/bare.sock`] }, { registry: reg, log: silentLogger });
  await server.start();
  await bare.start();
  client = new ApiClient({ endpoint: `${dir}/shoal.sock` });
  // the recorder's first term starts from now: wait until it follows
  for (let i = 0; ; i++) {
    await raw.put(`${P}schedule/marker.service`).value(`m${i}`).exec();
    if ((await store.list()).events.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

t.teardown(async () => {
  ac.abort();
  await recorder;
  client?.close();
  await server?.close();
  await bare?.close();
  reg?.close();
  raw?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(f: () => T | undefined | Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('follow: stored events, then live ones, in order, filtered by unit', async (t) => {
  const got: ClusterEventMsg[] = [];
  const ctl = new AbortController();
  const following = (async () => { for await (const e of client.watchEvents({ unit: 'web.service', follow: true }, ctl.signal)) got.push(e); })();
  await client.submitUnit('web.service', SVC, { desired: 'launched' });
  await raw.put(`${P}schedule/web.service`).value('m1').exec();
  await raw.put(`${P}states/web.service/m1`).value(JSON.stringify({ loadState: 'loaded', activeState: 'active', subState: 'running', hash: 'h', since: '' })).exec();
  await raw.put(`${P}schedule/web.service`).value('m2').exec();
  await until(() => got.length >= 5, 10_000, 'five events of web.service');
  ctl.abort();
  await following;
  t.same(got.map((e) => e.kind), ['unit.submitted', 'unit.desired', 'unit.placed', 'unit.started', 'unit.moved']);
  t.equal(got[4].message, 'moved from m1 to m2');
  t.ok(got.every((e, i) => i === 0 || Number(e.revision) >= Number(got[i - 1].revision)), 'revision order (one txn: one revision)');
});

t.test('shoalctl events: text, json, filters, since; emitEvent reaches the stream', async (t) => {
  const prev = setEventSink(store);
  emitEvent({ kind: 'job.done', unit: 'backup.service', machine: 'm3', message: 'exit 0', actor: 'test' });
  setEventSink(prev);
  const env = { SHOAL_ENDPOINT: `${dir}/shoal.sock` };
  const json = await until(async () => {
    const r = await shoalctl(['events', '-o', 'json', '--unit', 'backup.service'], { env });
    return r.stdout.trim() ? r : undefined;
  }, 10_000, 'the emitted event');
  const e = JSON.parse(json.stdout.trim().split('\n')[0]);
  t.match(e, { kind: 'job.done', unit: 'backup.service', machine: 'm3', message: 'exit 0', actor: 'test' });
  const text = await shoalctl(['events', '--kind', 'unit.', '--since', '1h'], { env });
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /^\S+Z  unit\.submitted\s+web\.service\s/m);
  t.notMatch(text.stdout, /job\.done/, '--kind unit. leaves jobs out');
  const machine = await shoalctl(['events', '--machine', 'm2'], { env });
  t.match(machine.stdout, /unit\.moved\s+web\.service @m2\s+moved from m1 to m2/);
  t.notMatch(machine.stdout, /unit\.placed/);
  const later = await shoalctl(['events', '--since', new Date(Date.now() + 60_000).toISOString()], { env });
  t.equal(later.stdout, '', 'nothing after a future --since');
  const bad = await shoalctl(['events', '--since', 'yesterday'], { env });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--since: "yesterday" is not a duration/);
  const none = await shoalctl(['events'], { env: { SHOAL_ENDPOINT: `${dir}/bare.sock` } });
  t.not(none.code, 0);
  t.match(none.stderr, /no events store/);
});

t.test('events -f outlives a shoald restart: it follows again from the last event, nothing lost or printed twice', async (t) => {
  const sock = `${dir}/restart.sock`;
  let api = new ApiServer({ listen: [`unix://${sock}`] }, { registry: reg, log: silentLogger, events: store });
  await api.start();
  t.teardown(() => api.close());
  const ROOT = join(__dirname, '..', '..');
  const follower = spawn(process.execPath, [`--import=file://${join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs')}`, join(ROOT, 'src/cli/main.ts'), 'events', '-f', '-o', 'json', '--kind', 'resume.'], {
    env: { ...process.env, SHOAL_ENDPOINT: sock }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  follower.stdout.on('data', (b) => { out += b.toString(); });
  follower.stderr.on('data', (b) => { err += b.toString(); });
  const exited = new Promise<number | null>((r) => follower.on('exit', (c) => r(c)));
  t.teardown(() => { follower.kill('SIGKILL'); });
  const printed = () => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { message: string; id: string; revision: number });
  const emit = (n: number) => store.append({ kind: 'resume.test', message: `e${n}` });
  /** Two events in one etcd transaction: one revision (as the recorder stores a batch). */
  const emitPair = async (a: number, b: number) => {
    const k = new KeyLayout(P);
    const now = Date.now();
    await raw.if(k.event(`xpair-${a}`), 'Create', '==', 0).then(
      raw.put(k.event(`xpair-${a}`)).value(JSON.stringify({ kind: 'resume.test', message: `e${a}`, time: now })),
      raw.put(k.event(`xpair-${b}`)).value(JSON.stringify({ kind: 'resume.test', message: `e${b}`, time: now })),
    ).commit();
  };

  await emit(1);
  await emitPair(2, 3);
  await until(() => printed().length >= 3, 20_000, `the first three events printed (out: ${out} err: ${err})`);
  // shoald stops: the stream ends; events stored meanwhile must come after it is back
  await api.close();
  await emit(4);
  await emitPair(5, 6);
  await new Promise((r) => setTimeout(r, 500));
  api = new ApiServer({ listen: [`unix://${sock}`] }, { registry: reg, log: silentLogger, events: store });
  await api.start();
  await emit(7);
  await until(() => printed().some((e) => e.message === 'e7'), 20_000, `e7 after the restart (out: ${out} err: ${err})`);
  // and once more, while the follower is waiting on a quiet stream
  await api.close();
  api = new ApiServer({ listen: [`unix://${sock}`] }, { registry: reg, log: silentLogger, events: store });
  await api.start();
  await emit(8);
  await until(() => printed().some((e) => e.message === 'e8'), 20_000, `e8 after the second restart (out: ${out} err: ${err})`);
  follower.kill('SIGINT');
  t.equal(await exited, 0, `exits 0 on ^C: ${err}`);
  const got = printed();
  t.same(got.map((e) => e.message), ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8'], 'every event once, in order');
  t.equal(new Set(got.map((e) => e.id)).size, got.length, 'no id twice');
  t.match(err, /events: stream lost \(.*\); following again from the last event/, 'says it lost the stream');
  t.match(err, /events: following again/, 'and that it follows again');
});

t.test('EventCursor: skips what a resumed stream repeats, keeps what is new', async (t) => {
  const c = new EventCursor();
  t.equal(c.resume(), null, 'nothing seen: no resume point');
  t.ok(c.accept({ id: 'a', revision: 5 }));
  t.ok(c.accept({ id: 'b', revision: 7 }));
  t.same(c.resume(), { fromRevision: 7, limit: 0 });
  t.notOk(c.accept({ id: 'b', revision: 7 }), 'the same id at the resume revision: skipped');
  t.ok(c.accept({ id: 'c', revision: 7 }), 'another id of that revision: new');
  t.notOk(c.accept({ id: 'a', revision: 5 }), 'an older revision: skipped');
  t.ok(c.accept({ id: 'd', revision: 9 }));
  t.same(c.resume(), { fromRevision: 9, limit: 0 });
});

t.test('--since forms', async (t) => {
  t.equal(parseSince('10m', 1_000_000), 400_000);
  t.equal(parseSince('2026-11-30T00:00:00Z'), Date.parse('2026-11-30T00:00:00Z'));
  t.equal(parseSince('1796055349780'), 1796055349780);
  t.throws(() => parseSince('5 minutes'), /not a duration/);
});
