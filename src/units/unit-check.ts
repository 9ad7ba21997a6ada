/**
 * checkUnit: every problem of a unit file, for `shoalctl verify` (parseUnit stops at the first). Pure.
 */
import { ShoalError, ValidationError } from '../errors';
import { parseUnit, type ParseUnitOptions } from './unit';
import type { UnitSpec } from './types';

/** Keys serviceLoadProblem reads: a blanked line with one of them would make its verdict wrong. */
const LOAD_KEY = /^\s*(ExecStart|ExecStop|SuccessAction|Type|RemainAfterExit)\s*=/;

/** At most this many problems per file: a file that is not a unit file at all would list every line. */
export const MAX_PROBLEMS = 20;

/** What checkUnit found: the spec when the file parses (it may still have `problems` systemd refuses). */
export interface UnitCheck {
  spec?: UnitSpec;
  problems: ShoalError[];
}

/**
 * All of a unit file's problems, not only the first: after each located error the offending entry's
 * lines are blanked (line numbers kept) and the file is parsed again, up to MAX_PROBLEMS. When it
 * parses, a .service is also checked the way systemd checks it at load (serviceLoadProblem). Throws
 * only what parseUnit throws that is not a ShoalError.
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
      const load = blankedLoadKey ? undefined : serviceLoadProblem(spec, opts);
      if (problems.length > 0) return { problems: byLine(load ? [...problems, load] : problems) };
      return { spec, problems: load ? [load] : [] };
    } catch (err) {
      if (!(err instanceof ShoalError)) throw err;
      problems.push(err);
      const line = err.location?.line;
      // an error with no line (the name, the whole file) cannot be stepped over
      if (line === undefined || line < 1 || line > lines.length || !lines[line - 1].trim() || problems.length >= MAX_PROBLEMS) return { problems: byLine(problems) };
      blankEntry(lines, line - 1);
    }
  }
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

/**
 * systemd refuses to load a service with nothing to run (src/core/service.c, service_verify; checked
 * against systemd-analyze verify of systemd 252): no ExecStart=, ExecStop= nor [Unit] SuccessAction=;
 * no ExecStart= unless Type=oneshot (the type systemd implies when ExecStart= is missing); and no
 * ExecStart= without RemainAfterExit=yes or SuccessAction=. An empty file is a masked unit (systemd's
 * null_or_empty). shoal's container units get ExecStart= from [X-Container], so they pass.
 */
export function serviceLoadProblem(spec: UnitSpec, opts: ParseUnitOptions = {}): ValidationError | undefined {
  if (spec.text.length === 0) return new ValidationError('unit.not-loadable', 'the file is empty: systemd takes an empty unit file as masked, so it would never run', { file: opts.file });
  if (!spec.name.endsWith('.service') || spec.container) return undefined;
  const last = (section: string, key: string) => {
    let v: string | undefined;
    for (const s of spec.file.sections) if (s.name === section) for (const e of s.entries) if (e.key === key) v = e.value;
    return v || undefined; // an empty assignment resets
  };
  const start = last('Service', 'ExecStart') !== undefined;
  const stop = last('Service', 'ExecStop') !== undefined;
  const success = (last('Unit', 'SuccessAction') ?? 'none') !== 'none';
  const type = last('Service', 'Type') ?? (start ? 'simple' : 'oneshot');
  const remain = /^(1|yes|y|true|t|on)$/i.test(last('Service', 'RemainAfterExit') ?? '');
  const line = spec.file.sections.find((s) => s.name === 'Service')?.line ?? 1;
  const refuse = (why: string) => new ValidationError('unit.not-loadable', `systemd would refuse to load it: ${why}`, { file: opts.file, line, section: 'Service' });
  if (!start && !stop && !success) return refuse('a service needs ExecStart= (or ExecStop=, or SuccessAction= in [Unit]), and it has none');
  if (!start && type !== 'oneshot') return refuse(`no ExecStart=, which only Type=oneshot services may leave out (Type=${type})`);
  if (!start && !remain && !success) return refuse('a service without ExecStart= needs RemainAfterExit=yes or SuccessAction= in [Unit]');
  return undefined;
}
