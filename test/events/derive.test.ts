/** The pure event deriver: which etcd changes mean which events. */
import t from 'tap';
import { KeyLayout } from '../../src/etcd/keys';
import { EventDeriver } from '../../src/events/derive';
import { draftProblem, matches } from '../../src/events/types';

const keys = new KeyLayout('/s/');
const unit = (name: string, hash: string) => JSON.stringify({ name, text: `[Service]\nExecStart=/bin/true # ${hash}\n`, hash });
const state = (activeState: string, extra: Record<string, unknown> = {}) => JSON.stringify({ loadState: 'loaded', activeState, subState: 'x', hash: 'h', since: '', ...extra });
const machine = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ id, address: '10.0.0.1', metadata: {}, capacity: {}, version: '1', startedAt: '', ...extra });

t.test('units, schedule, states, machines, leader', async (t) => {
  const d = new EventDeriver(keys);
  const kinds = (key: string, prev: string | null, next: string | null) => d.derive({ key, prev, next }, 1).map((e) => e.kind);
  t.same(kinds('/s/units/a.service', null, unit('a.service', 'h1')), ['unit.submitted']);
  t.same(kinds('/s/units/a.service', unit('a.service', 'h1'), unit('a.service', 'h2')), ['unit.replaced']);
  t.same(kinds('/s/units/a.service', unit('a.service', 'h1'), unit('a.service', 'h1')), [], 'same body: nothing');
  t.same(kinds('/s/schedule/a.service', null, 'm1'), ['unit.placed']);
  t.same(kinds('/s/schedule/a.service', 'm1', 'm2'), ['unit.moved']);
  t.same(kinds('/s/schedule/a.service', 'm2', null), ['unit.unscheduled']);
  t.same(kinds('/s/states/a.service/m1', null, state('activating')), [], 'activating is not started yet');
  t.same(kinds('/s/states/a.service/m1', state('activating'), state('active')), ['unit.started']);
  t.same(kinds('/s/states/a.service/m1', state('active'), state('active', { mainPid: 4 })), [], 'no transition: nothing');
  t.same(kinds('/s/states/a.service/m1', state('active'), state('inactive')), ['unit.stopped']);
  t.same(kinds('/s/states/a.service/m1', state('active'), state('failed')), ['unit.failed']);
  t.same(kinds('/s/states/a.service/m1', state('active', { health: 'healthy' }), state('active', { health: 'unhealthy', healthRestarts: 1 })), ['unit.restarted', 'unit.unhealthy']);
  t.same(kinds('/s/machines/m1', null, machine('m1')), ['machine.joined']);
  t.same(kinds('/s/machines/m1', machine('m1'), null), ['machine.lost']);
  t.same(kinds('/s/machines/m1', null, machine('m1')), ['machine.returned'], 'a lost machine that registers again returned');
  t.same(kinds('/s/machines/m1', machine('m1'), machine('m1', { leaving: true })), ['machine.leaving']);
  t.same(kinds('/s/machines/m1', machine('m1', { leaving: true }), null), ['machine.left']);
  t.same(kinds('/s/engine/leader', null, JSON.stringify({ id: 'e1' })), ['leader.changed']);
  t.same(kinds('/s/events/x1', null, '{}'), [], 'our own records derive nothing');
  t.same(kinds('/other/units/a.service', null, unit('a.service', 'h1')), [], 'outside the prefix');
});

t.test('a value shoal did not write is a key.bad event, not a throw', async (t) => {
  const d = new EventDeriver(keys);
  const evs = d.derive({ key: '/s/units/a.service', prev: null, next: '{not json' }, 5);
  t.equal(evs.length, 1);
  t.equal(evs[0].kind, 'key.bad');
  t.equal(evs[0].fields?.key, '/s/units/a.service');
});

t.test('deployments: started, step, failed, reverted', async (t) => {
  const d = new EventDeriver(keys);
  const dep = (status: string, step: number, id = 'd1') => JSON.stringify({ unit: 'web@.service', id, from: null, to: { hash: 'abc', text: '' }, target: 'abc', status, parallel: 1, canary: 0, autoRevert: true, healthyDeadlineMs: 1, step, steps: 3, inFlight: [], stepStartedAt: 0, healthy: 0, total: 3, maxInFlight: 1, startedAt: 0, updatedAt: 0, message: 'm' });
  const k = '/s/deployments/web@.service';
  const kinds = (prev: string | null, next: string) => d.derive({ key: k, prev, next }, 1).map((e) => e.kind);
  t.same(kinds(null, dep('running', 1)), ['deployment.started']);
  t.same(kinds(dep('running', 1), dep('running', 2)), ['deployment.step']);
  t.same(kinds(dep('running', 2), dep('failed', 2)), ['deployment.failed']);
  t.same(kinds(dep('reverting', 2), dep('reverted', 2)), ['deployment.reverted']);
  t.same(kinds(dep('reverted', 2), dep('running', 1, 'd2')), ['deployment.started'], 'a new id is a new deployment');
});

t.test('drafts and filters', async (t) => {
  t.equal(draftProblem({ kind: 'job.done' }), null);
  t.match(draftProblem({ kind: 'Done' }), /area\.verb/);
  t.match(draftProblem({ kind: 'job' }), /area\.verb/);
  const e = { id: 'x', revision: 1, time: 100, kind: 'unit.placed', unit: 'a.service', machine: 'abcdef' };
  t.ok(matches(e, { unit: 'a.service' }));
  t.notOk(matches(e, { unit: 'b.service' }));
  t.ok(matches(e, { machine: 'abc' }), 'a machine prefix');
  t.notOk(matches(e, { since: 101 }));
  t.ok(matches(e, { kinds: ['unit.'] }));
  t.notOk(matches(e, { kinds: ['machine.'] }));
});

t.test('a state re-created for the same run (a restarted agent, a lease handed over) is no news; a new run is', async (t) => {
  // a newcomer's finding: after restart-shoald every unit of that node had a fresh unit.started
  const d = new EventDeriver(keys);
  const kinds = (key: string, prev: string | null, next: string | null) => d.derive({ key, prev, next }, 1).map((e) => e.kind);
  const k = '/s/states/a.service/m1';
  t.same(kinds(k, null, state('active', { mainPid: 61 })), ['unit.started']);
  t.same(kinds(k, state('active', { mainPid: 61 }), null), [], 'deleted with the old lease');
  t.same(kinds(k, null, state('active', { mainPid: 61, since: 'later' })), [], 'the same process reported again: nothing');
  t.same(kinds(k, state('active', { mainPid: 61 }), null), []);
  t.same(kinds(k, null, state('active', { mainPid: 75 })), ['unit.started'], 'another process: a new run');
  t.same(kinds(k, state('active', { mainPid: 75 }), null), []);
  t.same(kinds(k, null, state('failed', { mainPid: 75 })), ['unit.failed'], 'the same pid but now failed: said');
  t.same(kinds('/s/states/b.service/m1', null, state('active')), ['unit.started'], 'no pid known: started');
});
