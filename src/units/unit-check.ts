/**
 * checkUnit: every problem of a unit file, for `shoalctl verify` (parseUnit stops at the first), and
 * checkSubmit: the same rules, first problem only, for every path that stores a unit (shoalctl and the
 * API's submit, so that the server does not trust the client). Pure.
 */
import { ShoalError, ValidationError } from '../errors';
import { parseUnit, type ParseUnitOptions } from './unit';
import { parseUnitFile } from './unit-file';
import { sectionNameProblem, unitWarnings, type UnitWarning } from './systemd-sections';
import type { UnitFile, UnitSpec } from './types';
import { execProblem, parseExec } from './exec-check';
import { triggerProblem } from './trigger-check';

/** Keys serviceLoadProblem and triggerProblem read: a blanked line with one of them would make their verdict wrong. */
const LOAD_KEY = /^\s*(Exec\w*|SuccessAction|Type|RemainAfterExit|Restart|ExitType|BusName|PAMName|KillMode|Listen\w*|On\w*|Path\w*|DirectoryNotEmpty)\s*=/;

/** Sections they read: when one of them is misspelt, their verdict would only repeat that. */
const LOAD_SECTIONS = ['Service', 'Unit', 'Socket', 'Timer', 'Path'];

/** At most this many problems per file: a file that is not a unit file at all would list every line. */
export const MAX_PROBLEMS = 20;

/** What checkUnit found: the spec when the file parses (it may still have `problems` systemd refuses). */
export interface UnitCheck {
  spec?: UnitSpec;
  /** Errors: the unit is refused (by shoal, or by systemd when it loads it). */
  problems: ShoalError[];
  /** Near misses of common systemd keys and sections systemd ignores: shown, not refused (systemd only warns too). */
  warnings: UnitWarning[];
}

/**
 * What a parsed file has that systemd would ignore or refuse, beyond parseUnit's own checks: section
 * names that misspell a systemd section (`[Servce]`), then a command line systemd cannot read (exec-check.ts),
 * then, unless a misspelt section is one of LOAD_SECTIONS or `skipLoad`, the service systemd would refuse to
 * load (serviceLoadProblem) or the socket, timer or path unit with nothing to do (trigger-check.ts). In line order.
 */
function specProblems(spec: UnitSpec, opts: ParseUnitOptions, skipLoad: boolean): ValidationError[] {
  const out: ValidationError[] = [];
  for (const s of spec.file.sections) {
    const p = sectionNameProblem(s.name, s.line, opts.file);
    if (p) out.push(p);
  }
  const misspeltLoadSection = out.some((p) => LOAD_SECTIONS.includes(String(p.details?.suggestion)));
  // a command line systemd cannot read fails the load before service_verify looks (any unit type with Exec*=)
  const exec = spec.container ? undefined : execProblem(spec.file.sections);
  if (exec) {
    out.push(new ValidationError('unit.not-loadable', `systemd would refuse to load it: ${exec.why}`, { file: opts.file, line: exec.line, section: exec.section, key: exec.key }));
    return byLine(out) as ValidationError[];
  }
  const load = skipLoad || misspeltLoadSection ? undefined : serviceLoadProblem(spec, opts) ?? triggerProblem(spec, opts);
  if (load) out.push(load);
  return out;
}

/**
 * The unit as every submit path stores it: parseUnit, then what systemd would refuse or silently drop
 * (specProblems). Throws the first problem as a ValidationError located at file, line and key, as
 * `shoalctl verify` prints it; nothing else is refused (warnings are verify's and shoalctl's to show).
 */
export function checkSubmit(name: string, text: string, opts: ParseUnitOptions = {}): UnitSpec {
  const spec = parseUnit(name, text, opts);
  const [first] = specProblems(spec, opts, false);
  if (first) throw first;
  return spec;
}

/**
 * All of a unit file's problems, not only the first: after each located error the offending entry's
 * lines are blanked (line numbers kept) and the file is parsed again, up to MAX_PROBLEMS. When it
 * parses, it is also checked as checkSubmit checks it (specProblems), and its warnings are collected
 * (systemd-sections.ts). Throws only what parseUnit throws that is not a ShoalError.
 */
