/**
 * Status and journal of units on THIS machine, for the API of a shoald with the agent role:
 * `systemctl status` and `journalctl` run as child processes (the agent talks D-Bus; this is text for humans).
 */
import { spawn } from 'node:child_process';

/** Reads the status and the journal of local units. */
export interface LocalUnitInspector {
  /** `systemctl status --no-pager --full UNIT`: its text and exit code (3 = not active, 4 = unknown unit). */
  status(unit: string): Promise<{ text: string; exitCode: number }>;
  /** `journalctl -u UNIT -n LINES [-f]`: output chunks until it ends, or until `signal` aborts (with follow). */
  journal(unit: string, opts: { lines: number; follow: boolean; signal?: AbortSignal }): AsyncIterable<string>;
}

/** The real inspector: systemctl and journalctl from PATH (`env` overrides e.g. SYSTEMD_COLORS). */
export class SystemctlInspector implements LocalUnitInspector {
  /** @inheritdoc */
  status(unit: string): Promise<{ text: string; exitCode: number }> {
    return new Promise((resolve, reject) => {
      const p = spawn('systemctl', ['status', '--no-pager', '--full', '--', unit], { stdio: ['ignore', 'pipe', 'pipe'], env: plainEnv() });
      let out = '';
      p.stdout.on('data', (b) => { out += b.toString(); });
      p.stderr.on('data', (b) => { out += b.toString(); });
      p.on('error', reject);
      p.on('close', (code) => resolve({ text: out, exitCode: code ?? 1 }));
    });
  }

  /** @inheritdoc */
  async *journal(unit: string, opts: { lines: number; follow: boolean; signal?: AbortSignal }): AsyncIterable<string> {
    const args = ['-u', unit, '-n', String(Math.max(0, opts.lines)), '--no-pager', '-o', 'short-iso'];
    if (opts.follow) args.push('-f');
    const p = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'], env: plainEnv() });
    const kill = () => p.kill('SIGTERM');
    opts.signal?.addEventListener('abort', kill, { once: true });
    let err = '';
    p.stderr.on('data', (b) => { err += b.toString(); });
    const closed = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    try {
      for await (const chunk of p.stdout) yield (chunk as Buffer).toString();
      const code = await closed;
      if (code !== 0 && code !== null && !opts.signal?.aborted) throw new Error(`journalctl exited with ${code}: ${err.trim()}`);
    } finally {
      opts.signal?.removeEventListener('abort', kill);
      if (p.exitCode === null) kill();
    }
  }
}

function plainEnv(): NodeJS.ProcessEnv {
  return { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '', LANG: process.env.LANG ?? 'C.UTF-8' };
}
