/** One compose service to a unit draft (docs/compose.md has the table). Placement-related lines come later (topology.ts). Pure. */
import { posix } from 'node:path';
import { checkImage } from '../units/container';
import { parseUnitName } from '../units';
import { DotEnvError, parseDotEnv } from './interpolate';
import type { CNode, ComposeProblem } from './nodes';
import { addLine, quoteWord, quoteWords, type UnitDraft } from './render';
import {
  checkPorts, formatCpu, formatSize, formatSpan, parseComposeCpus, parseComposeDuration, parseComposeSize, parseShortPort, type PortSpec,
} from './values';

/** What every service's conversion shares. */
export interface ServiceContext {
  project: string;
  file: string;
  dir: string;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
  problems: ComposeProblem[];
  /** Reports a key shoal cannot honour (an error, or a warning with --ignore-unsupported). */
  unsupported: (n: CNode, why: string) => void;
  /** Declared volumes/networks: compose name → Docker name. */
  volumes: Map<string, string>;
  networks: Map<string, string>;
}

/** One dependency of a service (`depends_on`). */
export interface Dependency {
  service: string;
  condition: 'service_started' | 'service_healthy';
  required: boolean;
  node: CNode;
}

/** A converted service, before placement. */
export interface ServiceModel {
  service: string;
  node: CNode;
  draft: UnitDraft;
  /** > 1: the unit is a template with Instances=. */
  replicas: number;
  global: boolean;
  /** Compose network names the service joins. */
  networks: string[];
  dependsOn: Dependency[];
  ports: PortSpec[];
  /** `deploy.replicas` / `deploy.mode` node, for errors about placement. */
  deployNode: CNode;
}

/** Keys handled here; anything else (but `x-*`) is unsupported. */
const HANDLED = [
  'image', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'expose', 'volumes', 'restart', 'healthcheck', 'deploy',
  'depends_on', 'labels', 'stop_grace_period', 'user', 'working_dir', 'networks', 'init',
];

/** Why a common key shoal does not take is refused (a hint beats a bare "unsupported"). */
const WHY: Record<string, string> = {
  build: 'shoal does not build images: build and push it (or load it on every machine), then give image:',
  container_name: 'shoal names containers itself (one per machine and unit); other services reach this one by its service name',
  network_mode: 'shoal attaches containers to per-project networks only',
  secrets: 'secrets are not supported; pass them in environment/env_file (they then live in the unit file)',
  configs: 'configs are not supported; mount a file with volumes:',
  privileged: 'privileged containers are not supported',
  hostname: 'hostname is not supported; other services reach this one by its service name',
  profiles: 'profiles are not supported; list only the services to run',
  extends: 'extends is not supported; use YAML anchors and <<: merge keys',
  stop_signal: 'stop_signal is not supported: the container gets SIGTERM, then SIGKILL after stop_grace_period',
};

function fail(ctx: ServiceContext, n: CNode, message: string): void {
  ctx.problems.push(n.problem(message));
}

function str(ctx: ServiceContext, n: CNode): string | undefined {
  if (n.isScalar && ['string', 'number', 'boolean'].includes(typeof n.value)) {
    const s = String(n.value);
    if (/[\n\r]/.test(s)) { fail(ctx, n, 'a multi-line value cannot go in a unit file line'); return undefined; }
    return s;
  }
  fail(ctx, n, 'must be a string');
  return undefined;
}

/** A string (split like a shell, without one: Compose's rule) or a list of strings. */
function wordsOf(ctx: ServiceContext, n: CNode): string[] | undefined {
  if (n.isSeq) {
    const ws = n.items().map((i) => str(ctx, i));
    return ws.every((w) => w !== undefined) ? (ws as string[]) : undefined;
  }
  const s = str(ctx, n);
  if (s === undefined) return undefined;
  try {
    return shlex(s);
  } catch (e) {
    fail(ctx, n, (e as Error).message);
    return undefined;
  }
}

