/**
 * The page's event feed. In shoald it is the cluster events stream (src/events, `feedEntry`); a hub given no
 * event store (an embedding without the recorder, tests of the hub) derives a plainer feed from its own
 * registry watch, with the stream's kind names: machine joined/lost, unit submitted/destroyed, desired state
 * set, placed/moved/unscheduled, active state changed per machine, deployment status. Pure.
 */
import type { ClusterEvent } from '../events/types';
import type { RegistryEvent } from '../etcd/registry';

/** One line of the feed. */
export interface FeedEntry {
  /** ms since the epoch when shoald saw it. */
  time: number;
  kind: string;
  /** The unit or machine it is about ('' for neither). */
  subject: string;
  text: string;
}

/** One event of the cluster events stream as a feed line. */
export function feedEntry(e: ClusterEvent): FeedEntry {
  const subject = e.unit ?? e.machine ?? '';
  const where = e.unit && e.machine && !(e.message ?? '').includes(e.machine) ? ` on ${e.machine}` : '';
  return { time: e.time, kind: e.kind, subject, text: `${subject ? `${subject}${where}: ` : ''}${e.message ?? e.kind}` };
}

/** What the feed remembers to tell a change from a repeat. */
export class FeedState {
  private machines = new Set<string>();
  private schedule = new Map<string, string>();
  /** `unit\0machine` → active state. */
  private active = new Map<string, string>();
  private deployments = new Map<string, string>();

  /** Starts from a full read (no entries for what already is). */
  seed(machines: Iterable<string>, schedule: Iterable<[string, string]>, states: Iterable<[string, string, string]>, deployments: Iterable<[string, string]>): void {
    this.machines = new Set(machines);
    this.schedule = new Map(schedule);
    this.active = new Map([...states].map(([u, m, a]) => [`${u}\0${m}`, a]));
    this.deployments = new Map(deployments);
  }

  /** The entries for a batch of watch events (in order), updating what it remembers. */
  entries(events: readonly RegistryEvent[], time = Date.now()): FeedEntry[] {
    const out: FeedEntry[] = [];
    const add = (kind: string, subject: string, text: string) => out.push({ time, kind, subject, text });
    for (const e of events) {
      switch (e.type) {
        case 'machine':
          if (e.value === null) {
            if (this.machines.delete(e.machine)) add('machine.lost', e.machine, `machine ${e.machine} lost (lease gone)`);
          } else if (!this.machines.has(e.machine)) {
            this.machines.add(e.machine);
            add('machine.joined', e.machine, `machine ${e.machine} joined${e.value.address ? ` (${e.value.address})` : ''}`);
          } else if (e.value.leaving) add('machine.leaving', e.machine, `machine ${e.machine} is leaving`);
          break;
        case 'unit':
          add(e.value ? 'unit.submitted' : 'unit.destroyed', e.unit, e.value ? `${e.unit} submitted (${e.value.hash.slice(0, 7)})` : `${e.unit} destroyed`);
          break;
        case 'desired':
          if (e.value) add('unit.desired', e.unit, `${e.unit} desired ${e.value}`);
          break;
        case 'schedule': {
          const from = this.schedule.get(e.unit);
          if (e.value === null) {
            this.schedule.delete(e.unit);
            if (from) add('unit.unscheduled', e.unit, `${e.unit} unscheduled from ${from}`);
          } else if (from !== e.value) {
            this.schedule.set(e.unit, e.value);
            add(from ? 'unit.moved' : 'unit.placed', e.unit, from ? `${e.unit} moved ${from} → ${e.value}` : `${e.unit} placed on ${e.value}`);
          }
          break;
        }
        case 'state': {
          const key = `${e.unit}\0${e.machine}`;
          const was = this.active.get(key);
          if (e.value === null) {
            this.active.delete(key);
            if (was !== undefined) add('unit.gone', e.unit, `${e.unit} no longer reported on ${e.machine}`);
          } else if (was !== e.value.activeState) {
            this.active.set(key, e.value.activeState);
            const kind = e.value.activeState === 'failed' ? 'unit.failed' : e.value.activeState === 'active' ? 'unit.started' : 'unit.state';
            add(kind, e.unit, `${e.unit} ${e.value.activeState} (${e.value.subState}) on ${e.machine}`);
          }
          break;
        }
        case 'deployment': {
          const was = this.deployments.get(e.unit);
          const now = e.value ? `${e.value.status} ${e.value.step}/${e.value.steps}` : undefined;
          if (now !== was) {
            if (now === undefined) this.deployments.delete(e.unit); else this.deployments.set(e.unit, now);
            if (e.value) add('deployment.step', e.unit, `deployment of ${e.unit}: ${e.value.status}, step ${e.value.step}/${e.value.steps}: ${e.value.message}`);
          }
          break;
        }
        case 'group':
          if (e.value !== null) add('group.scaled', e.unit, `${e.unit} scaled to ${e.value}`);
          break;
        default:
          break;
      }
    }
    return out;
  }
}
