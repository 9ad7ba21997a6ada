/**
 * Which services the agent pins in systemd before it starts them (src/agent/unit-manager.ts runsToEnd): a
 * Type=oneshot without RemainAfterExit=yes, whose exit systemd would otherwise collect before the agent read it.
 */
import t from 'tap';
import { runsToEnd } from '../../src/agent/unit-manager';

t.test('a oneshot that goes back to inactive: pinned', async (t) => {
  t.ok(runsToEnd('job.service', '[Service]\nType=oneshot\nExecStart=/bin/true\n'));
  t.ok(runsToEnd('job.service', '[Service]\n  Type = oneshot \nExecStart=/bin/true\nRemainAfterExit=no\n'), 'spaces; RemainAfterExit=no');
});

t.test('not pinned: RemainAfterExit=yes (active, exited), other types, not a service', async (t) => {
  t.notOk(runsToEnd('job.service', '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n'));
  t.notOk(runsToEnd('job.service', '[Service]\nType=oneshot\nRemainAfterExit=True\nExecStart=/bin/true\n'), 'a boolean in any case');
  t.notOk(runsToEnd('web.service', '[Service]\nExecStart=/bin/sleep 100\n'), 'Type=simple (default)');
  t.notOk(runsToEnd('web.service', '[Service]\nType=exec\nExecStart=/bin/sleep 100\n'));
  t.notOk(runsToEnd('web.service', '[Service]\n# Type=oneshot\nExecStart=/bin/sleep 100\n'), 'a comment');
  t.notOk(runsToEnd('job.timer', '[Timer]\nOnCalendar=daily\n# Type=oneshot\n'));
});