/** POSIX-shell word splitting without expansion (Compose splits a string command this way). */
export function shlex(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (/\s/.test(c)) { if (inWord) out.push(cur); cur = ''; inWord = false; continue; }
    inWord = true;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in ${JSON.stringify(s)}`);
      cur += s.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '\\' && '"\\$`'.includes(s[j + 1] ?? '')) j++;
        cur += s[j];
      }
      if (j >= s.length) throw new Error(`unterminated " in ${JSON.stringify(s)}`);
      i = j;
    } else if (c === '\\' && i + 1 < s.length) cur += s[++i];
    else cur += c;
  }
  if (inWord) out.push(cur);
  return out;
}

/** `KEY=VAL` list or mapping → entries; a list item `KEY` or a null value takes the variable from the environment (omitted when unset). */
function keyValues(ctx: ServiceContext, n: CNode, fromEnv: boolean): Array<[string, string, CNode]> {
  const out: Array<[string, string, CNode]> = [];
  if (n.isMap) {
    for (const [k, v] of n.entries()) {
      if (v.isNull) { if (fromEnv && ctx.env[k] !== undefined) out.push([k, ctx.env[k] as string, v]); continue; }
      const s = str(ctx, v);
      if (s !== undefined) out.push([k, s, v]);
    }
  } else if (n.isSeq) {
    for (const i of n.items()) {
      const s = str(ctx, i);
      if (s === undefined) continue;
      const eq = s.indexOf('=');
      if (eq < 0) { if (fromEnv && ctx.env[s] !== undefined) out.push([s, ctx.env[s] as string, i]); continue; }
      out.push([s.slice(0, eq), s.slice(eq + 1), i]);
    }
  } else fail(ctx, n, 'must be a mapping or a list of KEY=VALUE');
  return out;
}

/** Converts one service; undefined when it has problems (already reported). */
export function convertService(ctx: ServiceContext, service: string, node: CNode): ServiceModel | undefined {
  const before = ctx.problems.length;
  if (!node.isMap) { fail(ctx, node, 'a service is a mapping of keys'); return undefined; }
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(service)) { fail(ctx, node, `service name ${JSON.stringify(service)}: letters, digits, '_', '.', '-'`); return undefined; }
  for (const [k, v] of node.entries()) {
    if (!HANDLED.includes(k) && !k.startsWith('x-')) ctx.unsupported(v, WHY[k] ?? `${k} is not supported by shoal`);
  }
  const deploy = node.get('deploy');
  const replicas = readReplicas(ctx, deploy);
  const global = deploy.get('mode').value === 'global';
  const draft: UnitDraft = { service, name: `${ctx.project}-${service}${replicas > 1 ? '@' : ''}.service`, sections: {}, notes: [] };
  try {
    parseUnitName(draft.name);
  } catch (e) {
    fail(ctx, node, `the unit name ${draft.name} is not valid: ${(e as Error).message}`);
    return undefined;
  }
  const p = `services.${service}`;
  addLine(draft, 'Unit', 'Description', `${service} of compose project ${ctx.project}`, p);
  restart(ctx, draft, node.get('restart'), deploy.get('restart_policy'));
  stopGrace(ctx, draft, node.get('stop_grace_period'));

  const image = node.get('image');
  if (image.isNull) fail(ctx, node, 'needs image: (shoal runs images; it does not build them)');
  else {
    const ref = str(ctx, image);
    const why = ref === undefined ? undefined : checkImage(ref);
    if (why) fail(ctx, image, `image ${JSON.stringify(ref)} ${why}`);
    else if (ref !== undefined) addLine(draft, 'X-Container', 'Image', ref, image.path);
  }
  for (const [key, unitKey] of [['entrypoint', 'Entrypoint'], ['command', 'Command']] as const) {
    const n = node.get(key);
    if (n.isNull) continue;
    const ws = wordsOf(ctx, n);
    if (ws) addLine(draft, 'X-Container', unitKey, quoteWords(ws), n.path);
  }
  environment(ctx, draft, node);
  const ports = publish(ctx, draft, node.get('ports'));
  if (node.has('expose')) draft.notes.push(`${p}.expose: containers of the project's networks reach every port; nothing to publish`);
  volumes(ctx, draft, node.get('volumes'));
  for (const [key, unitKey] of [['user', 'User'], ['working_dir', 'WorkingDir']] as const) {
    const n = node.get(key);
    const s = n.isNull ? undefined : str(ctx, n);
    if (s !== undefined) addLine(draft, 'X-Container', unitKey, s, n.path);
  }
  labels(ctx, draft, node.get('labels'), service);
  const networks = joinNetworks(ctx, draft, node.get('networks'), service);
  health(ctx, draft, node.get('healthcheck'));
  deployKeys(ctx, draft, deploy, replicas, global);
  if (node.has('init')) draft.notes.push(`${p}.init: shoal always runs an init as the container's PID 1`);
  const dependsOn = dependencies(ctx, node.get('depends_on'));
  if (ctx.problems.length > before) return undefined;
  return { service, node, draft, replicas, global, networks, dependsOn, ports, deployNode: deploy };
}