export function checkUnit(name: string, text: string, opts: ParseUnitOptions = {}): UnitCheck {
  const problems: ShoalError[] = [];
  const lines = text.split('\n');
  const original = [...lines];
  for (;;) {
    try {
      const spec = parseUnit(name, lines.join('\n'), opts);
      // what systemd would refuse too, unless a line it looks at was among those stepped over
      const blankedLoadKey = lines.some((l, i) => l !== original[i] && LOAD_KEY.test(original[i]));
      const more = specProblems(spec, opts, blankedLoadKey);
      const warnings = unitWarnings(spec.file);
      if (problems.length > 0) return { problems: byLine([...problems, ...more]), warnings };
      return { spec, problems: more, warnings };
    } catch (err) {
      if (!(err instanceof ShoalError)) throw err;
      problems.push(err);
      const line = err.location?.line;
      // an error with no line (the name, the whole file) cannot be stepped over
      if (line === undefined || line < 1 || line > lines.length || !lines[line - 1].trim() || problems.length >= MAX_PROBLEMS) {
        return { problems: byLine(problems), warnings: warningsOf(lines.join('\n')) };
      }
      blankEntry(lines, line - 1);
    }
  }
}

// warnings of what is left of a file that does not parse whole (none when even its syntax is broken)
function warningsOf(text: string): UnitWarning[] {
  let file: UnitFile;
  try { file = parseUnitFile(text); } catch { return []; }
  return unitWarnings(file);
}

// parsers run section by section ([X-Shoal] before [X-Fleet]): report in file order
function byLine(problems: ShoalError[]): ShoalError[] {
  return [...problems].sort((a, b) => (a.location?.line ?? 0) - (b.location?.line ?? 0));
}

// Blanks line i and the lines a trailing backslash continues it onto (systemd's line continuation).
function blankEntry(lines: string[], i: number): void {
  for (let j = i; j < lines.length; j++) {
    const cont = /\\\s*$/.test(lines[j]);
    lines[j] = '';
    if (!cont) break;
  }
}

const BOOL_TRUE = /^(1|yes|y|true|t|on)$/i;
const BOOL = /^(1|yes|y|true|t|on|0|no|n|false|f|off)$/i;
const TYPES = ['simple', 'exec', 'forking', 'oneshot', 'dbus', 'notify', 'idle'];
const RESTARTS = ['no', 'on-success', 'on-failure', 'on-abnormal', 'on-watchdog', 'on-abort', 'always'];
/** SuccessAction= values systemd 252 reads (halt and kexec came later: 252 ignores them; checked with systemd-analyze). */
const ACTIONS = ['none', 'reboot', 'reboot-force', 'reboot-immediate', 'poweroff', 'poweroff-force', 'poweroff-immediate', 'exit', 'exit-force'];

/**
 * How many commands systemd keeps of one ExecStart= value (parseExec): commands are separated by a lone unquoted
 * `;` word (`\\;` and `';'` are literal), and one with the `-` prefix that systemd cannot read is dropped with the rest.
 */
export function commandCount(value: string): number {
  return parseExec(value).commands;
}

/**
 * systemd refuses to load a service with nothing to run, or with settings that contradict each other
 * (src/core/service.c, service_verify of systemd 252; each rule checked against `systemd-analyze verify`
 * in test/units/unit-check.test.ts): no ExecStart=, ExecStop= nor [Unit] SuccessAction=; no ExecStart=
 * unless Type=oneshot (the type systemd implies when ExecStart= is missing and BusName= is not set; dbus when it is);
 * no ExecStart= without RemainAfterExit=yes or SuccessAction=; more than one ExecStart= command unless
 * Type=oneshot; Type=oneshot with Restart=always or on-success, or with ExitType=cgroup; Type=dbus
 * without BusName=; PAMName= with KillMode= other than control-group or mixed. A value systemd cannot
 * parse is ignored, as systemd does: `Type=bogus`, and an empty `Type=`, `Restart=`, `RemainAfterExit=`,
 * `SuccessAction=`, leave the value before them; an empty `ExecStart=`, `ExecStop=`, `PAMName=`, `KillMode=`
 * resets. An empty file is a masked unit (systemd's null_or_empty). shoal's container units get ExecStart= from [X-Container], so they pass.
 */
