/**
 * The code cache of a bundle (src/bundle-cache.ts): a cache saved after a run is taken by V8 at the next
 * load; a cache of another source is never used, even one of the same length (V8 itself tells sources
 * apart by length only); a cache made under other V8 flags is rejected by V8 and the bundle still runs.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadBundle } from '../../src/bundle-cache';

const ROOT = resolve(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'shoal-bundle-cache-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A CommonJS "bundle" of `n` functions, returning `answer`; `require` and `module` work as in a module. */
function bundle(answer: number): string {
  const fns = Array.from({ length: 200 }, (_, i) => `function f${i}(x) { return x + ${i}; }`).join('\n');
  return `'use strict';\n${fns}\nconst { join } = require('node:path');\nmodule.exports = { answer: () => f0(${answer}), here: join(__dirname, 'x'), file: __filename };\n`;
}

t.test('a saved cache is used at the next load; the bundle runs as a module either way', async (t) => {
  const file = join(dir, 'a.js');
  const cache = join(dir, 'a.cache');
  writeFileSync(file, bundle(41));
  const first = loadBundle(file, cache);
  t.equal(first.cacheUsed, false, 'no cache yet');
  t.equal((first.exports.answer as () => number)(), 41);
  t.equal(first.exports.here, join(dir, 'x'), '__dirname is the bundle\'s');
  t.equal(first.exports.file, file, '__filename is the bundle');
  first.saveCache(cache);
  const second = loadBundle(file, cache);
  t.equal(second.cacheUsed, true, 'the cache is taken');
  t.equal((second.exports.answer as () => number)(), 41);
});

t.test('a cache of another source of the same length is not used', async (t) => {
  const file = join(dir, 'b.js');
  const cache = join(dir, 'b.cache');
  writeFileSync(file, bundle(11));
  loadBundle(file, cache).saveCache(cache);
  writeFileSync(file, bundle(12)); // same length, other code
  const b = loadBundle(file, cache);
  t.equal(b.cacheUsed, false, 'the hash differs: compiled from source');
  t.equal((b.exports.answer as () => number)(), 12, 'the new code runs');
});

t.test('a cache made under other node flags: V8 rejects it and the bundle still runs', async (t) => {
  const file = join(dir, 'c.js');
  const cache = join(dir, 'c.cache');
  writeFileSync(file, bundle(7));
  loadBundle(file, cache).saveCache(cache);
  const loader = join(ROOT, 'src', 'bundle-cache.ts');
  const tsLoader = join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs');
  const code = `const b = require(${JSON.stringify(loader)}).loadBundle(${JSON.stringify(file)}, ${JSON.stringify(cache)}); console.log(JSON.stringify({ used: b.cacheUsed, answer: b.exports.answer() }));`;
  const r = spawnSync(process.execPath, [`--import=file://${tsLoader}`, '--max-semi-space-size=1', '--optimize-for-size', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.same(JSON.parse(r.stdout.trim().split('\n').pop()!), { used: false, answer: 7 });
});

t.test('shoald\'s compilers switch (src/daemon/tiering.ts): a cache saved while leading is taken at the next start', async (t) => {
  const file = join(dir, 'd.js');
  writeFileSync(file, bundle(5));
  const tsLoader = join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs');
  const tiering = JSON.stringify(join(ROOT, 'src', 'daemon', 'tiering.ts'));
  const loader = JSON.stringify(join(ROOT, 'src', 'bundle-cache.ts'));
  /** A process starting as bin/shoald does; `save`: saves the cache with the leader's compilers on, through withStartFlags or not. */
  const run = (cache: string, save?: 'withStartFlags' | 'as is') => {
    const code = `const tr = require(${tiering}); tr.manageTiering({}); const b = require(${loader}).loadBundle(${JSON.stringify(file)}, ${JSON.stringify(cache)});
      tr.optimizing(true); const save = () => b.saveCache(${JSON.stringify(cache)});
      ${save === 'withStartFlags' ? 'tr.withStartFlags(save);' : save === 'as is' ? 'save();' : ''}
      console.log(JSON.stringify({ used: b.cacheUsed, answer: b.exports.answer() }));`;
    const r = spawnSync(process.execPath, [`--import=file://${tsLoader}`, '-e', code], { encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { used: boolean; answer: number };
  };
  const good = join(dir, 'd.cache');
  t.same(run(good, 'withStartFlags'), { used: false, answer: 5 }, 'no cache yet');
  t.same(run(good), { used: true, answer: 5 }, 'saved under the start-up flags: taken');
  const bad = join(dir, 'd2.cache');
  run(bad, 'as is');
  t.same(run(bad), { used: false, answer: 5 }, 'saved under the leader\'s flags: V8 rejects it (why withStartFlags)');
});