function readReplicas(ctx: ServiceContext, deploy: CNode): number {
  const r = deploy.get('replicas');
  if (r.isNull) return 1;
  if (typeof r.value !== 'number' || !Number.isInteger(r.value) || r.value < 1 || r.value > 10_000) {
    fail(ctx, r, 'must be a whole number from 1 to 10000 (shoal cannot keep 0 instances of a group; leave the service out instead)');
    return 1;
  }
  if (deploy.get('mode').value === 'global') fail(ctx, r, 'replicas cannot be used with mode: global');
  return r.value;
}

function restart(ctx: ServiceContext, d: UnitDraft, n: CNode, policy: CNode): void {
  if (!n.isNull) {
    const v = str(ctx, n);
    if (v === undefined) return;
    const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(v);
    if (!m || (m[2] && m[1] !== 'on-failure')) { fail(ctx, n, `${JSON.stringify(v)} is not no, always, unless-stopped or on-failure[:N]`); return; }
    addLine(d, 'Service', 'Restart', m[1] === 'unless-stopped' ? 'always' : m[1], n.path);
    if (m[1] !== 'no') addLine(d, 'Service', 'RestartSec', '1', n.path);
    if (m[2]) { addLine(d, 'Unit', 'StartLimitBurst', String(Number(m[2]) + 1), n.path); addLine(d, 'Unit', 'StartLimitIntervalSec', '1d', n.path); }
    return;
  }
  if (policy.isNull) return;
  for (const [k, v] of policy.entries()) {
    if (k !== 'condition') { ctx.unsupported(v, `${k} is not supported; systemd restarts after RestartSec=1`); continue; }
    const c = str(ctx, v);
    const map: Record<string, string> = { none: 'no', 'on-failure': 'on-failure', any: 'always' };
    if (c === undefined || !(c in map)) { fail(ctx, v, 'must be none, on-failure or any'); continue; }
    addLine(d, 'Service', 'Restart', map[c], v.path);
    if (c !== 'none') addLine(d, 'Service', 'RestartSec', '1', v.path);
  }
}

function stopGrace(ctx: ServiceContext, d: UnitDraft, n: CNode): void {
  if (n.isNull) return;
  let ms: number;
  try {
    ms = parseComposeDuration(n.value);
  } catch (e) { fail(ctx, n, (e as Error).message); return; }
  const s = Math.max(1, Math.ceil(ms / 1000));
  // the runner stops the container with this grace; systemd waits a little longer for the runner
  addLine(d, 'Service', 'Environment', `SHOAL_CONTAINER_STOP_TIMEOUT=${s}`, n.path);
  addLine(d, 'Service', 'TimeoutStopSec', `${s + 15}s`, n.path);
}

