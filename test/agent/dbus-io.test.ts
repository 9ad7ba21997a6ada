/**
 * src/agent/dbus-io.ts decodes what dbus-next itself decodes: generated message bodies (every D-Bus type,
 * nested variants, dicts, structs, 64-bit extremes) are marshalled by dbus-next, decoded by dbus-next before the
 * speed-up and after it, and compared; batched writes on a local socket. No bus here: test/agent/systemd-dbus.test.ts
 * runs both against systemd. SEED=n replays one run's cases.
 */
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { batchDbusWrites, speedUpDbusDecoding } from '../../src/agent/dbus-io';
import { seededRandom } from '../../src/seeded-random';

/* eslint-disable @typescript-eslint/no-require-imports */
const message = require('dbus-next/lib/message') as {
  marshall(m: { serial: number; type: number; path: string; interface: string; member: string; signature: string; body: unknown[] }): [Buffer, number[]];
  unmarshall(b: Buffer): { body: unknown[]; signature: string };
};
const DBusBuffer = require('dbus-next/lib/dbus-buffer') as new (b: Buffer, start: number, endian: number) => { read(sig: string): unknown[] };
/* eslint-enable @typescript-eslint/no-require-imports */

const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
const rnd = seededRandom(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));

const BASIC = ['y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g'] as const;
const U64_EDGES = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
// dbus-next refuses to marshal -2^63 (its minimum is off by one); the decoding of it is checked below
const I64_EDGES = [0n, -1n, -(2n ** 63n) + 1n, 2n ** 63n - 1n, -(2n ** 32n), 2n ** 53n + 1n];

function big(bits: number, signed: boolean): bigint {
  if (rnd() < 0.3) return pick(signed ? I64_EDGES : U64_EDGES);
  let v = 0n;
  for (let i = 0; i < 4; i++) v = (v << 16n) | BigInt(int(0, 0xffff));
  if (!signed) return BigInt.asUintN(bits, v);
  const x = BigInt.asIntN(bits, v);
  return x === -(2n ** 63n) ? x + 1n : x;
}

/** A random complete type signature, nested at most `depth` deep. */
function signature(depth: number): string {
  const r = rnd();
  if (depth <= 0 || r < 0.5) return pick(BASIC);
  if (r < 0.65) return 'v';
  if (r < 0.8) return `a${signature(depth - 1)}`;
  if (r < 0.9) return `a{${pick(['s', 'u', 'o', 't'])}${signature(depth - 1)}}`;
  return `(${Array.from({ length: int(1, 3) }, () => signature(depth - 1)).join('')})`;
}

/** Splits a signature into its complete types. */
function complete(sig: string): string[] {
  const out: string[] = [];
  let i = 0;
  const one = (): void => {
    const c = sig[i++];
    if (c === 'a') one();
    else if (c === '(' || c === '{') { while (sig[i] !== ')' && sig[i] !== '}') one(); i++; }
  };
  while (i < sig.length) { const s = i; one(); out.push(sig.slice(s, i)); }
  return out;
}

/** A random value of `sig` in dbus-next's marshall format (variants are [signature, value]). */
function value(sig: string, depth = 3): unknown {
  switch (sig[0]) {
    case 'y': return int(0, 255);
    case 'b': return rnd() < 0.5;
    case 'n': return int(-32768, 32767);
    case 'q': return int(0, 65535);
    case 'i': return int(-(2 ** 31), 2 ** 31 - 1);
    case 'u': return int(0, 2 ** 32 - 1);
    case 'x': return big(64, true);
    case 't': return big(64, false);
    case 'd': return (rnd() - 0.5) * 10 ** int(0, 12);
    case 's': return pick(['', 'active', 'running', 'web@1.service', 'ünïcødé ✓', 'x'.repeat(int(1, 300))]);
    case 'o': return pick(['/', '/org/freedesktop/systemd1/unit/web_401_2eservice', '/a/b_c']);
    case 'g': return pick(['', 's', 'a{sv}', '(sasbttttuii)']);
    case 'v': { const s = signature(depth - 1); return [s, value(s, depth - 1)]; }
    case 'a': {
      const el = sig.slice(1);
      if (el[0] === '{') {
        const [k, v] = complete(el.slice(1, -1));
        return Array.from({ length: int(0, 4) }, () => [value(k, depth - 1), value(v, depth - 1)]);
      }
      return Array.from({ length: int(0, 4) }, () => value(el, depth - 1));
    }
    case '(': return complete(sig.slice(1, -1)).map((s) => value(s, depth - 1));
    default: throw new Error(`no generator for ${sig}`);
  }
}

