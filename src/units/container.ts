/**
 * `[X-Container]`: the Docker container a `.service` unit runs. Every value is checked here, so the
 * agent's container driver gets a clean ContainerSpec. Scalars (Image, Command): the last
 * assignment wins and an empty one resets, as in systemd; lists (Environment, Port, Volume) add up. Pure.
 */
import type { ContainerSpec, UnitEntry, UnitFile, UnitName } from './types';
import { hasSection, sectionEntries } from './unit-file';
import { entryError, unknownKey, type EntryContext } from './option-errors';
import { WordsError, splitShellWords } from './words';
import { parseDuration } from './group-options';
import { parseCpu, parseMemory } from './resources';

/** The section a container unit describes its container in. */
export const CONTAINER_SECTION = 'X-Container';

const KNOWN = [
  'Image', 'Command', 'Environment', 'Port', 'Volume', 'Entrypoint', 'User', 'WorkingDir', 'Label', 'Network', 'NetworkAlias',
  'HealthCmd', 'HealthInterval', 'HealthTimeout', 'HealthRetries', 'HealthStartPeriod', 'CPUs', 'Memory', 'WaitHealthy',
];

/** A Docker object name (network, named volume): what `docker network/volume create` accepts. */
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Why `ref` is not a Docker image reference `[host[:port]/]path[:tag][@digest]`, or undefined when it is. */
export function checkImage(ref: string): string | undefined {
  if (ref.length > 512) return 'is longer than 512 characters';
  let rest = ref;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!/^[a-z0-9]+:[a-f0-9]{32,128}$/.test(rest.slice(at + 1))) return 'has a malformed @digest (expected e.g. @sha256:<hex>)';
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(rest.slice(colon + 1))) return 'has a malformed :tag';
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  // The first part is a registry host when it looks like one (has '.' or ':' or is localhost).
  if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === 'localhost')) {
    if (!/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/.test(parts.shift() as string)) return 'has a malformed registry host';
  }
  for (const p of parts) {
    if (!/^[a-z0-9]+([._-]+[a-z0-9]+)*$/.test(p)) {
      return `has a malformed name component ${JSON.stringify(p)} (lowercase letters, digits, '.', '_', '-')`;
    }
  }
  return undefined;
}

function words(ctx: EntryContext, e: UnitEntry): string[] {
  try {
    return splitShellWords(e.value);
  } catch (err) {
    if (err instanceof WordsError) throw entryError('unit.bad-container', `${e.key}: ${err.message}`, ctx, e);
    throw err;
  }
}

function addEnv(env: Record<string, string>, ctx: EntryContext, e: UnitEntry): void {
  for (const w of words(ctx, e)) {
    const eq = w.indexOf('=');
    const k = eq < 0 ? w : w.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw entryError('unit.bad-container', `Environment item ${JSON.stringify(w)} is not NAME=value (NAME: letters, digits, '_')`, ctx, e);
    }
    env[k] = w.slice(eq + 1);
  }
}

function checkPort(p: string): string | undefined {
  const m = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(p);
  if (!m) return 'is not host:container or host:container/proto (tcp, udp, sctp), e.g. 8080:80/tcp';
  for (const n of [m[1], m[2]]) if (Number(n) < 1 || Number(n) > 65535) return `has port ${n} outside 1-65535`;
  return undefined;
}

function checkVolume(v: string): string | undefined {
  const parts = v.split(':');
  if (parts.length < 2 || parts.length > 3) return 'is not /host/path:/container/path[:ro|rw]';
  const [host, cont, mode] = parts;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return `has mode ${JSON.stringify(mode)}; use ro or rw`;
  // a named volume (Docker creates it on the machine on first use) or an absolute host path
  const named = !host.startsWith('/') && DOCKER_NAME.test(host);
  if (!named && !host.startsWith('/') && !/[./]/.test(host)) return `volume name ${JSON.stringify(host)} is not a Docker volume name (letters, digits, '_', '.', '-')`;
  for (const [what, p] of named ? [['container', cont]] : [['host', host], ['container', cont]]) {
    if (!p.startsWith('/')) return `${what} path ${JSON.stringify(p)} is not absolute`;
    if (p.split('/').includes('..')) return `${what} path ${JSON.stringify(p)} contains '..'`;
  }
  return undefined;
}

/** Add each whitespace-separated item of `e` to `list`, refusing bad or repeated ones. */
function addItems(list: string[], ctx: EntryContext, e: UnitEntry, check: (v: string) => string | undefined): void {
  for (const w of words(ctx, e)) {
    const why = check(w);
    if (why) throw entryError('unit.bad-container', `${e.key} ${JSON.stringify(w)} ${why}`, ctx, e);
    if (!list.includes(w)) list.push(w);
  }
}

/**
 * Read `[X-Container]`; undefined when the unit has none. Throws ValidationError
 * (`unit.container-not-service`, `unit.unknown-key`, `unit.bad-container`) at the offending line.
 */
