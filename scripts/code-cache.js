#!/usr/bin/env node
// Makes dist/shoalctl.js.cache, the V8 code cache bin/shoalctl compiles its bundle with (src/bundle-cache.ts):
// runs `shoalctl verify units-examples/*` once with SHOAL_WRITE_CODE_CACHE=1, so the functions it compiles (the
// program, the unit parser; `version` and `help` use a part of them) are in it. Run by `npm run build` last.
'use strict';
const { execFileSync } = require('node:child_process');
const { readdirSync, rmSync } = require('node:fs');
const { join, resolve } = require('node:path');

const ROOT = resolve(__dirname, '..');
rmSync(join(ROOT, 'dist', 'shoalctl.js.cache'), { force: true });
const examples = readdirSync(join(ROOT, 'units-examples')).map((f) => join('units-examples', f));
execFileSync(process.execPath, [join(ROOT, 'bin', 'shoalctl'), 'verify', ...examples], {
  cwd: ROOT, env: { ...process.env, SHOAL_WRITE_CODE_CACHE: '1' }, stdio: ['ignore', 'ignore', 'inherit'],
});
