/**
 * Cluster doc-tests (docs/doc-tests.md): the commands of README.md and docs/*.md marked `cluster` in
 * test/docs/commands.ts run, in the order the docs show them, against a 3-node testbed running shoald
 * with the API on node1 and the example units started by scripts/demo-units (what scripts/demo does).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { up } from '../helpers/testbed';
import { commandsOf, docBlocks } from './doc-blocks';
import { COMMANDS, type CommandTest } from './commands';

const ROOT = resolve(__dirname, '..', '..');
const TOKEN = 'doc-test-token';
if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('shoalctl is not built: run npm run build first');

interface Ran { code: number | null; out: string; err: string; running: boolean }

/** Runs `cmd` with bash in the repository root; `followMs`: stops it after that long, saying whether it still ran. */
function sh(cmd: string, env: NodeJS.ProcessEnv, timeoutMs: number, followMs?: number): Promise<Ran> {
  return new Promise((res) => {
    const p = spawn('bash', ['-c', cmd], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    let running = false;
    p.stdout.on('data', (b) => { out += b.toString(); });
    p.stderr.on('data', (b) => { err += b.toString(); });
    const timer = setTimeout(() => {
      running = p.exitCode === null && p.signalCode === null;
      try { process.kill(-p.pid!, followMs ? 'SIGINT' : 'SIGKILL'); } catch { /* gone */ }
    }, followMs ?? timeoutMs);
    p.on('close', (code) => { clearTimeout(timer); res({ code, out, err, running }); });
  });
}

t.test('README and docs commands against a running cluster', async (t) => {
  const tb = await up({
    nodes: 3, daemon: true, t,
    env: {
      SHOAL_ENV: `SHOAL_API_LISTEN=unix:///run/shoal/shoal.sock,0.0.0.0:7411 SHOAL_API_TOKEN=${TOKEN} SHOAL_API_INSECURE_PLAINTEXT=true SHOAL_API_PORT=7411 SHOAL_HTTP_LISTEN=0.0.0.0:7412`,
      SHOAL_METADATA_node3: 'role=edge',
    },
  });
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', SHOAL_ENDPOINT: `${tb.ip('node1')}:7411`, SHOAL_TOKEN: TOKEN,
    SHOAL_TESTBED_OWNER: String(process.pid),
  };
  const setup = await sh('scripts/demo-units', env, 180_000);
  t.equal(setup.code, 0, `scripts/demo-units: ${setup.err.slice(-800)}`);

  const seen = new Set<string>();
  for (const c of docBlocks(ROOT).filter((b) => b.test?.kind === 'commands').flatMap(commandsOf)) {
    const how: CommandTest | undefined = COMMANDS[c.command];
    if (!how || !('run' in how) || how.run !== 'cluster') continue;
    seen.add(c.command);
    const cmd = how.as ?? c.command;
    let r = await sh(cmd, env, 60_000, how.followMs);
    const until = Date.now() + (how.retryMs ?? 0);
    while (!how.followMs && Date.now() < until && (r.code !== 0 || (how.expect && !how.expect.test(r.out)))) {
      await new Promise((res) => setTimeout(res, 1000));
      r = await sh(cmd, env, 60_000);
    }
    if (how.followMs) {
      t.ok(r.running, `${c.file}:${c.line} \`${c.command}\` still follows after ${how.followMs} ms`);
      t.ok(r.out.trim().length > 0, `${c.file}:${c.line} \`${c.command}\` printed: ${r.err.slice(-300)}`);
    } else {
      t.equal(r.code, 0, `${c.file}:${c.line} \`${c.command}\`: ${(r.err || r.out).slice(-500)}`);
      if (how.expect) t.match(r.out, how.expect, `${c.file}:${c.line} \`${c.command}\` shows what the doc says`);
    }
  }
  t.ok(seen.size >= 5, `${seen.size} cluster commands ran`);
});