function environment(ctx: ServiceContext, d: UnitDraft, node: CNode): void {
  const vars = new Map<string, [string, string]>();
  const files = node.get('env_file');
  for (const f of files.isNull ? [] : files.isSeq ? files.items() : [files]) {
    const path = f.isMap ? f.get('path') : f;
    const optional = f.isMap && f.get('required').value === false;
    const rel = str(ctx, path);
    if (rel === undefined) continue;
    const abs = posix.resolve(ctx.dir, rel);
    let text: string;
    try {
      text = ctx.readFile(abs);
    } catch (e) {
      if (!optional) fail(ctx, path, `cannot read env_file ${rel}: ${(e as Error).message}`);
      continue;
    }
    try {
      for (const [k, v] of Object.entries(parseDotEnv(text, ctx.env))) vars.set(k, [v, `${path.path} (${rel})`]);
    } catch (e) {
      if (e instanceof DotEnvError) fail(ctx, path, `${rel}:${e.line}: ${e.message}`);
      else throw e;
    }
  }
  const env = node.get('environment');
  if (!env.isNull) for (const [k, v] of keyValues(ctx, env, true)) vars.set(k, [v, env.path]);
  for (const [k, [v, from]] of vars) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) { fail(ctx, env.isNull ? files : env, `variable name ${JSON.stringify(k)}: letters, digits and '_' (shoal passes NAME=value)`); continue; }
    if (/[\n\r]/.test(v)) { fail(ctx, env.isNull ? files : env, `${k}: a multi-line value cannot go in a unit file line`); continue; }
    addLine(d, 'X-Container', 'Environment', quoteWord(`${k}=${v}`), from);
  }
}

function publish(ctx: ServiceContext, d: UnitDraft, n: CNode): PortSpec[] {
  const out: PortSpec[] = [];
  if (n.isNull) return out;
  for (const item of n.isSeq ? n.items() : (fail(ctx, n, 'must be a list'), [])) {
    let spec: PortSpec;
    try {
      if (item.isMap) {
        for (const [k, v] of item.entries()) if (!['target', 'published', 'protocol', 'mode'].includes(k)) ctx.unsupported(v, `${k} is not supported in ports (shoal publishes on every address of the machine)`);
        const proto = String(item.get('protocol').value ?? 'tcp');
        if (proto !== 'tcp' && proto !== 'udp') throw new Error(`protocol ${proto}: tcp or udp`);
        if (item.get('published').isNull) throw new Error('needs published: (a random host port is nothing a cluster user could find)');
        const pub = String(item.get('published').value);
        if (!/^\d+$/.test(pub)) throw new Error(`published ${JSON.stringify(pub)}: one port number (no ranges)`);
        spec = checkPorts(Number(pub), Number(item.get('target').value), proto, item.get('target').value);
      } else spec = parseShortPort(String(item.value));
    } catch (e) {
      fail(ctx, item, (e as Error).message);
      continue;
    }
    out.push(spec);
    addLine(d, 'X-Container', 'Port', `${spec.host}:${spec.container}${spec.proto === 'udp' ? '/udp' : ''}`, n.path);
  }
  return out;
}

