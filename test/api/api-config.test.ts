/** `[api]` config + SHOAL_API_* env → ApiConfig (pure, plus one token file). */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiConfig } from '../../src/api/api-config';
import { ValidationError } from '../../src/errors';

const dir = mkdtempSync(join(tmpdir(), 'shoal-apicfg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'token'), 'tok-from-file\n');

t.test('defaults: the unix socket only, port 7411', async (t) => {
  t.same(apiConfig(undefined), { listen: ['unix:///run/shoal/shoal.sock'], port: 7411 });
});

t.test('TOML keys, and env overriding them', async (t) => {
  const sec = { listen: ['/run/x.sock', '0.0.0.0:7000'], port: 7000, token_file: join(dir, 'token'), tls_cert: '/c', tls_key: '/k', tls_ca: '/ca' };
  t.same(apiConfig(sec), { listen: ['/run/x.sock', '0.0.0.0:7000'], port: 7000, token: 'tok-from-file', tls: { certFile: '/c', keyFile: '/k', caFile: '/ca' } });
  const env = { SHOAL_API_LISTEN: '127.0.0.1:1, 10.0.0.1:2', SHOAL_API_PORT: '2', SHOAL_API_TOKEN: 'envtok' };
  t.same(apiConfig(sec, env), { listen: ['127.0.0.1:1', '10.0.0.1:2'], port: 2, token: 'envtok', tls: { certFile: '/c', keyFile: '/k', caFile: '/ca' } });
});

t.test('bad config names the file and key', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ listne: [] }, /shoald\.toml: \[api\] listne: unknown key/],
    [{ listen: '0.0.0.0:1' }, /\[api\] listen: must be a list/],
    [{ port: 70000 }, /\[api\] port: 70000 is not a TCP port/],
    [{ tls_cert: '/c' }, /\[api\] tls_key: tls_cert and tls_key go together/],
    [{ tls_ca: '/ca' }, /\[api\] tls_ca: tls_ca needs tls_cert/],
    [{ token_file: join(dir, 'nope') }, /\[api\] token_file: cannot read/],
    [{ token: 5 }, /\[api\] token: must be a string/],
    [{ token: 'a', read_token: 'a' }, /\[api\] read_token: the read-only token must differ from the operator token/],
    [{ insecure_plaintext: 'yes' }, /\[api\] insecure_plaintext: "yes": expected true or false/],
    [{ read_token_file: join(dir, 'nope') }, /\[api\] read_token_file: cannot read/],
  ];
  for (const [sec, msg] of cases) {
    const err = (() => { try { apiConfig(sec, {}, 'shoald.toml'); return null; } catch (e) { return e; } })();
    t.ok(err instanceof ValidationError);
    t.match((err as Error).message, msg);
  }
});

t.test('read-only token and insecure_plaintext, from the file and from the environment', async (t) => {
  writeFileSync(join(dir, 'read'), 'ro-from-file\n');
  t.match(apiConfig({ token: 'op', read_token_file: join(dir, 'read'), insecure_plaintext: true }), { token: 'op', readToken: 'ro-from-file', insecurePlaintext: true });
  t.match(apiConfig({ read_token: 'x' }, { SHOAL_API_READ_TOKEN: 'ro-env', SHOAL_API_INSECURE_PLAINTEXT: 'true' }), { readToken: 'ro-env', insecurePlaintext: true });
  t.notOk(apiConfig({ insecure_plaintext: false }).insecurePlaintext);
});
