import t from 'tap';
import { computeTasks, executeTasks, type ActualUnit, type DesiredUnit, type Task } from '../../src/agent/reconcile';

const d = (name: string, target: DesiredUnit['target'], fileHash = 'h1'): DesiredUnit => ({ name, target, fileHash });
const a = (name: string, started: boolean, activeState = started ? 'active' : 'inactive', fileHash = 'h1'): ActualUnit =>
  ({ name, started, activeState, fileHash });
const kinds = (tasks: Task[]) => tasks.map((x) => `${x.kind}${x.unit ? ' ' + x.unit : ''}`);

const cases: { name: string; desired: DesiredUnit[]; actual: ActualUnit[]; want: string[] }[] = [
  { name: 'nothing desired, nothing there', desired: [], actual: [], want: [] },
  { name: 'new launched unit: load, reload, start', desired: [d('a.service', 'launched')], actual: [],
    want: ['load a.service', 'reload', 'start a.service'] },
  { name: 'new loaded unit: load and reload only', desired: [d('a.service', 'loaded')], actual: [],
    want: ['load a.service', 'reload'] },
  { name: 'launched and running: nothing to do', desired: [d('a.service', 'launched')], actual: [a('a.service', true)], want: [] },
  { name: 'launched, loaded but not started: start without reload', desired: [d('a.service', 'launched')],
    actual: [a('a.service', false)], want: ['start a.service'] },
  { name: 'started unit that failed is left to systemd Restart=', desired: [d('a.service', 'launched')],
    actual: [a('a.service', true, 'failed')], want: [] },
  { name: 'adopted failed unit (not started by us) is started once', desired: [d('a.service', 'launched')],
    actual: [a('a.service', false, 'failed')], want: ['start a.service'] },
  { name: 'desired loaded but running: stop', desired: [d('a.service', 'loaded')], actual: [a('a.service', true)],
    want: ['stop a.service'] },
  { name: 'desired loaded, running though the agent did not start it (socket activation, WantedBy=): left to systemd',
    desired: [d('a.service', 'loaded')], actual: [a('a.service', false, 'activating')],
    want: [] },
  { name: 'desired loaded and inactive: nothing', desired: [d('a.service', 'loaded')], actual: [a('a.service', false)], want: [] },
  { name: 'not desired any more: unload, reload', desired: [], actual: [a('a.service', true)], want: ['unload a.service', 'reload'] },
  { name: 'changed file of a launched unit: unload, load, reload, start',
    desired: [d('a.service', 'launched', 'h2')], actual: [a('a.service', true)],
    want: ['unload a.service', 'load a.service', 'reload', 'start a.service'] },
  { name: 'changed file of a loaded unit: no start', desired: [d('a.service', 'loaded', 'h2')], actual: [a('a.service', true)],
    want: ['unload a.service', 'load a.service', 'reload'] },
  { name: 'mixed: fixed kind order, names sorted within a kind',
    desired: [d('c.service', 'launched'), d('b.service', 'loaded'), d('e.service', 'launched'), d('d.service', 'launched')],
    actual: [a('z.service', true), a('b.service', true), a('a.service', false), a('d.service', false)],
    want: ['unload a.service', 'unload z.service', 'load c.service', 'load e.service', 'reload', 'stop b.service',
      'start c.service', 'start d.service', 'start e.service'] },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(kinds(computeTasks(c.desired, c.actual)), c.want);
  });
}

t.test('every task carries a reason', async (t) => {
  const tasks = computeTasks([d('a.service', 'launched', 'h2'), d('b.service', 'loaded')], [a('a.service', true), a('x.service', true)]);
  t.ok(tasks.length > 0);
  for (const task of tasks) t.match(task.reason, /\w/, `${task.kind} ${task.unit}`);
});

t.test('executor runs in order and stops at the first failure', async (t) => {
  const tasks = computeTasks([d('a.service', 'launched'), d('b.service', 'launched')], []);
  const ran: string[] = [];
  const res = await executeTasks(tasks, async (task) => {
    ran.push(`${task.kind} ${task.unit}`.trim());
    if (task.kind === 'reload') throw new Error('reload failed');
  });
  t.same(ran, ['load a.service', 'load b.service', 'reload']);
  t.equal(res.done, 2);
  t.equal(res.failed?.task.kind, 'reload');
  t.match(String(res.failed?.error), /reload failed/);
});

t.test('executor runs everything when nothing fails, and stops when aborted', async (t) => {
  const tasks = computeTasks([d('a.service', 'launched')], []);
  t.same(await executeTasks(tasks, async () => {}), { done: 3 });
  const ac = new AbortController();
  const res = await executeTasks(tasks, async () => { ac.abort(); }, ac.signal);
  t.equal(res.done, 1);
});
