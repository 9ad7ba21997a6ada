/**
 * Every Docker API call of the container driver has a deadline: against an engine that accepts the
 * connection and never answers (a hung dockerd), each call fails with a retryable "did not answer in
 * time" error instead of waiting forever. The hung engine is a unix socket that reads and never writes.
 */
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ContainerDriver } from '../../src/agent/container-driver';
import { UnavailableError } from '../../src/errors';

t.test('each driver call ends at its deadline on a docker engine that never answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-hung-docker-'));
  const sock = join(dir, 'docker.sock');
  const held: Socket[] = [];
  const srv = createServer((c) => { held.push(c); c.on('error', () => undefined); c.resume(); });
  await new Promise<void>((r) => srv.listen(sock, r));
  t.teardown(() => { for (const c of held) c.destroy(); srv.close(); rmSync(dir, { recursive: true, force: true }); });
  const d = new ContainerDriver({ socketPath: sock, callTimeoutMs: 400 });
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['ensureImage', () => d.ensureImage('busybox:latest')],
    ['run', () => d.run({ name: 'x', Image: 'busybox' } as never, new PassThrough(), new PassThrough())],
    ['stop', () => d.stop('abc', 0)],
    ['remove', () => d.remove('abc')],
    ['ensureNetwork', () => d.ensureNetwork('n', 'm')],
    ['removeNetworkIfUnused', () => d.removeNetworkIfUnused('n')],
    ['removeUnusedNetworks', () => d.removeUnusedNetworks('m')],
    ['list', () => d.list('m')],
  ];
  for (const [name, call] of calls) {
    const t0 = Date.now();
    const err = await call().then(() => null, (e: unknown) => e);
    const ms = Date.now() - t0;
    t.ok(err instanceof UnavailableError, `${name}: fails retryable (${String(err)})`);
    t.match(String((err as Error)?.message), /did not answer in time/, `${name}: says the engine did not answer`);
    t.ok(ms < 5000, `${name}: ended after ${ms} ms (deadline 400 ms)`);
  }
});
