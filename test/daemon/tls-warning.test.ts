/** dropIpServerNameWarning: Node's DEP0123 (TLS server name set to an IP address) is dropped, every other warning kept. */
import t from 'tap';
import { dropIpServerNameWarning } from '../../src/tls-warning';

t.test('DEP0123 is dropped, other warnings are emitted; calling twice wraps once', async (t) => {
  const seen: string[] = [];
  const onWarning = (w: Error & { code?: string }) => seen.push(w.code ?? w.message);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  dropIpServerNameWarning();
  const once = process.emitWarning;
  dropIpServerNameWarning();
  t.equal(process.emitWarning, once, 'idempotent');
  process.emitWarning('Setting the TLS ServerName to an IP address is not permitted by RFC 6066.', 'DeprecationWarning', 'DEP0123');
  process.emitWarning('something else', { type: 'DeprecationWarning', code: 'DEP0999' });
  process.emitWarning('by options', { type: 'DeprecationWarning', code: 'DEP0123' });
  await new Promise((r) => setImmediate(r));
  t.same(seen, ['DEP0999']);
});
