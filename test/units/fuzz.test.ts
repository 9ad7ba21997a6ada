/**
 * Fuzz parseUnit with a seeded PRNG: random grammar-shaped unit files and byte-level mutations of
 * units-examples/. Every outcome must be a UnitSpec or a ValidationError with a `unit.*` code;
 * accepted files must round-trip. SHOAL_FUZZ_CASES raises the case count (default 5000),
 * SHOAL_FUZZ_SEED picks another seed.
 */
import t from 'tap';
import { seededRandom as prng } from '../../src/seeded-random';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ShoalError, ValidationError } from '../../src/errors';
import { instantiate, parseUnit, parseUnitFile, serializeUnitFile, unitHash } from '../../src/units';
import type { UnitFile } from '../../src/units';

const CASES = Number(process.env.SHOAL_FUZZ_CASES ?? 5000);
const SEED = Number(process.env.SHOAL_FUZZ_SEED ?? 0x5eed);
const BUDGET_MS = 20_000 * Math.max(1, CASES / 5000);

/** mulberry32: small, fast, deterministic. */
const rnd = prng(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

const EXAMPLES_DIR = join(__dirname, '..', '..', 'units-examples');
const EXAMPLES = readdirSync(EXAMPLES_DIR).map((n) => ({ name: n, bytes: readFileSync(join(EXAMPLES_DIR, n)) }));

const SECTIONS = ['Unit', 'Service', 'X-Fleet', 'X-Shoal', 'X-Container', 'Install', 'X-Other', 'x fleet'];
const KEYS: Record<string, string[]> = {
  'X-Fleet': ['MachineID', 'MachineOf', 'MachineMetadata', 'Conflicts', 'Global', 'Replaces', 'X-Conflicts', 'Bogus'],
  'X-Shoal': ['CPU', 'Memory', 'Strategy', 'Cpu'],
  'X-Container': ['Image', 'Command', 'Environment', 'Port', 'Volume', 'Ports'],
  Service: ['ExecStart', 'CPUQuota', 'MemoryMax', 'MemoryLimit', 'Restart', 'Environment'],
};
const ATOMS = [
  'a.service', 'lb@*.service', '%p@%i.service', '%n', '%N', '%%', '%', 'region=us', '"disk=ssd"', '"a b"', 'true', 'no',
  '0123456789abcdef0123456789abcdef', 'abcdef01', '500m', '1.5', '512M', '150%', 'infinity', 'binpack', 'localbusybox:latest',
  "'quoted x'", '8080:80/tcp', '/a:/b:ro', 'K=V', '[', ']', '*', '?', '\\', '=', '"', "'", ' ', '\t', 'é', '日本', '',
];
const NAMES = ['u.service', 'web@.service', 'web@7.service', 'lb@2.service', 'x.socket', 'm.timer', 'side@a.b.service'];
const BAD_NAMES = ['', 'noext', '../x.service', 'a b.service', 'a@@b.service', 'x.exe'];

function randomValue(): string {
  let v = '';
  for (let i = int(5); i >= 0; i--) v += pick(ATOMS) + (rnd() < 0.5 ? ' ' : '');
  return v;
}

/** A grammar-shaped file: sections, keys, comments, blank lines, continuations, mixed line ends. */
function randomFile(): string {
  const eol = pick(['\n', '\n', '\r\n', '\r']);
  const lines: string[] = [];
  if (rnd() < 0.1) lines.push('Orphan=1');
  for (let s = int(5); s >= 0; s--) {
    const sec = pick(SECTIONS);
    lines.push(rnd() < 0.05 ? `[${sec}` : `${rnd() < 0.2 ? '  ' : ''}[${sec}]`);
    for (let e = int(6); e >= 0; e--) {
      const r = rnd();
      if (r < 0.1) lines.push(pick(['# comment', '; c', '', '   ', '#\\']));
      else if (r < 0.15) lines.push(`${pick(KEYS[sec] ?? ['K'])}=${randomValue()}\\`, randomValue());
      else if (r < 0.18) lines.push('no equals sign here');
      else lines.push(`${rnd() < 0.1 ? ' ' : ''}${pick(KEYS[sec] ?? ['Description', 'After'])}${rnd() < 0.1 ? ' ' : ''}=${randomValue()}`);
    }
  }
  return lines.join(eol) + (rnd() < 0.8 ? eol : '');
}

/** Byte-level damage to an example: flips, inserts, deletes, duplicated lines, huge lines. */
function mutate(src: Buffer): Buffer {
  let b = Buffer.from(src);
  for (let m = int(4); m >= 0; m--) {
    const at = int(b.length + 1);
    switch (int(9)) {
      case 0: if (b.length) b[Math.min(at, b.length - 1)] ^= 1 << int(8); break;
      case 1: b = Buffer.concat([b.subarray(0, at), Buffer.from([pick([0x5b, 0x5d, 0x5c, 0x3d, 0x0a, 0x00, 0xff, 0x22, 0x25, 0x23, 0x0d, 0x07])]), b.subarray(at)]); break;
      case 2: b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(20))]); break;
      case 3: {
        const lines = b.toString('latin1').split('\n');
        const i = int(lines.length);
        lines.splice(i, 0, ...Array(1 + int(3)).fill(lines[i] ?? ''));
        b = Buffer.from(lines.join('\n'), 'latin1');
        break;
      }
      case 4: b = Buffer.concat([b.subarray(0, at), Buffer.from(`\nA=${'x'.repeat(pick([1000, 65_530, 70_000]))}\n`), b.subarray(at)]); break;
      case 5: b = b.subarray(0, at); break;
      case 6: b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(['\\\n', '\\', '[X-Fleet]\n', '"', '%i', '\r']))]); break;
      case 7: b = Buffer.concat([b.subarray(0, at), Buffer.from([0xe6, 0x97]), b.subarray(at)]); break; // truncated UTF-8
      default: b = Buffer.concat([b, Buffer.from(`\n[X-Fleet]\n${pick(KEYS['X-Fleet'])}=${randomValue()}\n`)]);
    }
  }
  return b;
}

