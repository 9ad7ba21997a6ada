/**
 * Sockets, timers and path units with nothing to do, which systemd refuses to load (systemd 252:
 * socket_verify "Unit has no Listen setting", timer_verify "Timer unit lacks value setting", path_verify
 * "Path unit lacks path setting"; each rule checked against `systemd-analyze verify` in
 * test/units/unit-check.test.ts). An empty assignment of any of a type's keys empties its whole list, as
 * systemd does (`ListenStream=` drops a ListenDatagram= before it too). A value systemd would ignore as
 * unparsable is counted here (`ListenStream=foo bar`, `OnCalendar=bogus`): only misses, never a refusal
 * systemd would not make; except a path unit's relative path, which systemd always ignores. Pure.
 */
import { ValidationError } from '../errors';
import type { ParseUnitOptions } from './unit';
import type { UnitSpec } from './types';

interface Rule {
  section: string;
  /** Keys that add to the list; an empty assignment of one empties it. */
  keys: readonly string[];
  /** Booleans that are enough on their own (a timer's OnClockChange=): an empty one is ignored. */
  flags?: readonly string[];
  /** Whether a value counts (the list keys). */
  valid(value: string): boolean;
  why: string;
}

const BOOL_TRUE = /^(1|yes|y|true|t|on)$/i;
const BOOL_FALSE = /^(0|no|n|false|f|off)$/i;

const RULES: Readonly<Record<string, Rule>> = {
  socket: {
    section: 'Socket',
    keys: ['ListenStream', 'ListenDatagram', 'ListenSequentialPacket', 'ListenFIFO', 'ListenSpecial', 'ListenNetlink', 'ListenMessageQueue', 'ListenUSBFunction'],
    valid: () => true,
    why: 'a socket needs a Listen setting (ListenStream=, ListenDatagram=, ListenFIFO=, ...), and it has none',
  },
  timer: {
    section: 'Timer',
    keys: ['OnCalendar', 'OnActiveSec', 'OnBootSec', 'OnStartupSec', 'OnUnitActiveSec', 'OnUnitInactiveSec'],
    flags: ['OnClockChange', 'OnTimezoneChange'],
    valid: () => true,
    why: 'a timer needs OnCalendar=, OnActiveSec=, OnBootSec=, OnStartupSec=, OnUnitActiveSec=, OnUnitInactiveSec=, OnClockChange= or OnTimezoneChange=, and it has none',
  },
  path: {
    section: 'Path',
    keys: ['PathExists', 'PathExistsGlob', 'PathChanged', 'PathModified', 'DirectoryNotEmpty'],
    // systemd ignores a path that is not absolute (after its specifiers, which are not resolved here)
    valid: (v) => v.startsWith('/') || v.includes('%'),
    why: 'a path unit needs an absolute PathExists=, PathExistsGlob=, PathChanged=, PathModified= or DirectoryNotEmpty=, and it has none',
  },
};

/** The refusal of a .socket, .timer or .path unit with nothing to listen on, trigger on or watch; undefined otherwise. */
export function triggerProblem(spec: UnitSpec, opts: ParseUnitOptions = {}): ValidationError | undefined {
  const type = spec.name.slice(spec.name.lastIndexOf('.') + 1);
  const rule = Object.hasOwn(RULES, type) ? RULES[type] : undefined;
  if (!rule) return undefined;
  let count = 0;
  const flags = new Map<string, boolean>();
  for (const s of spec.file.sections) {
    if (s.name !== rule.section) continue;
    for (const e of s.entries) {
      if (rule.keys.includes(e.key)) {
        if (e.value === '') count = 0;
        else if (rule.valid(e.value)) count++;
      } else if (rule.flags?.includes(e.key)) {
        if (BOOL_TRUE.test(e.value)) flags.set(e.key, true);
        else if (BOOL_FALSE.test(e.value)) flags.set(e.key, false);
      }
    }
  }
  if (count > 0 || [...flags.values()].some(Boolean)) return undefined;
  const line = spec.file.sections.find((s) => s.name === rule.section)?.line ?? 1;
  return new ValidationError('unit.not-loadable', `systemd would refuse to load it: ${rule.why}`, { file: opts.file, line, section: rule.section, key: rule.keys[0] });
}
