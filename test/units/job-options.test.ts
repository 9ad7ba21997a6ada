// [X-Shoal] batch keys: what they read, and bad input refused with file, line and key (nothing else changes).
import t from 'tap';
import { parseUnit } from '../../src/units/unit';
import { ValidationError } from '../../src/errors';

const unit = (x: string, svc = 'ExecStart=/bin/true') => `[Unit]\nDescription=d\n\n[Service]\n${svc}\n\n[X-Shoal]\n${x}\n`;

t.test('batch options are read', async (t) => {
  t.same(parseUnit('a.service', unit('Kind=batch')).job, { backoffLimit: 3, concurrency: 'allow' });
  t.equal(parseUnit('a.service', unit('Kind=service')).job, undefined);
  t.equal(parseUnit('a.service', unit('CPU=1')).job, undefined);
  const c = parseUnit('s@.service', unit('Kind=batch\nCompletions=6\nParallelism=2\nBackoffLimit=0')).job!;
  t.same([c.completions, c.parallelism, c.backoffLimit], [6, 2, 0]);
  t.equal(parseUnit('s@3.service', unit('Kind=batch\nCompletions=6')).job!.parallelism, 1, 'an instance carries its template\'s keys');
  const s = parseUnit('r@.service', unit('Kind=batch\nSchedule=*:*:0/5\nConcurrencyPolicy=Forbid')).job!;
  t.same([s.schedule?.expr, s.concurrency], ['*:*:0/5', 'forbid']);
  t.same(parseUnit('a.service', unit('Kind=batch', 'ExecStart=/bin/true\nRestart=no')).job?.backoffLimit, 3);
});

t.test('bad input names file, line and key', async (t) => {
  const cases: [string, string, string, RegExp, number, string][] = [
    ['a.service', unit('Kind=batch', 'ExecStart=/bin/true\nRestart=always'), 'a.service', /Restart=always in a batch unit/, 6, 'Restart'],
    ['a.service', unit('Kind=batch', 'ExecStart=/bin/true\nRestart=on-failure'), 'a.service', /Restart=on-failure/, 6, 'Restart'],
    ['a.service', unit('Kind=batch', 'ExecStart=/bin/true\nRemainAfterExit=yes'), 'a.service', /RemainAfterExit=yes/, 6, 'RemainAfterExit'],
    ['s@.service', unit('Kind=batch\nCompletions=2\nParallelism=3'), 's@.service', /Parallelism=3 is more than Completions=2/, 10, 'Parallelism'],
    ['s@.service', unit('Kind=batch\nParallelism=3'), 's@.service', /needs Completions=/, 9, 'Parallelism'],
    ['a.service', unit('Kind=batch\nCompletions=2'), 'a.service', /only for templates/, 9, 'Completions'],
    ['r@.service', unit('Kind=batch\nSchedule=*:*:61'), 'r@.service', /Schedule="\*:\*:61" is not a calendar event \(61 is outside 0\.\.59/, 9, 'Schedule'],
    ['r@.service', unit('Kind=batch\nSchedule=Fri..Mon'), 'r@.service', /runs backwards/, 9, 'Schedule'],
    ['r.service', unit('Kind=batch\nSchedule=daily'), 'r.service', /only for templates/, 9, 'Schedule'],
    ['r@.service', unit('Kind=batch\nConcurrencyPolicy=forbid'), 'r@.service', /only for units with Schedule=/, 9, 'ConcurrencyPolicy'],
    ['r@.service', unit('Kind=batch\nSchedule=daily\nConcurrencyPolicy=sometimes'), 'r@.service', /expected allow, forbid or replace/, 10, 'ConcurrencyPolicy'],
    ['a.service', unit('BackoffLimit=2'), 'a.service', /only for batch units: add Kind=batch/, 8, 'BackoffLimit'],
    ['a.service', unit('Kind=cron'), 'a.service', /expected batch/, 8, 'Kind'],
    ['a.socket', unit('Kind=batch'), 'a.socket', /only for services/, 8, 'Kind'],
    ['s@.service', unit('Kind=batch\nInstances=3'), 's@.service', /Instances= keeps services running/, 9, 'Instances'],
    ['a.service', `${unit('Kind=batch')}\n[X-Fleet]\nGlobal=true\n`, 'a.service', /Global=true with Kind=batch/, 11, 'Global'],
    ['a.service', unit('Kind=batch\nBackoffLimit=-1'), 'a.service', /whole number from 0 to 100/, 9, 'BackoffLimit'],
  ];
  for (const [name, text, file, msg, line, key] of cases) {
    try {
      parseUnit(name, text, { file });
      t.fail(`${name} ${key}: accepted`);
    } catch (err) {
      t.type(err, ValidationError);
      const e = err as ValidationError;
      t.match(e.message, msg, `${key}: ${e.message}`);
      t.match(e.message, new RegExp(`^${file.replace(/[.@]/g, '\\$&')}:${line}:`), `${key} located at ${file}:${line}`);
      t.equal((e.location as { key?: string })?.key, key);
    }
  }
});
