/** Log formats: journal under systemd (detected through JOURNAL_STREAM), logfmt or JSON elsewhere, the same fields in each. */
import t from 'tap';
import { fstatSync } from 'node:fs';
import { createLogger, formatLine, logFormat, stderrIsJournal } from '../../src/log';

const now = new Date('2026-11-30T12:00:00.000Z');

t.test('the same fields in each format', async (t) => {
  const fields = { component: 'engine', unit: 'web.service', n: 3, skip: undefined };
  t.equal(formatLine('journal', 'warn', 'unit moved', fields, now), '<4>unit moved component=engine unit=web.service n=3\n', 'journal: priority prefix, no timestamp');
  t.equal(formatLine('journal', 'error', 'two\nlines', {}, now), '<3>two\\nlines\n', 'one record, one line');
  t.equal(formatLine('journal', 'debug', 'd', {}, now), '<7>d\n');
  t.equal(formatLine('journal', 'info', 'i', {}, now), '<6>i\n');
  t.equal(formatLine('logfmt', 'info', 'unit moved', fields, now), 'time=2026-11-30T12:00:00.000Z level=info msg="unit moved" component=engine unit=web.service n=3\n');
  t.same(JSON.parse(formatLine('json', 'info', 'unit moved', fields, now)), { time: now.toISOString(), level: 'info', msg: 'unit moved', component: 'engine', unit: 'web.service', n: 3 });
});

t.test('format from SHOAL_LOG_FORMAT, else journal only when JOURNAL_STREAM is our stderr', async (t) => {
  t.equal(logFormat({ SHOAL_LOG_FORMAT: 'json' }), 'json');
  t.equal(logFormat({}), 'logfmt');
  const st = fstatSync(2, { bigint: true });
  const mine = `${st.dev}:${st.ino}`;
  t.ok(stderrIsJournal({ JOURNAL_STREAM: mine }), 'the device:inode of stderr');
  t.notOk(stderrIsJournal({ JOURNAL_STREAM: '1:2' }), 'inherited but redirected: not the journal');
  t.equal(logFormat({ JOURNAL_STREAM: mine }), 'journal');
  t.equal(logFormat({ JOURNAL_STREAM: mine, SHOAL_LOG_FORMAT: 'logfmt' }), 'logfmt', 'the setting wins');
});

t.test('children keep the format and add fields; levels filter', async (t) => {
  let out = '';
  const log = createLogger({ format: 'journal', level: 'info', stream: { write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WritableStream, fields: { component: 'shoald' } });
  log.child({ component: 'agent', machine: 'm1' }).info('started', { unit: 'a.service' });
  log.debug('hidden');
  t.equal(out, '<6>started component=agent machine=m1 unit=a.service\n');
});
// journald's side (PRIORITY from the prefix, no timestamp of ours) is checked on shoald in testbed nodes: test/cluster/observe.test.ts
