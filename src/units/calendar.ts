/**
 * systemd calendar events (`OnCalendar=`, systemd.time(7)) for `[X-Shoal] Schedule=`: a parser that accepts
 * what `systemd-analyze calendar` (systemd 252) accepts, and the next elapse after a time. Pure. Evaluated in
 * UTC: an expression naming another time zone is refused, and so are fractional seconds and `~` with a
 * range or repetition (shoal's timers fire on whole seconds; the rest is rare and its semantics subtle).
 * Checked against `systemd-analyze calendar --iterations=N` on generated expressions (test/units/calendar.test.ts).
 */

/** One item of a component: `start`, `start..stop`, `start/repeat`, `start..stop/repeat`. */
export interface CalendarItem {
  start: number;
  stop?: number;
  repeat?: number;
}

/** A component: undefined = `*` (any value), else the union of its items. */
export type CalendarComponent = CalendarItem[] | undefined;

/** A parsed calendar event. Weekdays are 0 (Sunday) … 6, as Date#getUTCDay. */
export interface CalendarSpec {
  weekdays?: Set<number>;
  year: CalendarComponent;
  month: CalendarComponent;
  day: CalendarComponent;
  /** `~`: `day` counts from the month's end (1 = the last day). */
  endOfMonth: boolean;
  hour: CalendarComponent;
  minute: CalendarComponent;
  second: CalendarComponent;
}

const SHORTHANDS: Record<string, string> = {
  minutely: '*-*-* *:*:00', hourly: '*-*-* *:00:00', daily: '*-*-* 00:00:00', monthly: '*-*-01 00:00:00',
  weekly: 'Mon *-*-* 00:00:00', yearly: '*-01-01 00:00:00', annually: '*-01-01 00:00:00',
  quarterly: '*-01,04,07,10-01 00:00:00', semiannually: '*-01,07-01 00:00:00',
};

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** Thrown for an expression systemd (or shoal) refuses; the message says what is wrong. */
export class CalendarError extends Error {}

function fail(expr: string, why: string): never {
  throw new CalendarError(`${JSON.stringify(expr)} is not a calendar event (${why}; e.g. daily, Mon..Fri 09:00, *:*:0/5)`);
}

/** Parses a calendar event; throws CalendarError saying what is wrong. */
export function parseCalendar(expr: string): CalendarSpec {
  let words = expr.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) fail(expr, 'empty');
  if (words.at(-1) === 'UTC') words = words.slice(0, -1);
  else if (words.length > 1 && /^[A-Za-z]+(?:\/[A-Za-z_+-]+)+$|^[A-Z]{3,5}$/.test(words.at(-1)!) && !isWeekdays(words.at(-1)!)) {
    fail(expr, `time zone ${words.at(-1)}: shoal evaluates schedules in UTC only`);
  }
  if (words.length === 1 && SHORTHANDS[words[0].toLowerCase()]) words = SHORTHANDS[words[0].toLowerCase()].split(' ');
  if (words.length === 0) fail(expr, 'only a time zone');
  const spec: CalendarSpec = { year: undefined, month: undefined, day: undefined, endOfMonth: false, hour: [{ start: 0 }], minute: [{ start: 0 }], second: [{ start: 0 }] };
  let i = 0;
  if (/^[A-Za-z]/.test(words[i])) spec.weekdays = parseWeekdays(expr, words[i++]);
  if (i < words.length && !words[i].includes(':')) parseDate(expr, words[i++], spec);
  if (i < words.length) parseTime(expr, words[i++], spec);
  if (i < words.length) fail(expr, `unexpected ${JSON.stringify(words[i])}`);
  if (i === 0) fail(expr, 'nothing to match');
  return spec;
}

function isWeekdays(w: string): boolean {
  return w.split(/,|\.\.|-/).every((d) => weekday(d) !== undefined);
}

