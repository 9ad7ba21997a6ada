/**
 * Loads a bundled file (dist/shoalctl.js, dist/shoald.js) with V8's code cache, as Node 22's
 * module.enableCompileCache() would: compiling a bundle is the largest part of starting one (shoalctl verify:
 * ~35 ms of ~130; shoald: ~300 of ~570 ms on a busy machine; docs/performance.md).
 *
 * A cache file is `<32-byte SHA-256 of the bundle's source><V8 code cache>`. V8 checks its own version and
 * flags (a cache made under other node flags is rejected and the bundle compiles as usual) but tells sources
 * apart by length only, hence the hash: a cache of another build of the bundle is never used.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/** A loaded bundle: its exports, and how to save a code cache of what has been compiled so far. */
export interface LoadedBundle {
  exports: Record<string, unknown>;
  /** True when a matching cache was found and V8 took it. */
  cacheUsed: boolean;
  /** Writes the code cache (functions compiled until now included) to `cacheFile`, atomically. Throws on I/O errors. */
  saveCache(cacheFile: string): void;
}

/** Runs `file` (a CommonJS bundle) as a module, with the code cache in `cacheFile` when it matches. */
export function loadBundle(file: string, cacheFile: string | undefined): LoadedBundle {
  const source = readFileSync(file, 'utf8');
  const hash = createHash('sha256').update(source).digest();
  let cachedData: Buffer | undefined;
  if (cacheFile) {
    try {
      const c = readFileSync(cacheFile);
      if (c.length > 32 && c.subarray(0, 32).equals(hash)) cachedData = c.subarray(32);
    } catch { /* no cache yet */ }
  }
  const script = new Script(Module.wrap(source), { filename: file, cachedData });
  const mod = new Module(file, undefined);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file));
  const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  mod.loaded = true;
  return {
    exports: mod.exports as Record<string, unknown>,
    cacheUsed: cachedData !== undefined && !script.cachedDataRejected,
    saveCache(to: string) {
      const tmp = `${to}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([hash, script.createCachedData()]));
      renameSync(tmp, to);
    },
  };
}
