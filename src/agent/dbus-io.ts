/**
 * Faster D-Bus I/O in dbus-next (0.10), same messages.
 * Writes: each message was its own write to the bus socket (a system call and a wake-up of dbus-daemon);
 * the agent sends its calls in bursts (up to 64 in flight): now written together, once per turn of the
 * event loop (`batchDbusWrites`).
 * Decoding (`speedUpDbusDecoding`, same results): systemd sends a PropertiesChanged signal per unit at each
 * state change, a dozen variants and timestamps in each; in a burst of 333 starts per machine, decoding
 * them was the agent's largest share of CPU after GC. dbus-next
 * - parses the signature of every variant anew (a tree of objects and closures each time): parsed trees
 *   are kept here by signature (dbus-next never changes a tree);
 * - reads each 64-bit integer ('t', 'x') by building a Long, printing it in decimal with Long's software
 *   division and parsing that into a BigInt: Buffer reads the same BigInt directly.
 * Applied to dbus-next's message buffer prototype once, before the first message. test/agent/dbus-io.test.ts
 * checks it decodes generated messages as dbus-next itself does, and that batched writes reach a bus.
 */
import type { Buffer } from 'node:buffer';
import type { Writable } from 'node:stream';

interface SignatureTree { type: string; child: SignatureTree[] }
interface DbusBufferProto {
  buffer: Buffer;
  pos: number;
  endian: number;
  align(power: number): void;
  readSimpleType(t: string): unknown;
  readStruct(tree: SignatureTree[]): unknown[];
  read(signature: string): unknown[];
  readVariant(): [SignatureTree[], unknown[]];
}

/** Signatures kept at most (systemd's properties use a few dozen). */
const MAX_SIGNATURES = 1024;
/** D-Bus's little-endian mark, the first byte of a message ('l'). */
const LITTLE = 'l'.charCodeAt(0);

let applied = false;

/** Installs the faster decoding into dbus-next (idempotent). Throws when dbus-next's internals changed. */
export function speedUpDbusDecoding(): void {
  if (applied) return;
  /* eslint-disable @typescript-eslint/no-require-imports */
  const proto = (require('dbus-next/lib/dbus-buffer') as { prototype: DbusBufferProto }).prototype;
  const { parseSignature } = require('dbus-next/lib/signature') as { parseSignature: (s: string) => SignatureTree[] };
  const { getBigIntCompat } = require('dbus-next/lib/library-options') as { getBigIntCompat: () => boolean };
  /* eslint-enable @typescript-eslint/no-require-imports */
  for (const m of ['readSimpleType', 'readStruct', 'read', 'readVariant', 'align'] as const) {
    if (typeof proto[m] !== 'function') throw new Error(`dbus-next's message buffer has no ${m}(): update src/agent/dbus-io.ts`);
  }
  const trees = new Map<string, SignatureTree[]>();
  const parsed = (signature: string): SignatureTree[] => {
    let tree = trees.get(signature);
    if (tree === undefined) {
      tree = parseSignature(signature);
      if (trees.size >= MAX_SIGNATURES) trees.clear();
      trees.set(signature, tree);
    }
    return tree;
  };
  const readSimpleType = proto.readSimpleType;
  proto.readSimpleType = function fastReadSimpleType(this: DbusBufferProto, t: string): unknown {
    // the JSBI polyfill mode (setBigIntCompat) stays dbus-next's own
    if ((t !== 't' && t !== 'x') || getBigIntCompat()) return readSimpleType.call(this, t);
    this.align(3);
    const b = this.buffer;
    const v = this.endian === LITTLE
      ? (t === 't' ? b.readBigUInt64LE(this.pos) : b.readBigInt64LE(this.pos))
      : (t === 't' ? b.readBigUInt64BE(this.pos) : b.readBigInt64BE(this.pos));
    this.pos += 8;
    return v;
  };
  proto.read = function fastRead(this: DbusBufferProto, signature: string): unknown[] {
    return this.readStruct(parsed(signature));
  };
  proto.readVariant = function fastReadVariant(this: DbusBufferProto): [SignatureTree[], unknown[]] {
    const tree = parsed(this.readSimpleType('g') as string);
    return [tree, this.readStruct(tree)];
  };
  applied = true;
}

/**
 * Writes the messages a bus connection sends in one turn of the event loop together (the socket corked until
 * the next tick: one writev). `bus` is a dbus-next MessageBus; a transport that is not a socket stays as is.
 */
export function batchDbusWrites(bus: unknown): void {
  const stream = (bus as { _connection?: { stream?: Writable } })._connection?.stream;
  if (!stream || typeof stream.cork !== 'function' || typeof stream.uncork !== 'function') return;
  const write = stream.write;
  let corked = false;
  const uncork = () => { corked = false; stream.uncork(); };
  stream.write = function batchedWrite(this: Writable, ...args: Parameters<Writable['write']>): boolean {
    if (!corked) {
      corked = true;
      this.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Writable['write'];
}