function weekday(w: string): number | undefined {
  const l = w.toLowerCase();
  const i = DAYS.indexOf(l);
  return i >= 0 ? i : DAY_NAMES.indexOf(l) >= 0 ? DAY_NAMES.indexOf(l) : undefined;
}

function parseWeekdays(expr: string, word: string): Set<number> {
  const out = new Set<number>();
  for (const item of word.split(',')) {
    const m = /^([A-Za-z]+)(?:(?:\.\.|-)([A-Za-z]+))?$/.exec(item);
    const a = m ? weekday(m[1]) : undefined;
    const b = m?.[2] !== undefined ? weekday(m[2]) : a;
    if (a === undefined || b === undefined) fail(expr, `bad weekday ${JSON.stringify(item)}`);
    // systemd counts Monday as the first day: Mon..Sun is a range, Sun..Mon is not
    const [ma, mb] = [(a + 6) % 7, (b + 6) % 7];
    if (ma > mb) fail(expr, `weekday range ${item} runs backwards (weeks start on Monday)`);
    for (let d = ma; d <= mb; d++) out.add((d + 1) % 7);
  }
  return out;
}

function parseDate(expr: string, word: string, spec: CalendarSpec): void {
  let parts: string[];
  const tilde = word.indexOf('~');
  if (tilde >= 0) {
    const head = word.slice(0, tilde).split('-');
    parts = [...head, word.slice(tilde + 1)];
    spec.endOfMonth = true;
    if (head.length < 1 || head.length > 2) fail(expr, `bad date ${JSON.stringify(word)}`);
  } else {
    parts = word.split('-');
  }
  if (parts.length === 2) parts.unshift('*');
  if (parts.length !== 3) fail(expr, `bad date ${JSON.stringify(word)}`);
  spec.year = component(expr, parts[0], 1970, 2199, true);
  spec.month = component(expr, parts[1], 1, 12);
  spec.day = component(expr, parts[2], 1, spec.endOfMonth ? 28 : 31);
  if (spec.endOfMonth && spec.day?.some((it) => it.stop !== undefined || it.repeat !== undefined)) {
    fail(expr, '~ with a range or repetition is not supported by shoal');
  }
}

function parseTime(expr: string, word: string, spec: CalendarSpec): void {
  const parts = word.split(':');
  if (parts.length < 2 || parts.length > 3) fail(expr, `bad time ${JSON.stringify(word)}`);
  if (parts.some((p) => p.replace(/\.\./g, ',').includes('.'))) fail(expr, 'fractional seconds are not supported by shoal');
  spec.hour = component(expr, parts[0], 0, 23);
  spec.minute = component(expr, parts[1], 0, 59);
  spec.second = parts.length === 3 ? component(expr, parts[2], 0, 59, false, true) : [{ start: 0 }];
}

function num(expr: string, s: string, min: number, max: number, year: boolean): number {
  if (!/^\d{1,4}$/.test(s)) fail(expr, `${JSON.stringify(s)} is not a number`);
  let n = Number(s);
  if (year && s.length <= 2) n += n < 70 ? 2000 : 1900; // systemd reads a two-digit year so
  if (n < min || n > max) fail(expr, `${s} is outside ${min}..${max}`);
  return n;
}

function component(expr: string, word: string, min: number, max: number, year = false, seconds = false): CalendarComponent {
  if (word === '*') return undefined;
  if (word === '') fail(expr, 'empty field');
  const items: CalendarItem[] = [];
  for (const item of word.split(',')) {
    const m = /^([^./]+)(?:\.\.([^./]+))?(?:\/([^./]+))?$/.exec(item);
    if (!m) fail(expr, `bad value ${JSON.stringify(item)}`);
    const it: CalendarItem = { start: num(expr, m[1], min, max, year) };
    if (m[2] !== undefined) {
      it.stop = num(expr, m[2], min, max, year);
      if (it.stop < it.start) fail(expr, `range ${item} runs backwards`);
      if (seconds && it.stop === it.start && m[3] === undefined) fail(expr, `seconds range ${item} is empty`); // systemd 252 refuses 5..5 in seconds only
    }
    if (m[3] !== undefined) {
      if (!/^\d{1,4}$/.test(m[3]) || Number(m[3]) === 0) fail(expr, `bad repetition ${JSON.stringify(m[3])}`);
      it.repeat = Number(m[3]);
      // systemd refuses an open repetition whose second value is already out of range
      if (it.stop === undefined && it.start + it.repeat > max) fail(expr, `repetition ${item} never repeats within ${min}..${max}`);
    }
    items.push(it);
  }
  return items;
}