export function serviceLoadProblem(spec: UnitSpec, opts: ParseUnitOptions = {}): ValidationError | undefined {
  if (spec.text.length === 0) return new ValidationError('unit.not-loadable', 'the file is empty: systemd takes an empty unit file as masked, so it would never run', { file: opts.file });
  if (!spec.name.endsWith('.service') || spec.container) return undefined;
  // The last assignment systemd takes: one it cannot parse is ignored, and so is an empty one of an enum,
  // boolean or bus name ("Failed to parse ..., ignoring"); an empty ExecStop=, PAMName=, KillMode= resets.
  const last = (section: string, key: string, valid: (v: string) => boolean, emptyResets = false) => {
    let v: { value: string; line: number } | undefined;
    for (const s of spec.file.sections) {
      if (s.name !== section) continue;
      for (const e of s.entries) {
        if (e.key !== key) continue;
        if (e.value === '') { if (emptyResets) v = undefined; } else if (valid(e.value)) v = { value: e.value, line: e.line };
      }
    }
    return v;
  };
  const any = () => true;
  // ExecStart= commands since the last empty assignment, and where the last of them is
  let starts = 0;
  let startLine: number | undefined;
  for (const s of spec.file.sections) {
    if (s.name !== 'Service') continue;
    for (const e of s.entries) {
      if (e.key !== 'ExecStart') continue;
      if (e.value === '') { starts = 0; startLine = undefined; continue; }
      const n = parseExec(e.value).commands;
      if (n > 0) { starts += n; startLine = e.line; }
    }
  }
  const start = starts > 0;
  const stop = last('Service', 'ExecStop', any, true) !== undefined;
  const success = (last('Unit', 'SuccessAction', (v) => ACTIONS.includes(v))?.value ?? 'none') !== 'none';
  const busName = last('Service', 'BusName', any);
  const typeSet = last('Service', 'Type', (v) => TYPES.includes(v));
  // service_add_extras: BusName= implies dbus whether or not there is an ExecStart= (then refused: only oneshot may lack one)
  const type = typeSet?.value ?? (busName ? 'dbus' : !start ? 'oneshot' : 'simple');
  const remain = BOOL_TRUE.test(last('Service', 'RemainAfterExit', (v) => BOOL.test(v))?.value ?? '');
  const sectionLine = spec.file.sections.find((s) => s.name === 'Service')?.line ?? 1;
  const refuse = (why: string, key: string, line = sectionLine) => new ValidationError('unit.not-loadable', `systemd would refuse to load it: ${why}`, { file: opts.file, line, section: 'Service', key });
  if (!start && !stop && !success) return refuse('a service needs ExecStart= (or ExecStop=, or SuccessAction= in [Unit]), and it has none', 'ExecStart');
  if (!start && type !== 'oneshot') return refuse(`no ExecStart=, which only Type=oneshot services may leave out (Type=${type})`, 'ExecStart');
  if (!start && !remain && !success) return refuse('a service without ExecStart= needs RemainAfterExit=yes or SuccessAction= in [Unit]', 'ExecStart');
  if (starts > 1 && type !== 'oneshot') return refuse(`${starts} ExecStart= commands, and only Type=oneshot services may have more than one (Type=${type})`, 'ExecStart', startLine);
  const restart = last('Service', 'Restart', (v) => RESTARTS.includes(v));
  if (type === 'oneshot' && restart && ['always', 'on-success'].includes(restart.value)) return refuse(`Restart=${restart.value} is not allowed for Type=oneshot services (use on-failure, or another Type=)`, 'Restart', restart.line);
  const exitType = last('Service', 'ExitType', (v) => v === 'main' || v === 'cgroup');
  if (type === 'oneshot' && exitType?.value === 'cgroup') return refuse('ExitType=cgroup is not allowed for Type=oneshot services', 'ExitType', exitType.line);
  if (type === 'dbus' && !busName) return refuse('Type=dbus needs BusName=, the D-Bus name that says the service is up', 'BusName', typeSet?.line);
  const pam = last('Service', 'PAMName', any, true);
  const killMode = last('Service', 'KillMode', (v) => ['control-group', 'process', 'mixed', 'none'].includes(v), true);
  if (pam && killMode && !['control-group', 'mixed'].includes(killMode.value)) return refuse(`PAMName= needs KillMode=control-group or mixed (KillMode=${killMode.value})`, 'KillMode', killMode.line);
  return undefined;
}
