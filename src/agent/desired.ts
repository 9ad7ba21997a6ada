/**
 * Which units this machine should run, from the agent's view of etcd: the units the engine assigned
 * here, plus global units whose MachineMetadata matches this machine. Pure.
 */
import type { TargetState, UnitSpec } from '../units/types';
import { unitsConflict } from '../units/fleet-options';
import { matchUnitGlob } from '../units/unit-glob';
import { globalsOn } from '../constraints/globals';
import { metadataMismatch } from '../constraints/filters';

/** What the agent knows from etcd, as plain data. */
export interface AgentView {
  /** Parsed units by name (units that failed to parse are left out by the caller). */
  units: ReadonlyMap<string, UnitSpec>;
  desired: ReadonlyMap<string, TargetState>;
  /** Non-global units the engine placed on this machine. */
  assigned: ReadonlySet<string>;
  /** This machine's metadata: static merged with dynamic (dynamic wins). */
  metadata: Readonly<Record<string, string>>;
}

/** A unit this machine should have loaded or launched. */
export interface WantedUnit {
  spec: UnitSpec;
  target: 'loaded' | 'launched';
  /** 'assigned' by the engine, or 'global'. */
  source: 'assigned' | 'global';
}

/** A global unit left out, with why (for logs). */
export interface SkippedGlobal {
  unit: string;
  reason: string;
}

/**
 * The units this machine should have, sorted by name. Globals: those of the one model of where globals
 * run (src/constraints/globals.ts, shared with the engine) among units desired loaded/launched.
 */
export function wantedUnits(view: AgentView): { wanted: WantedUnit[]; skipped: SkippedGlobal[] } {
  const wanted: WantedUnit[] = [];
  const skipped: SkippedGlobal[] = [];
  for (const name of [...view.assigned].sort()) {
    const spec = view.units.get(name);
    const target = targetOf(view.desired.get(name));
    if (spec && target && !spec.options.global && !isTemplate(name)) wanted.push({ spec, target, source: 'assigned' });
  }
  const globals = [...view.units.values()].filter((s) => s.options.global && !isTemplate(s.name) && targetOf(view.desired.get(s.name)));
  const { runs, keptOff } = globalsOn(view.metadata, globals, wanted.map((w) => w.spec));
  for (const g of runs) wanted.push({ spec: view.units.get(g.name)!, target: targetOf(view.desired.get(g.name))!, source: 'global' });
  skipped.push(...keptOff);
  wanted.sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0));
  return { wanted, skipped };
}

/** AND across keys, OR within a key's values; an empty requirement matches every machine (the engine's rule). */
export function metadataMatches(required: Record<string, string[]>, metadata: Readonly<Record<string, string>>): boolean {
  return metadataMismatch(required, metadata) === null;
}

/** True when either unit's Conflicts= globs match the other's name (symmetric; src/units semantics). */
export function conflicts(a: UnitSpec, b: UnitSpec): boolean {
  return unitsConflict(a, b);
}

/** Glob match (src/units semantics); a bad pattern matches nothing (validation rejects it at submit). */
export function globMatch(glob: string, name: string): boolean {
  try {
    return matchUnitGlob(glob, name);
  } catch {
    return false;
  }
}

function targetOf(t: TargetState | undefined): 'loaded' | 'launched' | undefined {
  return t === 'loaded' || t === 'launched' ? t : undefined;
}

function isTemplate(name: string): boolean {
  return /@\.[a-z]+$/.test(name);
}
