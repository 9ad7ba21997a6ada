/** One logger interface, a child per component, structured fields. */
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
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Logfmt-style lines on a stream (stderr by default): `level=info msg="..." unit=web.service`. */
export function createLogger(opts: { level?: Level; stream?: NodeJS.WritableStream; fields?: LogFields } = {}): Logger {
  const min = ORDER[opts.level ?? (process.env.SHOAL_LOG_LEVEL as Level) ?? 'info'] ?? ORDER.info;
  const stream = opts.stream ?? process.stderr;
  const base = opts.fields ?? {};
  const write = (level: Level, msg: string, fields?: LogFields) => {
    if (ORDER[level] < min) return;
    const all = { ...base, ...fields };
    let line = `level=${level} msg=${JSON.stringify(msg)}`;
    for (const [k, v] of Object.entries(all)) if (v !== undefined) line += ` ${k}=${fmt(v)}`;
    stream.write(line + '\n');
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ level: levelName(min), stream, fields: { ...base, ...fields } }),
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