function noLines(f: UnitFile): unknown {
  return f.sections.map((s) => [s.name, s.entries.map((e) => [e.key, e.value])]);
}

t.test(`fuzz parseUnit: ${CASES} cases, seed ${SEED}`, async (t) => {
  const t0 = Date.now();
  const codes = new Map<string, number>();
  let accepted = 0;
  let slowest = 0;
  let failures = 0;
  for (let i = 0; i < CASES && failures < 10; i++) {
    const kind = int(3);
    const input: string | Buffer =
      kind === 0 ? randomFile() : kind === 1 ? mutate(pick(EXAMPLES).bytes) : mutate(Buffer.from(randomFile()));
    const asString = rnd() < 0.3 && Buffer.isBuffer(input) ? input.toString('latin1') : input;
    const name = rnd() < 0.03 ? pick(BAD_NAMES) : kind === 1 && rnd() < 0.7 ? pick(EXAMPLES).name : pick(NAMES);
    const c0 = performance.now();
    try {
      const spec = parseUnit(name, asString, { file: `case-${i}` });
      accepted++;
      const again = parseUnitFile(serializeUnitFile(spec.file));
      if (JSON.stringify(noLines(again)) !== JSON.stringify(noLines(spec.file)) || unitHash(again) !== spec.hash) {
        failures++;
        t.fail(`case ${i}: accepted file does not round-trip`, { input: JSON.stringify(String(asString)).slice(0, 400) });
      }
      if (name.includes('@.')) {
        try {
          instantiate(spec, '1');
        } catch (e) {
          if (!(e instanceof ValidationError)) throw e;
        }
      }
    } catch (e) {
      if (!(e instanceof ShoalError) || !/^unit\.[a-z-]+$/.test(e.code)) {
        failures++;
        t.fail(`case ${i}: unexpected ${e instanceof Error ? e.stack : String(e)}`, { input: JSON.stringify(String(asString)).slice(0, 400) });
      } else codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    }
    slowest = Math.max(slowest, performance.now() - c0);
  }
  const ms = Date.now() - t0;
  t.equal(failures, 0, 'every case ended in a UnitSpec or a coded ValidationError');
  t.ok(ms < BUDGET_MS, `whole run in ${ms} ms (budget ${BUDGET_MS} ms)`);
  t.ok(slowest < 1000, `slowest case ${slowest.toFixed(1)} ms`);
  // The generators must reach both outcomes and many error kinds, or the fuzz proves little.
  t.ok(accepted > CASES * 0.05, `accepted ${accepted} of ${CASES}`);
  t.ok(codes.size >= 12, `distinct error codes seen: ${[...codes.keys()].sort().join(' ')}`);
  for (const code of ['unit.binary', 'unit.line-too-long', 'unit.no-section', 'unit.missing-equals', 'unit.unknown-key', 'unit.bad-name']) {
    t.ok(codes.has(code), `reached ${code}`);
  }
});
