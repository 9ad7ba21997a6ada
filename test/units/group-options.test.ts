/** [X-Shoal] group, health and update options: values, defaults, and bad input located at file, line and key. */
import t from 'tap';
import { parseUnit, parseDuration, HEALTH_DEFAULTS, UPDATE_DEFAULTS } from '../../src/units';
import { ValidationError } from '../../src/errors';

const svc = (shoal: string) => `[Service]\nExecStart=/bin/sleep 100\n[X-Shoal]\n${shoal}\n`;

t.test('durations are systemd time spans', async (t) => {
  t.equal(parseDuration('10'), 10_000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('1min 30s'), 90_000);
  t.equal(parseDuration('5min'), 300_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.throws(() => parseDuration('5 parsecs'));
  t.throws(() => parseDuration('2d'), /more than a day/);
});

t.test('group, health and update options with defaults', async (t) => {
  const s = parseUnit('web@.service', svc('Instances=3\nHealthCheckHTTP=http://127.0.0.1:8080/\nHealthInterval=2s\nMinHealthyTime=1s\nUpdateParallel=2\nAutoRevert=yes\nCanary=1\nHealthyDeadline=30s'));
  t.equal(s.group?.instances, 3);
  t.same(s.group?.health, { ...HEALTH_DEFAULTS, http: 'http://127.0.0.1:8080/', intervalMs: 2000, minHealthyMs: 1000 });
  t.same(s.group?.update, { parallel: 2, healthyDeadlineMs: 30_000, autoRevert: true, canary: 1 });
  t.ok(s.group?.hasCheck);
  const plain = parseUnit('one.service', '[Service]\nExecStart=/bin/true\n');
  t.same(plain.group?.update, UPDATE_DEFAULTS);
  t.equal(plain.group?.instances, undefined);
  t.notOk(plain.group?.hasCheck);
});

t.test('bad input names file, line and key', async (t) => {
  const cases: [string, string, string, RegExp][] = [
    ['web.service', 'Instances=3', 'Instances', /only for templates/],
    ['web@.service', 'Instances=-1', 'Instances', /whole number/],
    ['web@.service', 'Instances=2\nCanary=3', 'Canary', /more than Instances/],
    ['web@.service', 'HealthInterval=soon', 'HealthInterval', /time span/],
    ['web@.service', 'HealthInterval=10ms', 'HealthInterval', /at least 100ms/],
    ['web@.service', 'HealthCheckHTTP=https://x/', 'HealthCheckHTTP', /only http/],
    ['web@.service', 'HealthCheckTCP=nohost', 'HealthCheckTCP', /host:port/],
    ['web@.service', 'AutoRevert=maybe', 'AutoRevert', /boolean/],
    ['web@.service', 'UpdateParallel=0', 'UpdateParallel', /whole number from 1/],
    ['web@.service', 'Healthcheck=true', 'Healthcheck', /did you mean HealthCheck/],
  ];
  for (const [name, body, key, msg] of cases) {
    const err = t.throws(() => parseUnit(name, svc(body), { file: `units/${name}` })) as unknown as ValidationError;
    t.ok(err instanceof ValidationError, `${body}: ValidationError`);
    t.match(err.message, msg, body);
    t.match(err.location, { file: `units/${name}`, key, section: 'X-Shoal' }, `${body}: located`);
    t.ok((err.location?.line ?? 0) >= 4, `${body}: line ${err.location?.line}`);
  }
});
