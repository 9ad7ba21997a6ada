import t from 'tap';
import { computeTasks, executeTasks, UnitFailures, type ActualUnit, type DesiredUnit, type Task } from '../../src/agent/reconcile';

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
  // the unlink is queued when the stop job ends: the pass after it reloads (linksPending)
  { name: 'not desired any more: unload only', desired: [], actual: [a('a.service', true)], want: ['unload a.service'] },
  // the new text is loaded in the pass after the old one's stop job ended (its start would cancel that stop)
  { name: 'changed file of a launched unit: unload only (no load or start in the same pass)',
    desired: [d('a.service', 'launched', 'h2')], actual: [a('a.service', true)],
    want: ['unload a.service'] },
  { name: 'changed file of a loaded unit: unload only', desired: [d('a.service', 'loaded', 'h2')], actual: [a('a.service', true)],
    want: ['unload a.service'] },
  { name: 'changed again while its unload runs (busy): nothing until the unload ended',
    desired: [d('a.service', 'launched', 'h3')], actual: [{ ...a('a.service', false, 'deactivating', 'h1'), busy: true }], want: [] },
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

t.test('a busy unit gets no task; pending links alone ask for a reload', async (t) => {
  const busy = { ...a('a.service', true), busy: true };
  t.same(kinds(computeTasks([], [busy])), []);
  t.same(kinds(computeTasks([d('a.service', 'launched', 'h2')], [busy])), []);
  t.same(kinds(computeTasks([], [], { linksPending: true })), ['reload']);
});

t.test('a failed task fails only its own unit: its later tasks are skipped, every other unit goes on', async (t) => {
  const tasks = computeTasks([d('a.service', 'launched'), d('b.service', 'launched'), d('c.service', 'launched')], []);
  const ran: string[] = [];
  const res = await executeTasks(tasks, async (task) => {
    ran.push(`${task.kind} ${task.unit}`.trim());
    if (task.kind === 'load' && task.unit === 'a.service') throw new Error('refused');
    if (task.kind === 'start' && task.unit === 'b.service') throw new Error('no such unit');
  });
  t.same(ran.sort(), ['load a.service', 'load b.service', 'load c.service', 'reload', 'start b.service', 'start c.service'].sort());
  t.same(res.failed.map((f) => `${f.task.kind} ${f.task.unit}`), ['load a.service', 'start b.service']);
  t.same(res.skipped.map((x) => `${x.kind} ${x.unit}`), ['start a.service']);
  t.equal(res.done, 4);
});

t.test('a reload failing as a whole fails the units it was for; starts of loaded units still run', async (t) => {
  const tasks = computeTasks([d('a.service', 'launched'), d('b.service', 'launched')], [a('b.service', false)]);
  const ran: string[] = [];
  const res = await executeTasks(tasks, async (task) => {
    ran.push(`${task.kind} ${task.unit}`.trim());
    if (task.kind === 'reload') throw new Error('reload failed');
  });
  t.same(ran, ['load a.service', 'reload', 'start b.service']);
  t.same(res.failed.map((f) => `${f.task.kind} ${f.task.unit}`), ['reload a.service']);
  t.match(String(res.failed[0].error), /reload failed/);
});

t.test('UnitFailures from a reload fail only the units it names', async (t) => {
  const tasks = computeTasks([d('a.service', 'launched'), d('b.service', 'launched')], []);
  const ran: string[] = [];
  const res = await executeTasks(tasks, async (task) => {
    ran.push(`${task.kind} ${task.unit}`.trim());
    if (task.kind === 'reload') throw new UnitFailures(new Map([['a.service', new Error('link refused')]]));
  });
  t.same(ran, ['load a.service', 'load b.service', 'reload', 'start b.service']);
  t.same(res.failed.map((f) => `${f.task.kind} ${f.task.unit}`), ['reload a.service']);
});

t.test('tasks of one kind run at once: a slow start does not hold back another', async (t) => {
  const tasks = computeTasks([d('a.service', 'launched'), d('b.service', 'launched')], [a('a.service', false), a('b.service', false)]);
  let release!: () => void;
  const slow = new Promise<void>((r) => { release = r; });
  const started: string[] = [];
  const run = executeTasks(tasks, async (task) => {
    started.push(task.unit);
    if (task.unit === 'a.service') await slow;
  });
  await new Promise((r) => setTimeout(r, 20));
  t.same(started, ['a.service', 'b.service'], 'b started while a is still starting');
  release();
  t.equal((await run).done, 2);
});

t.test('executor runs everything when nothing fails, and stops when aborted', async (t) => {
  const tasks = computeTasks([d('a.service', 'launched')], []);
  const all = await executeTasks(tasks, async () => {});
  t.same({ ...all, ms: undefined }, { done: 3, failed: [], skipped: [], ms: undefined });
  t.same(Object.keys(all.ms), ['load', 'reload', 'start'], 'wall time of each kind that ran');
  const ac = new AbortController();
  const res = await executeTasks(tasks, async () => { ac.abort(); }, { signal: ac.signal });
  t.equal(res.done, 1);
});
