/** Compose value syntaxes: durations, byte sizes, CPU counts, port specs, volume specs. Pure; throw Error(message). */

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Compose duration (Go syntax: `1m30s`, `500ms`, `10s`; a bare number is seconds) in ms. */
export function parseComposeDuration(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v * 1000);
  const s = String(v).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(s)) !== null) { ms += Number(m[1]) * GO_UNITS[m[2]]; pos = re.lastIndex; }
  if (pos !== s.length || s === '') throw new Error(`${JSON.stringify(v)} is not a duration (e.g. 10s, 1m30s, 500ms)`);
  return Math.round(ms);
}

/** ms as a systemd time span: `1500ms`, `30s`, `2min`. */
export function formatSpan(ms: number): string {
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}min`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4 };

/** A Compose byte size (`512m`, `1gb`, `2048`, 1024-based as Docker reads it) in bytes. */
export function parseComposeSize(v: unknown): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(String(v).trim());
  if (!m || !(m[2].toLowerCase() in SIZE_UNITS)) throw new Error(`${JSON.stringify(v)} is not a byte size (e.g. 512m, 1g, 2048)`);
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  if (bytes <= 0) throw new Error(`${JSON.stringify(v)} is not a positive size`);
  return bytes;
}

/** Bytes as a shoal size: the largest exact K/M/G unit. */
export function formatSize(bytes: number): string {
  for (const [u, n] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) if (bytes % n === 0) return `${bytes / n}${u}`;
  return String(bytes);
}

/** Compose `cpus` (`0.5`, `'1.25'`, 2) in millicores. */
export function parseComposeCpus(v: unknown): number {
  const s = String(v).trim();
  if (!/^\d+(\.\d+)?$/.test(s) || Number(s) <= 0) throw new Error(`${JSON.stringify(v)} is not a positive number of CPUs (e.g. 0.5, 2)`);
  const millis = Math.round(Number(s) * 1000);
  if (millis < 1) throw new Error(`${JSON.stringify(v)} is less than 0.001 CPU`);
  return millis;
}

/** Millicores as shoal writes them: `500m`, `2`. */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** One published port. */
export interface PortSpec {
  host: number;
  container: number;
  proto: 'tcp' | 'udp';
}

/** Compose short port syntax `[HOST:]CONTAINER[/PROTO]`; a host IP, a range or no host port is refused (why in the message). */
export function parseShortPort(v: string): PortSpec {
  const m = /^(?:(.+):)?(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/.exec(v.trim());
  if (!m) throw new Error(`${JSON.stringify(v)} is not [HOST:]CONTAINER[/PROTO]`);
  const [, hostPart, cont, proto = 'tcp'] = m;
  if (proto === 'sctp') throw new Error(`${JSON.stringify(v)}: sctp ports are not supported (tcp, udp)`);
  if (cont.includes('-') || hostPart?.includes('-')) throw new Error(`${JSON.stringify(v)}: port ranges are not supported; list each port`);
  if (hostPart === undefined) throw new Error(`${JSON.stringify(v)}: a container port without a host port gets a random host port, which nothing on a cluster could find; give HOST:CONTAINER`);
  if (hostPart.includes(':')) throw new Error(`${JSON.stringify(v)}: a host address is not supported (shoal publishes on every address of the machine that runs the unit)`);
  return checkPorts(Number(hostPart), Number(cont), proto as 'tcp' | 'udp', v);
}

/** Checks both ports are 1-65535. */
export function checkPorts(host: number, container: number, proto: 'tcp' | 'udp', what: unknown): PortSpec {
  for (const p of [host, container]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`${JSON.stringify(what)}: port ${p} is outside 1-65535`);
  }
  return { host, container, proto };
}
