/** ApplyBatch through a real gRPC server on a real etcd: per-unit results, streamed progress, globs, all-or-nothing validation. */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server';
import { dump } from '../etcd/etcdctl';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { ApiServer } from '../../src/api/server';
import { ApiClient } from '../../src/api/client';
import { NotFoundError } from '../../src/api/grpc-errors';
import { UnavailableError, ValidationError } from '../../src/errors';
import { silentLogger } from '../../src/log';

const P = '/batch1/';
const SVC = (i: number) => `[Service]\nExecStart=/bin/sleep ${1000 + i}\n`;
let etcd: EtcdServer;
let reg: EtcdRegistry;
let server: ApiServer;
let dir: string;
let c: ApiClient;

t.before(async () => {
  etcd = await startEtcd({ tls: true, auth: true });
  reg = new EtcdRegistry({ ...etcd.connection, prefix: P, callTimeoutMs: 3000 });
  dir = mkdtempSync(join(tmpdir(), 'shoal-batch-'));
  server = new ApiServer({ listen: [`unix://${dir}/shoal.sock`] }, { registry: reg, log: silentLogger });
  await server.start();
  c = new ApiClient({ endpoint: `${dir}/shoal.sock` });
});

t.teardown(async () => {
  c?.close();
  await server?.close();
  reg?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

const files = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ name: `web${from + i}.service`, text: SVC(from + i) }));

t.test('one bad entry anywhere in a batch changes nothing, and the error names it', async (t) => {
  const cases: [string, { name: string; text: string }[], RegExp, RegExp][] = [
    ['bad name at 150', [...files(150), { name: 'a/b.service', text: SVC(0) }, ...files(50, 150)], /contains '\/'/, /^unit\.bad-name$/],
    ['bad file at 200', [...files(200), { name: 'bad.service', text: '[Service]\nnot a key\n' }], /bad\.service:2/, /^unit\./],
    ['same name, two bodies', [...files(10), { name: 'web3.service', text: SVC(99) }], /web3\.service is given twice/, /^unit\.duplicate$/],
    ['template started', [{ name: 'x@.service', text: SVC(1) }], /template/, /^unit\.template$/],
  ];
  for (const [what, units, msg, code] of cases) {
    const state = what === 'template started' ? 'launched' : undefined;
    const err = await c.applyBatch({ action: 'SUBMIT', units, state }).then(() => null, (e) => e);
    t.ok(err instanceof ValidationError, `${what}: a ValidationError`);
    t.match(err?.message, msg, `${what}: says what and where`);
    t.match(err?.code, code, what);
  }
  t.same(dump(etcd, P), {}, 'nothing was written');
  for (const names of [['ok.service', '../x.service'], ['web[.service']]) {
    await t.rejects(c.applyBatch({ action: 'SET_STATE', units: names.map((name) => ({ name })), state: 'launched' }), ValidationError);
    await t.rejects(c.applyBatch({ action: 'DESTROY', units: names.map((name) => ({ name })) }), ValidationError);
  }
});

t.test('submit 1,000 units: progress streams chunk by chunk, each unit has its result', async (t) => {
  const seen: [number, number][] = [];
  const res = await c.applyBatch({ action: 'SUBMIT', units: files(1000), state: 'loaded' }, { onProgress: (d, n) => seen.push([d, n]) });
  t.equal(res.length, 1000);
  t.ok(res.every((r) => r.outcome === 'created' && r.previous === '' && /^[0-9a-f]{40}$/.test(r.hash)));
  t.same(seen[0], [0, 1000], 'the total comes first');
  t.equal(seen.length, 1 + Math.ceil(1000 / 64), 'then one message per chunk of 64');
  t.same(seen[seen.length - 1], [1000, 1000]);
  const kv = dump(etcd, P);
  t.equal(Object.keys(kv).length, 2000);
  const again = await c.applyBatch({ action: 'SUBMIT', units: [{ name: 'web1.service', text: SVC(7) }, { name: 'web2.service', text: SVC(2) }] });
  t.same(again.map((r) => [r.name, r.outcome, r.previous]), [['web1.service', 'exists', 'loaded'], ['web2.service', 'unchanged', 'loaded']]);
});

t.test('set-state: names, globs and template instances; a missing unit changes nothing', async (t) => {
  await c.applyBatch({ action: 'SUBMIT', units: [{ name: 'app@.service', text: '[Service]\nExecStart=/bin/sleep %i\n' }] });
  const inst = Array.from({ length: 200 }, (_, i) => ({ name: `app@${i}.service` }));
  const err = await c.applyBatch({ action: 'SET_STATE', units: [...inst, { name: 'nope.service' }], state: 'launched' }).then(() => null, (e) => e);
  t.ok(err instanceof NotFoundError);
  t.match(err?.message, /unit nope\.service not found: submit it first/);
  t.notOk(dump(etcd, P)[`${P}units/app@0.service`], 'no instance created when one name fails');
  const created = await c.applyBatch({ action: 'SET_STATE', units: inst, state: 'launched' });
  t.ok(created.every((r) => r.outcome === 'created'), 'instances created from the template');
  const glob = await c.applyBatch({ action: 'SET_STATE', units: [{ name: 'app@1?.service' }], state: 'loaded' });
  t.same(glob.map((r) => r.name).sort(), Array.from({ length: 10 }, (_, i) => `app@1${i}.service`).sort(), 'a glob matches stored instances, not the template');
  t.ok(glob.every((r) => r.outcome === 'set' && r.previous === 'launched'));
  const skip = await c.applyBatch({ action: 'SET_STATE', units: [{ name: 'app@*.service' }], state: 'loaded', skipFrom: ['launched'] });
  t.equal(skip.length, 200, 'app@*.service: every instance, never the template app@.service');
  t.equal(skip.filter((r) => r.outcome === 'skipped').length, 190, 'launched ones skipped');
  await t.rejects(c.applyBatch({ action: 'SET_STATE', units: [{ name: 'zzz*.service' }], state: 'loaded' }), { message: /no submitted unit matches "zzz\*\.service"/ });
  t.equal(dump(etcd, P)[`${P}desired/app@5.service`], 'launched');
});

t.test('destroy by glob: per-unit results; missing names are reported, not errors', async (t) => {
  const res = await c.applyBatch({ action: 'DESTROY', units: [{ name: 'web*.service' }, { name: 'gone.service' }] });
  t.equal(res.filter((r) => r.outcome === 'destroyed').length, 1000);
  t.same(res.find((r) => r.name === 'gone.service')?.outcome, 'not-found');
  const left = Object.keys(dump(etcd, P)).filter((k) => k.includes('/units/web'));
  t.same(left, []);
});

t.test('a batch is bounded by progress, not by one deadline; silence past idleMs fails with what was done', async (t) => {
  const slow = new ApiClient({ endpoint: `${dir}/shoal.sock`, timeoutMs: 1 });
  t.teardown(() => slow.close());
  // a 1 ms unary deadline would fail any call; the batch waits while progress keeps coming
  const res = await slow.applyBatch({ action: 'SUBMIT', units: files(300, 5000) }, { idleMs: 2000 });
  t.equal(res.length, 300);
  const stopped = new ApiClient({ endpoint: `${dir}/nothing.sock` });
  t.teardown(() => stopped.close());
  await t.rejects(stopped.applyBatch({ action: 'SUBMIT', units: files(1) }, { idleMs: 300 }), UnavailableError);
});
