/** The scenarios' pure checks: what counts as settled, lost, doubled; systemctl output parsing. */
import t from 'tap';
import { evaluate, mainPids, pidChanges, scheduleChanges, type NodeView, type Observation, type SystemdUnitState } from '../../scenarios/checks';
import { parseSystemctlShow } from '../../scenarios/cluster';
import { baseUnits, matchesGlob, UNIT_PREFIX } from '../../scenarios/units';

const on = (pid: number): SystemdUnitState => ({ load: 'loaded', active: 'active', sub: 'running', mainPid: pid });
const loaded: SystemdUnitState = { load: 'loaded', active: 'inactive', sub: 'dead', mainPid: 0 };
const P = UNIT_PREFIX;

/** A settled observation of the base units on 3 nodes (machine ids m1..m3). */
function settled(): Observation {
  const place: Record<string, string[]> = {
    node1: [`${P}web-1.service`, `${P}web-4.service`, `${P}pair-a.service`, `${P}pair-b.service`],
    node2: [`${P}web-2.service`, `${P}conf-1.service`],
    node3: [`${P}web-3.service`, `${P}conf-2.service`],
  };
  let pid = 100;
  const nodes: NodeView[] = Object.entries(place).map(([node, units], i) => ({
    node, machineId: `m${i + 1}`,
    units: new Map([...units, `${P}global.service`].map((u) => [u, on(pid++)] as [string, SystemdUnitState])),
  }));
  nodes[2].units.set(`${P}idle.service`, loaded);
  const schedule = new Map<string, string>();
  const reported = new Map<string, Map<string, string>>();
  for (const n of nodes) {
    for (const [u, s] of n.units) {
      if (u !== `${P}global.service`) schedule.set(u, n.machineId);
      if (s.active === 'active') reported.set(u, new Map([...(reported.get(u) ?? []), [n.machineId, 'active']]));
    }
  }
  return { nodes, schedule, machines: new Set(['m1', 'm2', 'm3']), reported };
}

t.test('a settled cluster is settled', async (t) => {
  const v = evaluate(baseUnits(), settled(), P);
  t.same(v.problems, []);
  t.ok(v.settled);
});

t.test('failures are found and counted', async (t) => {
  const cases: { name: string; mutate: (o: Observation) => void; lost?: number; doubled?: number; match: RegExp }[] = [
    { name: 'a unit running nowhere is lost', mutate: (o) => o.nodes[1].units.delete(`${P}web-2.service`), lost: 1, match: /web-2.*not launched/ },
    { name: 'a unit on two nodes is doubled', mutate: (o) => o.nodes[2].units.set(`${P}web-1.service`, on(9)), doubled: 1, match: /web-1.*2 nodes/ },
    { name: 'a loaded unit loaded twice is doubled', mutate: (o) => o.nodes[0].units.set(`${P}idle.service`, loaded), doubled: 1, match: /idle/ },
    { name: 'global missing on a node', mutate: (o) => o.nodes[1].units.delete(`${P}global.service`), match: /global.*node2/ },
    { name: 'schedule disagrees with systemd', mutate: (o) => o.schedule.set(`${P}web-3.service`, 'm1'), match: /web-3.*scheduled on m1/ },
    { name: 'agent report disagrees with systemd', mutate: (o) => o.reported.get(`${P}web-3.service`)!.set('m3', 'failed'), match: /reported failed/ },
    { name: 'an observed node not registered', mutate: (o) => o.machines.delete('m2'), match: /node2.*not registered/ },
    {
      name: 'MachineOf pair split', match: /MachineOf/,
      mutate: (o) => { o.nodes[0].units.delete(`${P}pair-b.service`); o.nodes[1].units.set(`${P}pair-b.service`, on(7)); o.schedule.set(`${P}pair-b.service`, 'm2'); o.reported.set(`${P}pair-b.service`, new Map([['m2', 'active']])); },
    },
    {
      name: 'conflicting units together', match: /conflicts with/,
      mutate: (o) => { o.nodes[2].units.delete(`${P}conf-2.service`); o.nodes[1].units.set(`${P}conf-2.service`, on(8)); o.schedule.set(`${P}conf-2.service`, 'm2'); o.reported.set(`${P}conf-2.service`, new Map([['m2', 'active']])); },
    },
    { name: 'an unknown scenario unit running', mutate: (o) => o.nodes[0].units.set(`${P}stray.service`, on(5)), match: /stray.*unexpected/ },
  ];
  for (const c of cases) {
    const o = settled();
    c.mutate(o);
    const v = evaluate(baseUnits(), o, P);
    t.notOk(v.settled, `${c.name}: not settled`);
    t.match(v.problems.join('\n'), c.match, `${c.name}: problem named`);
    t.equal(v.lost.length, c.lost ?? 0, `${c.name}: lost`);
    t.equal(v.doubled.length, c.doubled ?? 0, `${c.name}: doubled`);
  }
});

t.test('pid and schedule changes', async (t) => {
  const a = settled();
  const b = settled();
  t.same(pidChanges(mainPids(a), mainPids(b)), []);
  b.nodes[0].units.set(`${P}web-1.service`, on(4242));
  t.match(pidChanges(mainPids(a), mainPids(b)), [/web-1.*@node1: MainPID \d+ -> 4242/]);
  b.schedule.delete(`${P}web-2.service`);
  t.match(scheduleChanges(a.schedule, b.schedule), [/web-2.*unscheduled/]);
});

t.test('systemctl show parsing and globs', async (t) => {
  const out = 'Id=a.service\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=12\n\n'
    + 'Id=b.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n';
  const m = parseSystemctlShow(out);
  t.same(m.get('a.service'), { load: 'loaded', active: 'active', sub: 'running', mainPid: 12 });
  t.equal(m.get('b.service')?.load, 'not-found');
  const d = parseSystemctlShow('Id=c.service\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=3\nDescription=shoal chaos plain unit c v2\n');
  t.equal(d.get('c.service')?.description, 'shoal chaos plain unit c v2', 'Description kept (the chaos checker reads the version in it)');
  t.ok(matchesGlob('scn-conf-*.service', 'scn-conf-1.service'));
  t.notOk(matchesGlob('scn-conf-*.service', 'scn-confx1.service.bak'));
});