export function parseContainer(file: UnitFile, unit: UnitName, opts: { file?: string } = {}): ContainerSpec | undefined {
  if (!hasSection(file, CONTAINER_SECTION)) return undefined;
  const ctx: EntryContext = { file: opts.file, section: CONTAINER_SECTION };
  const section = file.sections.find((s) => s.name === CONTAINER_SECTION);
  if (unit.type !== 'service') {
    throw entryError('unit.container-not-service', `only .service units may have [${CONTAINER_SECTION}]; ${unit.name} is a .${unit.type}`, ctx, {
      key: CONTAINER_SECTION, value: '', line: section?.line ?? 0,
    });
  }
  const spec: ContainerSpec = { image: '', command: [], env: {}, ports: [], volumes: [] };
  let imageE: UnitEntry | undefined;
  for (const e of sectionEntries(file, CONTAINER_SECTION)) {
    if (e.key === 'Image') imageE = e.value === '' ? undefined : e;
    else if (e.key === 'Command') spec.command = words(ctx, e);
    else if (e.key === 'Environment') e.value === '' ? (spec.env = {}) : addEnv(spec.env, ctx, e);
    else if (e.key === 'Port') e.value === '' ? (spec.ports = []) : addItems(spec.ports, ctx, e, checkPort);
    else if (e.key === 'Volume') e.value === '' ? (spec.volumes = []) : addItems(spec.volumes, ctx, e, checkVolume);
    else readExtra(spec, ctx, e);
  }
  if (spec.health && spec.health.test.length === 0) {
    const e = sectionEntries(file, CONTAINER_SECTION).find((x) => x.key.startsWith('Health')) as UnitEntry;
    throw entryError('unit.bad-container', `${e.key}= needs HealthCmd= (the check Docker runs in the container)`, ctx, e);
  }
  if (!imageE) {
    throw entryError('unit.bad-container', `[${CONTAINER_SECTION}] needs Image=`, ctx, { key: 'Image', value: '', line: section?.line ?? 0 });
  }
  const why = checkImage(imageE.value);
  if (why) throw entryError('unit.bad-container', `Image ${JSON.stringify(imageE.value)} ${why}`, ctx, imageE);
  spec.image = imageE.value;
  return spec;
}

/** Keys beyond the original five: optional container settings, each omitted from the spec when unset. */
function readExtra(spec: ContainerSpec, ctx: EntryContext, e: UnitEntry): void {
  const fail = (why: string) => entryError('unit.bad-container', `${e.key}=${e.value} ${why}`, ctx, e);
  const reset = e.value === '';
  const parsed = <T>(f: (v: string) => T): T => {
    try {
      return f(e.value);
    } catch (err) {
      throw entryError('unit.bad-container', `${e.key}: ${(err as Error).message}`, ctx, e);
    }
  };
  const health = () => (spec.health ??= { test: [] });
  switch (e.key) {
    case 'Entrypoint': reset ? delete spec.entrypoint : (spec.entrypoint = words(ctx, e)); return;
    case 'User':
      if (!reset && !/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/.test(e.value)) throw fail('is not user[:group] (names or ids)');
      reset ? delete spec.user : (spec.user = e.value); return;
    case 'WorkingDir':
      if (!reset && !e.value.startsWith('/')) throw fail('is not an absolute path');
      reset ? delete spec.workingDir : (spec.workingDir = e.value); return;
    case 'Label':
      if (reset) { delete spec.labels; return; }
      for (const w of words(ctx, e)) {
        const eq = w.indexOf('=');
        if (eq <= 0) throw fail(`: item ${JSON.stringify(w)} is not name=value`);
        if (w.startsWith('shoal.')) throw fail(`: labels shoal.* are shoal's own`);
        (spec.labels ??= {})[w.slice(0, eq)] = w.slice(eq + 1);
      }
      return;
    case 'Network':
    case 'NetworkAlias': {
      const list = e.key === 'Network' ? (spec.networks ??= []) : (spec.aliases ??= []);
      if (reset) { list.length = 0; return; }
      addItems(list, ctx, e, (v) => (DOCKER_NAME.test(v) && !['host', 'none', 'bridge'].includes(v) ? undefined : 'is not a network name of this unit\'s own (letters, digits, \'_\', \'.\', \'-\'; not host, none or bridge)'));
      return;
    }
    case 'HealthCmd': reset ? delete spec.health : (health().test = e.value === 'NONE' ? ['NONE'] : ['CMD', ...words(ctx, e)]); return;
    case 'HealthInterval': health().intervalMs = parsed(parseDuration); return;
    case 'HealthTimeout': health().timeoutMs = parsed(parseDuration); return;
    case 'HealthStartPeriod': health().startPeriodMs = parsed(parseDuration); return;
    case 'HealthRetries':
      if (!/^\d{1,4}$/.test(e.value)) throw fail('is not a whole number');
      health().retries = Number(e.value); return;
    case 'CPUs': reset ? delete spec.cpuLimitMillis : (spec.cpuLimitMillis = parsed(parseCpu)); return;
    case 'Memory': reset ? delete spec.memoryLimitBytes : (spec.memoryLimitBytes = parsed(parseMemory)); return;
    case 'WaitHealthy': {
      if (reset) { delete spec.waitHealthy; return; }
      const list = (spec.waitHealthy ??= []);
      addItems(list, ctx, e, (v) => (/^[A-Za-z0-9:_.\\@-]+\.service$/.test(v) && !v.includes('@.') ? undefined : 'is not a service unit name'));
      return;
    }
    default: throw unknownKey(ctx, e, KNOWN);
  }
}