function volumes(ctx: ServiceContext, d: UnitDraft, n: CNode): void {
  if (n.isNull) return;
  for (const item of n.isSeq ? n.items() : (fail(ctx, n, 'must be a list'), [])) {
    let source: string | undefined;
    let target: string | undefined;
    let ro = false;
    let type: string;
    if (item.isMap) {
      for (const [k, v] of item.entries()) if (!['type', 'source', 'target', 'read_only', 'bind', 'volume'].includes(k)) ctx.unsupported(v, `${k} is not supported in volumes`);
      type = String(item.get('type').value ?? 'volume');
      source = item.get('source').isNull ? undefined : String(item.get('source').value);
      target = String(item.get('target').value ?? '');
      ro = item.get('read_only').value === true;
      if (type !== 'bind' && type !== 'volume') { ctx.unsupported(item.get('type'), `volume type ${type} is not supported (bind, volume)`); continue; }
    } else {
      const s = str(ctx, item);
      if (s === undefined) continue;
      const parts = s.split(':');
      if (parts.length === 1) { source = undefined; target = parts[0]; } else { [source, target] = parts; }
      const mode = parts[2];
      if (parts.length > 3 || (mode !== undefined && !['ro', 'rw'].includes(mode))) {
        fail(ctx, item, `${JSON.stringify(s)} is not SOURCE:TARGET[:ro|rw] (SELinux and propagation modes are not supported)`);
        continue;
      }
      ro = mode === 'ro';
      type = source !== undefined && /^[./~]/.test(source) ? 'bind' : 'volume';
    }
    if (!target || !target.startsWith('/')) { fail(ctx, item, `target ${JSON.stringify(target ?? '')} is not an absolute path in the container`); continue; }
    if (source === undefined) { fail(ctx, item, 'an anonymous volume would be lost when the unit moves; name it (and declare it under volumes:) or bind a path'); continue; }
    let host: string;
    let note: string;
    if (type === 'bind') {
      const home = ctx.env.HOME;
      if (source.startsWith('~') && !home) { fail(ctx, item, '~ needs HOME set'); continue; }
      host = source.startsWith('~') ? posix.join(home as string, source.slice(1)) : posix.resolve(ctx.dir, source);
      note = `${n.path} (a bind mount: ${host} must exist on the machine that runs the unit)`;
    } else {
      const docker = ctx.volumes.get(source);
      if (docker === undefined) { fail(ctx, item, `named volume ${source} is not declared under the top-level volumes:`); continue; }
      host = docker;
      note = `${n.path} (named volume ${source}: Docker creates ${docker} on the machine that runs the unit)`;
    }
    addLine(d, 'X-Container', 'Volume', quoteWord(`${host}:${target}${ro ? ':ro' : ''}`), note);
  }
}

function labels(ctx: ServiceContext, d: UnitDraft, n: CNode, service: string): void {
  const all: Array<[string, string, string]> = [
    ['com.docker.compose.project', ctx.project, 'the labels Compose sets'],
    ['com.docker.compose.service', service, 'the labels Compose sets'],
  ];
  if (!n.isNull) for (const [k, v] of keyValues(ctx, n, false)) all.push([k, v, n.path]);
  for (const [k, v, from] of all) {
    if (k.startsWith('shoal.')) { fail(ctx, n, `label ${k}: shoal.* labels are shoal's own`); continue; }
    addLine(d, 'X-Container', 'Label', quoteWord(`${k}=${v}`), from);
  }
}

function joinNetworks(ctx: ServiceContext, d: UnitDraft, n: CNode, service: string): string[] {
  const names: Array<[string, CNode]> = [];
  const aliases: string[] = [service];
  if (n.isNull) names.push(['default', n]);
  else if (n.isSeq) for (const i of n.items()) { const s = str(ctx, i); if (s !== undefined) names.push([s, i]); }
  else if (n.isMap) {
    for (const [k, v] of n.entries()) {
      names.push([k, v]);
      for (const [sk, sv] of v.entries()) {
        if (sk === 'aliases') for (const a of sv.items()) { const s = str(ctx, a); if (s !== undefined && !aliases.includes(s)) aliases.push(s); }
        else ctx.unsupported(sv, `${sk} is not supported in a service's networks (aliases is)`);
      }
    }
  } else fail(ctx, n, 'must be a list or mapping of network names');
  const out: string[] = [];
  for (const [name, at] of names) {
    const docker = ctx.networks.get(name);
    if (docker === undefined) { fail(ctx, at, `network ${name} is not declared under the top-level networks:`); continue; }
    out.push(name);
    addLine(d, 'X-Container', 'Network', docker, n.isNull ? `(no networks: key: the project's default network, ${docker} on each machine)` : n.path);
  }
  for (const a of aliases) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(a)) { fail(ctx, n, `alias ${JSON.stringify(a)}: letters, digits, '_', '.', '-'`); continue; }
  }
  addLine(d, 'X-Container', 'NetworkAlias', aliases.join(' '), 'other services reach this one by its service name (and aliases)');
  return out;
}