t.test(`decodes generated messages as dbus-next does (SEED=${SEED})`, async (t) => {
  const cases: Buffer[] = [];
  const add = (m: Parameters<typeof message.marshall>[0]) => cases.push(message.marshall(m)[0]);
  // systemd's own: a unit's PropertiesChanged with timestamps, and a service's ExecStart
  add({ serial: 1, type: 4, path: '/org/freedesktop/systemd1/unit/a_2eservice', interface: 'org.freedesktop.DBus.Properties', member: 'PropertiesChanged',
    signature: 'sa{sv}as', body: ['org.freedesktop.systemd1.Unit', [['ActiveState', ['s', 'active']], ['ActiveEnterTimestamp', ['t', 1764567890123456n]],
      ['ExecStart', ['a(sasbttttuii)', [['/bin/sleep', ['/bin/sleep', 'infinity'], false, 1n, 2n, 0n, 0n, 42, 0, 0]]]]], ['Invalid']] });
  for (let i = 0; i < 400; i++) {
    const sigs = Array.from({ length: int(1, 4) }, () => signature(3));
    add({ serial: i + 2, type: 4, path: '/p', interface: 'a.b', member: 'C', signature: sigs.join(''), body: sigs.map((s) => value(s)) });
  }
  const before = cases.map((b) => message.unmarshall(b));
  speedUpDbusDecoding();
  speedUpDbusDecoding(); // idempotent
  const after = cases.map((b) => message.unmarshall(b));
  // a second decode after the speed-up goes through the kept signature trees
  const differ = before.map((b, i) => i).filter((i) => !isDeepStrictEqual(after[i], before[i]) || !isDeepStrictEqual(message.unmarshall(cases[i]), before[i]));
  t.same(differ.map((i) => before[i].signature), [], `SEED=${SEED}: all ${cases.length} cases decode the same`);
  if (differ.length) t.strictSame(after[differ[0]], before[differ[0]], `first case that differs: ${differ[0]}`);
});

t.test('big-endian 64-bit integers are read in their byte order', async (t) => {
  speedUpDbusDecoding();
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(2n ** 64n - 2n, 0);
  b.writeBigInt64BE(-(2n ** 62n) - 7n, 8);
  t.strictSame(new DBusBuffer(b, 0, 'B'.charCodeAt(0)).read('tx'), [2n ** 64n - 2n, -(2n ** 62n) - 7n]);
  const l = Buffer.alloc(16);
  l.writeBigUInt64LE(12345678901234567890n, 0);
  l.writeBigInt64LE(-(2n ** 63n), 8);
  t.strictSame(new DBusBuffer(l, 0, 'l'.charCodeAt(0)).read('tx'), [12345678901234567890n, -(2n ** 63n)]);
});

t.test('a bad signature still throws as dbus-next does, and is not kept', async (t) => {
  speedUpDbusDecoding();
  const b = Buffer.alloc(8);
  t.throws(() => new DBusBuffer(b, 0, 'l'.charCodeAt(0)).read('a'), /Bad signature|unexpected end/);
  t.throws(() => new DBusBuffer(b, 0, 'l'.charCodeAt(0)).read('a'), /Bad signature|unexpected end/);
  t.throws(() => new DBusBuffer(b, 0, 'l'.charCodeAt(0)).read('Z'), /Unknown type/);
});

t.test('messages written in one turn reach the socket together and in order; later turns too', async (t) => {
  const server = createServer();
  const chunks: string[] = [];
  let got = '';
  const all = new Promise<void>((resolve) => server.on('connection', (s) => s.on('data', (b) => {
    chunks.push(b.toString());
    got += b.toString();
    if (got.endsWith('<end>')) resolve();
  })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const bus = { _connection: { stream: socket } };
  batchDbusWrites(bus);
  batchDbusWrites({}); // another transport: nothing to batch, no error
  for (let i = 0; i < 50; i++) socket.write(`m${i};`);
  t.equal(socket.writableCorked, 1, 'corked until the next tick');
  await new Promise((r) => setImmediate(r));
  t.equal(socket.writableCorked, 0);
  socket.write('late;');
  socket.write('<end>');
  await all;
  t.equal(got, `${Array.from({ length: 50 }, (_, i) => `m${i};`).join('')}late;<end>`);
  t.ok(chunks.length <= 3, `written in few chunks (${chunks.length})`);
  socket.destroy();
  server.close();
});
