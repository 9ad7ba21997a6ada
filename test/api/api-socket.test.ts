/**
 * prepareSocket: shoalds starting at once on one machine (the engines test starts three) each find the old API
 * socket and remove it; the ones that come second found it gone and failed to start (ENOENT on unlink).
 */
import t from 'tap';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareSocket } from '../../src/api/server';
import { silentLogger } from '../../src/log';

t.test('three starts at once over one live socket: none fails, the socket is gone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'shoal.sock');
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => server.close());
  const results = await Promise.allSettled([1, 2, 3].map(() => prepareSocket(path, silentLogger)));
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled'], results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')).join('; '));
  t.notOk(existsSync(path), 'the old socket file is removed');
});