function health(ctx: ServiceContext, d: UnitDraft, n: CNode): void {
  if (n.isNull) return;
  const at = n.path;
  if (n.get('disable').value === true) { addLine(d, 'X-Container', 'HealthCmd', 'NONE', at); return; }
  for (const [k, v] of n.entries()) {
    if (!['test', 'interval', 'timeout', 'retries', 'start_period', 'disable'].includes(k)) ctx.unsupported(v, `${k} is not supported in healthcheck`);
  }
  const t = n.get('test');
  let cmd: string[] | undefined;
  if (t.isSeq) {
    const ws = wordsOf(ctx, t) ?? [];
    if (ws[0] === 'CMD') cmd = ws.slice(1);
    else if (ws[0] === 'CMD-SHELL') cmd = ['/bin/sh', '-c', ws.slice(1).join(' ')];
    else if (ws[0] === 'NONE') { addLine(d, 'X-Container', 'HealthCmd', 'NONE', at); return; }
    else fail(ctx, t, 'a list test starts with CMD, CMD-SHELL or NONE');
  } else if (t.isScalar) {
    const s = str(ctx, t);
    if (s !== undefined) cmd = ['/bin/sh', '-c', s];
  } else fail(ctx, n, 'needs test:');
  if (!cmd || cmd.length === 0) return;
  addLine(d, 'X-Container', 'HealthCmd', quoteWords(cmd), `${at}.test (Docker runs it in the container; shoal reads its verdict)`);
  for (const [k, unitKey] of [['interval', 'HealthInterval'], ['timeout', 'HealthTimeout'], ['start_period', 'HealthStartPeriod']] as const) {
    const v = n.get(k);
    if (v.isNull) continue;
    try {
      const ms = parseComposeDuration(v.value);
      addLine(d, 'X-Container', unitKey, formatSpan(ms), v.path);
      // shoal reads Docker's verdict at this interval too: rolling updates and restarts follow it
      if (k === 'interval') addLine(d, 'X-Shoal', 'HealthInterval', formatSpan(Math.max(ms, 100)), v.path);
    } catch (e) { fail(ctx, v, (e as Error).message); }
  }
  const r = n.get('retries');
  if (!r.isNull) {
    if (typeof r.value !== 'number' || !Number.isInteger(r.value) || r.value < 0 || r.value > 9999) fail(ctx, r, 'must be a whole number');
    else addLine(d, 'X-Container', 'HealthRetries', String(r.value), r.path);
  }
}

function deployKeys(ctx: ServiceContext, d: UnitDraft, deploy: CNode, replicas: number, global: boolean): void {
  if (deploy.isNull) return;
  for (const [k, v] of deploy.entries()) {
    if (k === 'replicas' || k === 'restart_policy') continue;
    if (k === 'mode') {
      if (!['global', 'replicated'].includes(String(v.value))) fail(ctx, v, 'must be replicated or global');
      else if (global) addLine(d, 'X-Fleet', 'Global', 'true', v.path);
    } else if (k === 'resources') resources(ctx, d, v);
    else if (k === 'placement') placement(ctx, d, v);
    else if (k === 'update_config') {
      for (const [uk, uv] of v.entries()) {
        if (uk === 'parallelism' && typeof uv.value === 'number' && uv.value >= 1) addLine(d, 'X-Shoal', 'UpdateParallel', String(uv.value), uv.path);
        else if (uk === 'failure_action' && uv.value === 'rollback') addLine(d, 'X-Shoal', 'AutoRevert', 'true', uv.path);
        else if (uk === 'failure_action' && uv.value === 'pause') continue; // shoal's default: a failed deployment stops
        else if (uk === 'monitor') {
          // Swarm watches each updated task this long for a failure; shoal's step waits as long before it counts healthy
          try { addLine(d, 'X-Shoal', 'MinHealthyTime', formatSpan(parseComposeDuration(uv.value)), uv.path); } catch (e) { fail(ctx, uv, (e as Error).message); }
        } else ctx.unsupported(uv, `${uk}: ${String(uv.value)} is not supported (parallelism, monitor, failure_action: rollback|pause are)`);
      }
    } else ctx.unsupported(v, `deploy.${k} is not supported`);
  }
  if (replicas > 1) addLine(d, 'X-Shoal', 'Instances', String(replicas), deploy.get('replicas').path);
}

