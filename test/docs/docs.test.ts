/**
 * Doc-tests without a cluster (docs/doc-tests.md): every fenced block of README.md and docs/*.md is
 * classified; unit files pass `shoalctl verify`; config blocks load as shoald loads its config; every
 * command shown is in test/docs/commands.ts (run here, in the cluster doc-test, or listed with a reason),
 * and that list holds nothing the docs no longer show. Host commands run here.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { buildConfig } from '../../src/daemon/config';
import { runCli } from '../../src/cli/program';
import { commandsOf, docBlocks } from './doc-blocks';
import { COMMANDS } from './commands';

const ROOT = resolve(__dirname, '..', '..');
const blocks = docBlocks(ROOT);
const at = (b: { file: string; line: number }) => `${b.file}:${b.line}`;

t.test('every fenced block says how it is tested', async (t) => {
  t.ok(blocks.length >= 10, `found ${blocks.length} blocks`);
  for (const b of blocks) {
    t.notOk(b.markerError, `${at(b)}: ${b.markerError}`);
    t.ok(b.test, `${at(b)}: a \`\`\`${b.lang || '(no language)'} block needs a marker on the line above its fence: `
      + '<!-- doc-test: commands | unit NAME | config | output | skip REASON --> (docs/doc-tests.md)');
  }
});

t.test('unit files shown pass shoalctl verify', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-doc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const units = blocks.filter((b) => b.test?.kind === 'unit');
  t.ok(units.length >= 1);
  for (const b of units) {
    const name = (b.test as { name: string }).name;
    writeFileSync(join(dir, name), b.text);
    let out = '';
    const io = { stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { out += s; } }, env: {}, cwd: dir };
    t.equal(await runCli(['verify', name], io), 0, `${at(b)} (${name}): ${out.trim()}`);
  }
});

t.test('config blocks load as shoald loads its config', async (t) => {
  for (const b of blocks.filter((x) => x.test?.kind === 'config')) {
    // tokens in the environment win over token_file and read_token_file, so no file the doc names has to exist here
    t.doesNotThrow(() => buildConfig(parseToml(b.text) as Record<string, unknown>, { SHOAL_API_TOKEN: 'doc-test', SHOAL_API_READ_TOKEN: 'doc-test-read' }, at(b)), at(b));
  }
});

const commands = blocks.filter((b) => b.test?.kind === 'commands').flatMap(commandsOf);

t.test('every command shown is listed in test/docs/commands.ts, and every entry is shown', async (t) => {
  for (const c of commands) {
    t.ok(COMMANDS[c.command], `${at(c)}: \`${c.command}\` is not in test/docs/commands.ts: say how it runs (host, cluster) or why it cannot`);
  }
  const shown = new Set(commands.map((c) => c.command));
  for (const [cmd, how] of Object.entries(COMMANDS)) {
    t.ok(shown.has(cmd), `test/docs/commands.ts: \`${cmd}\` is in no doc any more: remove it`);
    if ('notRun' in how) t.ok(how.notRun.length >= 15, `\`${cmd}\`: a reason, not a placeholder`);
  }
});

t.test('host commands run and exit 0 (or the exit status the doc shows), printing what the doc says', async (t) => {
  const host = [...new Set(commands.map((c) => c.command))].filter((c) => { const h = COMMANDS[c]; return h && 'run' in h && h.run === 'host'; });
  t.ok(host.length >= 1);
  for (const cmd of host) {
    const how = COMMANDS[cmd] as { timeoutMs?: number; exit?: number; expect?: RegExp };
    const r = spawnSync('bash', ['-c', cmd], { cwd: ROOT, encoding: 'utf8', timeout: how.timeoutMs ?? 60_000 });
    t.equal(r.status, how.exit ?? 0, `${cmd}: ${(r.stderr || r.stdout || String(r.error ?? '')).slice(-500)}`);
    if (how.expect) t.match(`${r.stdout}${r.stderr}`, how.expect, `${cmd}: prints what the doc says`);
  }
});
