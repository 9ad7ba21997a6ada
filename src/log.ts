/**
 * One logger interface, a child per component, the same structured fields in every format:
 * - `journal` (default under systemd, when JOURNAL_STREAM names our stderr): `<N>` syslog priority prefix
 *   (sd-daemon(3)), message then `key=value` fields, no timestamp (journald stamps each line);
 * - `logfmt` (default elsewhere): `time=… level=… msg="…" key=value`;
 * - `json`: one object per line `{"time","level","msg",…fields}`.
 * Chosen by `opts.format`, else SHOAL_LOG_FORMAT, else detected. Level: `opts.level`, else SHOAL_LOG_LEVEL, else info.
 */
import { fstatSync } from 'node:fs';

export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{ component: 'agent' }`). */
  child(fields: LogFields): Logger;
}

type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'journal' | 'logfmt' | 'json';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** syslog priorities (sd-daemon(3) `<N>` prefixes): debug 7, info 6, warning 4, err 3. */
const PRIORITY: Record<Level, number> = { debug: 7, info: 6, warn: 4, error: 3 };

/**
 * True when stderr is the journal stream systemd gave us: JOURNAL_STREAM is `<device>:<inode>` of it
 * (systemd.exec(5)); a child whose stderr was redirected elsewhere inherits the variable but not the stream.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  const [dev, ino] = js.split(':');
  try {
    const st = fstatSync(fd, { bigint: true });
    return String(st.dev) === dev && String(st.ino) === ino;
  } catch {
    return false;
  }
}

/** The format from SHOAL_LOG_FORMAT or detection; an unknown value falls back to detection. */
export function logFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  const f = env.SHOAL_LOG_FORMAT;
  if (f === 'journal' || f === 'logfmt' || f === 'json') return f;
  return stderrIsJournal(env) ? 'journal' : 'logfmt';
}

/** One line of `format` (with its newline). Pure apart from `now`. */
export function formatLine(format: LogFormat, level: Level, msg: string, fields: LogFields, now: Date = new Date()): string {
  const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
  if (format === 'json') {
    const o: Record<string, unknown> = { time: now.toISOString(), level, msg };
    for (const [k, v] of entries) if (!(k in o)) o[k] = v;
    return JSON.stringify(o) + '\n';
  }
  let kv = '';
  for (const [k, v] of entries) kv += ` ${k}=${fmt(v as string | number | boolean | null)}`;
  // one record is one line: a newline in a message would start a new journal entry without its priority
  if (format === 'journal') return `<${PRIORITY[level]}>${msg.replace(/\n/g, '\\n')}${kv}\n`;
  return `time=${now.toISOString()} level=${level} msg=${JSON.stringify(msg)}${kv}\n`;
}

export function createLogger(opts: { level?: Level; stream?: NodeJS.WritableStream; fields?: LogFields; format?: LogFormat } = {}): Logger {
  const min = ORDER[opts.level ?? (process.env.SHOAL_LOG_LEVEL as Level) ?? 'info'] ?? ORDER.info;
  const stream = opts.stream ?? process.stderr;
  const format = opts.format ?? logFormat();
  const base = opts.fields ?? {};
  const write = (level: Level, msg: string, fields?: LogFields) => {
    if (ORDER[level] < min) return;
    stream.write(formatLine(format, level, msg, { ...base, ...fields }));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ level: levelName(min), stream, format, fields: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (tests, benches). */
export const silentLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {},
  child() { return silentLogger; },
};

function fmt(v: string | number | boolean | null): string {
  const s = String(v);
  return /^[\w.@:\/-]+$/.test(s) ? s : JSON.stringify(s);
}

function levelName(n: number): Level {
  return (Object.keys(ORDER) as Level[]).find((k) => ORDER[k] === n) ?? 'info';
}
