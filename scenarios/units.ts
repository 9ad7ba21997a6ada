/**
 * The units every scenario starts from: a mix that exercises each placement rule the failure
 * scenarios must preserve. Pure data; names share the `scn-` prefix so a reset can find them.
 */
import type { TargetState } from '../src/units/types';

/** Every unit the scenarios create is named `scn-*`. */
export const UNIT_PREFIX = 'scn-';

/** One unit of a scenario, with what the checks expect of it. */
export interface ScenarioUnit {
  name: string;
  text: string;
  desired: TargetState;
  global: boolean;
  /** Name of the unit it must share a machine with (X-Fleet MachineOf). */
  machineOf?: string;
  /** Glob (only `*` wildcards) of units it may not share a machine with (X-Fleet Conflicts). */
  conflicts?: string;
  /** For a global unit with MachineMetadata=node=…: the only nodes it runs on (else every node). */
  onlyNodes?: string[];
}

/** The text of a long-running native unit with the given [X-Fleet] lines. */
export function unitText(name: string, fleet: string[] = []): string {
  const lines = [
    '[Unit]', `Description=shoal scenario unit ${name}`, '',
    '[Service]', 'ExecStart=/usr/bin/sleep infinity', '',
  ];
  if (fleet.length) lines.push('[X-Fleet]', ...fleet, '');
  return lines.join('\n');
}

function unit(name: string, opts: Partial<ScenarioUnit> & { fleet?: string[] } = {}): ScenarioUnit {
  const { fleet, ...rest } = opts;
  return { name, text: unitText(name, fleet), desired: 'launched', global: false, ...rest };
}

/**
 * The base set: 4 plain units, a global unit, a MachineOf pair, 2 conflicting units (they still
 * fit on 2 machines after one is lost) and one unit that is only loaded.
 */
export function baseUnits(): ScenarioUnit[] {
  const conf = `${UNIT_PREFIX}conf-*.service`;
  return [
    ...[1, 2, 3, 4].map((i) => unit(`${UNIT_PREFIX}web-${i}.service`)),
    unit(`${UNIT_PREFIX}global.service`, { global: true, fleet: ['Global=true'] }),
    unit(`${UNIT_PREFIX}pair-a.service`),
    unit(`${UNIT_PREFIX}pair-b.service`, { machineOf: `${UNIT_PREFIX}pair-a.service`, fleet: [`MachineOf=${UNIT_PREFIX}pair-a.service`] }),
    unit(`${UNIT_PREFIX}conf-1.service`, { conflicts: conf, fleet: [`Conflicts=${conf}`] }),
    unit(`${UNIT_PREFIX}conf-2.service`, { conflicts: conf, fleet: [`Conflicts=${conf}`] }),
    unit(`${UNIT_PREFIX}idle.service`, { desired: 'loaded' }),
  ];
}

/** `count` mutually conflicting units (more than there are machines makes some unplaceable). */
export function overflowUnits(count: number): ScenarioUnit[] {
  const glob = `${UNIT_PREFIX}over-*.service`;
  return Array.from({ length: count }, (_, i) =>
    unit(`${UNIT_PREFIX}over-${i + 1}.service`, { conflicts: glob, fleet: [`Conflicts=${glob}`] }));
}

/** Two units that replace each other (fleet's functional test TestScheduleCircularReplace): exactly one may run. */
export function replacesCycleUnits(): ScenarioUnit[] {
  const a = `${UNIT_PREFIX}rep-a.service`;
  const b = `${UNIT_PREFIX}rep-b.service`;
  return [unit(a, { fleet: [`Replaces=${b}`] }), unit(b, { fleet: [`Replaces=${a}`] })];
}

/** True when `name` matches `glob`, where `*` is the only wildcard. */
export function matchesGlob(glob: string, name: string): boolean {
  const re = new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}