function resources(ctx: ServiceContext, d: UnitDraft, n: CNode): void {
  const limits = n.get('limits');
  const reservations = n.get('reservations');
  for (const [k, v] of n.entries()) if (k !== 'limits' && k !== 'reservations') ctx.unsupported(v, `resources.${k} is not supported`);
  const read = (m: CNode): { cpu?: number; mem?: number } => {
    const out: { cpu?: number; mem?: number } = {};
    for (const [k, v] of m.entries()) {
      try {
        if (k === 'cpus') out.cpu = parseComposeCpus(v.value);
        else if (k === 'memory') out.mem = parseComposeSize(v.value);
        else ctx.unsupported(v, `${k} is not supported (cpus, memory are)`);
      } catch (e) { fail(ctx, v, (e as Error).message); }
    }
    return out;
  };
  const lim = read(limits);
  const res = read(reservations);
  if (lim.cpu !== undefined) addLine(d, 'X-Container', 'CPUs', formatCpu(lim.cpu), limits.get('cpus').path);
  if (lim.mem !== undefined) addLine(d, 'X-Container', 'Memory', formatSize(lim.mem), limits.get('memory').path);
  // the scheduler needs a number: the reservation, else the limit (as shoal reads MemoryMax= without Memory=)
  const cpu = res.cpu ?? lim.cpu;
  const mem = res.mem ?? lim.mem;
  if (cpu !== undefined) addLine(d, 'X-Shoal', 'CPU', formatCpu(cpu), res.cpu !== undefined ? reservations.get('cpus').path : `${limits.get('cpus').path} (no reservation: reserve the limit)`);
  if (mem !== undefined) addLine(d, 'X-Shoal', 'Memory', formatSize(mem), res.mem !== undefined ? reservations.get('memory').path : `${limits.get('memory').path} (no reservation: reserve the limit)`);
  if (res.cpu !== undefined && lim.cpu !== undefined && res.cpu > lim.cpu) fail(ctx, reservations.get('cpus'), 'reservation is more than the limit');
  if (res.mem !== undefined && lim.mem !== undefined && res.mem > lim.mem) fail(ctx, reservations.get('memory'), 'reservation is more than the limit');
}

function placement(ctx: ServiceContext, d: UnitDraft, n: CNode): void {
  for (const [k, v] of n.entries()) {
    if (k !== 'constraints') { ctx.unsupported(v, `placement.${k} is not supported (constraints is)`); continue; }
    for (const c of v.items()) {
      const s = str(ctx, c);
      if (s === undefined) continue;
      const m = /^node\.labels\.([A-Za-z0-9_.-]+)\s*==\s*(\S+)$/.exec(s.trim());
      if (!m) { ctx.unsupported(c, `${JSON.stringify(s)}: shoal matches machine metadata only: node.labels.KEY == VALUE`); continue; }
      addLine(d, 'X-Fleet', 'MachineMetadata', quoteWord(`${m[1]}=${m[2]}`), v.path);
    }
  }
}

function dependencies(ctx: ServiceContext, n: CNode): Dependency[] {
  const out: Dependency[] = [];
  if (n.isNull) return out;
  if (n.isSeq) {
    for (const i of n.items()) { const s = str(ctx, i); if (s !== undefined) out.push({ service: s, condition: 'service_started', required: true, node: i }); }
  } else if (n.isMap) {
    for (const [name, v] of n.entries()) {
      const cond = v.get('condition').isNull ? 'service_started' : String(v.get('condition').value);
      for (const [k, x] of v.entries()) if (!['condition', 'required', 'restart'].includes(k)) ctx.unsupported(x, `${k} is not supported in depends_on`);
      if (cond === 'service_completed_successfully') { ctx.unsupported(v.get('condition'), 'service_completed_successfully is not supported (a one-shot service is a job, not a unit shoal keeps running)'); continue; }
      if (cond !== 'service_started' && cond !== 'service_healthy') { fail(ctx, v.get('condition'), 'must be service_started or service_healthy'); continue; }
      out.push({ service: name, condition: cond, required: v.get('required').value !== false, node: v });
    }
  } else fail(ctx, n, 'must be a list or mapping of services');
  return out;
}