/** Smallest value ≥ v the component matches (Infinity when none). */
function atLeast(c: CalendarComponent, v: number): number {
  if (c === undefined) return v;
  let best = Infinity;
  for (const it of c) {
    let k: number;
    if (it.start >= v) k = it.start;
    else if (it.repeat) k = it.start + it.repeat * Math.ceil((v - it.start) / it.repeat);
    else if (it.stop !== undefined && v <= it.stop) k = v;
    else continue;
    if (it.stop !== undefined && k > it.stop) continue;
    best = Math.min(best, k);
  }
  return best;
}

function daysIn(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate(); // m is 1-based: day 0 of the next month
}

function dayMatches(spec: CalendarSpec, y: number, m: number, d: number): boolean {
  if (spec.weekdays && !spec.weekdays.has(new Date(Date.UTC(y, m - 1, d)).getUTCDay())) return false;
  const v = spec.endOfMonth ? daysIn(y, m) - d + 1 : d;
  return atLeast(spec.day, v) === v;
}

/**
 * The first time strictly after `afterMs` (ms since the epoch) the event elapses, in ms (whole seconds),
 * or null when it never does again (systemd: "never"; years end at 2199). Known difference: where a
 * repetition of the day or the seconds runs past its field's end, systemd 252 at times carries the overflow
 * into the next month or minute and skips events (`*-*-02/13` after Dec 28 gives Jan 15, skipping Jan 2);
 * shoal gives the next matching time (Jan 2). Repetitions starting at the field's first value (`*:*:0/5`) agree.
 */
export function nextElapse(spec: CalendarSpec, afterMs: number): number | null {
  let t = Math.floor(afterMs / 1000) * 1000 + 1000;
  for (let guard = 0; guard < 200_000; guard++) {
    const d = new Date(t);
    const [y, mo, da, h, mi, s] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
    if (y > 2199) return null;
    const y2 = atLeast(spec.year, y);
    if (y2 === Infinity || y2 > 2199) return null;
    if (y2 !== y) { t = Date.UTC(y2, 0, 1); continue; }
    const mo2 = atLeast(spec.month, mo);
    if (mo2 > 12) { t = Date.UTC(y + 1, 0, 1); continue; }
    if (mo2 !== mo) { t = Date.UTC(y, mo2 - 1, 1); continue; }
    if (!dayMatches(spec, y, mo, da)) { t = Date.UTC(y, mo - 1, da + 1); continue; }
    const h2 = atLeast(spec.hour, h);
    if (h2 > 23) { t = Date.UTC(y, mo - 1, da + 1); continue; }
    if (h2 !== h) { t = Date.UTC(y, mo - 1, da, h2); continue; }
    const mi2 = atLeast(spec.minute, mi);
    if (mi2 > 59) { t = Date.UTC(y, mo - 1, da, h + 1); continue; }
    if (mi2 !== mi) { t = Date.UTC(y, mo - 1, da, h, mi2); continue; }
    const s2 = atLeast(spec.second, s);
    if (s2 > 59) { t = Date.UTC(y, mo - 1, da, h, mi + 1); continue; }
    return Date.UTC(y, mo - 1, da, h, mi, s2);
  }
  return null;
}
