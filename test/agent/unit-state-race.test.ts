/**
 * A state read must not overwrite a newer signal. dbus-next emits a signal as soon as it parses it, while the
 * code awaiting a method reply parsed just before resumes a turn later; and unitState is two calls in a row. So
 * PropertiesChanged(active) can be applied before the reply that still said `activating`, and the unit was then
 * reported activating until its next signal (for a long-running service: never). Pure logic: the ordering is
 * forced here with a scripted Systemd; on real systemd it happens only when the two messages meet in one read.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { UnitManager } from '../../src/agent/unit-manager';
import type { Systemd, SystemdUnitState, UnitChangeListener } from '../../src/agent/systemd';

const activating: SystemdUnitState = { name: 'web.service', loadState: 'loaded', activeState: 'activating', subState: 'start', mainPid: 0, fragmentPath: '' };

/** A Systemd whose reads answer `activating`, and during the first `signalsDuring` reads send PropertiesChanged(active). */
function scripted(signalsDuring: number): { systemd: Systemd; reads: () => number } {
  let listener: UnitChangeListener = () => {};
  let reads = 0;
  const during = (name: string) => {
    reads++;
    if (reads <= signalsDuring) listener(name, { activeState: 'active', subState: 'running', mainPid: 4242 });
    // after the first signal, systemd's reply to a new read says active too
    return reads > 1 && reads > signalsDuring ? { ...activating, activeState: 'active', subState: 'running', mainPid: 4242 } : { ...activating };
  };
  const systemd = {
    onUnitChange: (l: UnitChangeListener) => { listener = l; return () => {}; },
    unitState: async (name: string) => during(name),
    unitStates: async (names: string[]) => new Map(names.map((n) => {
      const s = during(n);
      return [n, { name: n, loadState: s.loadState, activeState: s.activeState, subState: s.subState }] as const;
    })),
  } as unknown as Systemd;
  return { systemd, reads: () => reads };
}

async function managed(systemd: Systemd, t: { teardown(fn: () => void): void }): Promise<UnitManager> {
  const root = mkdtempSync(join(tmpdir(), 'shoal-race-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const um = new UnitManager({ systemd, fsRoot: root });
  t.teardown(() => um.close());
  await um.load('web.service', '[Service]\nExecStart=/bin/sleep infinity\n');
  return um;
}

t.test('a full read that predates a signal applied first does not overwrite it', async (t) => {
  const { systemd, reads } = scripted(1);
  const um = await managed(systemd, t);
  await um.refresh('web.service');
  t.match(um.get('web.service')!.state, { activeState: 'active', subState: 'running', mainPid: 4242 });
  t.equal(reads(), 2, 'read again once: the second read came after the signal');
});

t.test('the batched read (ListUnitsByNames) does not overwrite a signal either', async (t) => {
  const { systemd } = scripted(1);
  const um = await managed(systemd, t);
  await um.refreshMany(['web.service']);
  t.match(um.get('web.service')!.state, { activeState: 'active', subState: 'running' });
});

t.test('signals during every read: at most 3 reads, then the newest read stands', async (t) => {
  const { systemd, reads } = scripted(100);
  const um = await managed(systemd, t);
  await um.refresh('web.service');
  t.equal(reads(), 3);
});
