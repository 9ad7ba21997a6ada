/**
 * The systemd unit the agent installs for a container unit: the user's unit with an ExecStart that
 * runs the container runner, so the service's lifetime is the container's (see docs/containers.md).
 * Pure: no I/O.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ValidationError } from '../errors';
import type { ContainerSpec, UnitEntry, UnitFile, UnitSection, UnitSpec } from '../units/types';
import { serializeUnitFile } from '../units/unit-file';

/** The unit-file section that describes the container. */
export const CONTAINER_SECTION = 'X-Container';

/** How the generated service starts the runner. */
export interface RunnerCommand {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of the compiled container-runner.js. */
  runner: string;
}

/** `[Service]` keys the runner owns; a container unit that sets them is refused. */
const OWNED_KEYS = ['ExecStart', 'ExecStop', 'ExecReload', 'PIDFile', 'BusName'];
/** Service types that make sense for a runner that stays in the foreground. */
const ALLOWED_TYPES = ['simple', 'exec'];

/**
 * The compiled runner, dist/src/agent/container-runner.js: next to this module in dist/src/agent, under
 * dist/src/agent from the bundled shoald (dist/shoald.js; the path is part of every container unit's text,
 * so it stays the same whichever way shoald was built).
 */
export function defaultRunnerCommand(): RunnerCommand {
  const here = __filename.endsWith('.ts') ? resolve(__dirname, '..', '..', 'dist', 'src', 'agent')
    : existsSync(join(__dirname, 'container-runner.js')) ? __dirname : join(__dirname, 'src', 'agent');
  return { node: process.execPath, runner: join(here, 'container-runner.js') };
}

/** The container spec as one argument: base64url JSON, safe in ExecStart (no %, $, quotes or spaces). */
export function encodeContainerSpec(spec: ContainerSpec): string {
  return Buffer.from(JSON.stringify(spec), 'utf8').toString('base64url');
}

/** Inverse of encodeContainerSpec; throws ValidationError `container.bad-spec` on anything else. */
export function decodeContainerSpec(arg: string): ContainerSpec {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(arg, 'base64url').toString('utf8'));
  } catch {
    throw new ValidationError('container.bad-spec', 'container spec argument is not base64url JSON');
  }
  const s = v as Partial<ContainerSpec>;
  const strings = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === 'string');
  if (typeof s?.image !== 'string' || !s.image || !strings(s.command) || !strings(s.ports) || !strings(s.volumes)
    || typeof s.env !== 'object' || s.env === null || !Object.values(s.env).every((x) => typeof x === 'string')) {
    throw new ValidationError('container.bad-spec', 'container spec must have image, command[], env{}, ports[], volumes[]');
  }
  return s as ContainerSpec;
}

/**
 * Unit text for a container unit: [Unit], [Install] and other sections kept as submitted,
 * [X-Container] dropped (it travels in ExecStart), [Service] kept plus ExecStart (runner),
 * ExecStopPost (remove a container a killed runner left), KillMode=mixed unless set.
 * Throws ValidationError `container.owned-key` / `container.bad-type` naming the line.
 */
export function containerUnitText(spec: UnitSpec, cmd: RunnerCommand = defaultRunnerCommand()): string {
  if (!spec.container) throw new ValidationError('container.none', `${spec.name} has no [${CONTAINER_SECTION}] section`);
  const sections: UnitSection[] = spec.file.sections.filter((s) => s.name !== CONTAINER_SECTION);
  let service = sections.find((s) => s.name === 'Service');
  if (!service) {
    service = { name: 'Service', line: 0, entries: [] };
    const unitAt = sections.findIndex((s) => s.name === 'Unit');
    sections.splice(unitAt + 1, 0, service);
  }
  const user = sections.filter((s) => s.name === 'Service').flatMap((s) => s.entries);
  checkServiceEntries(spec.name, user);
  // %n: systemd passes the unit's own name, right for template instances too
  const added: UnitEntry[] = [
    { key: 'ExecStart', value: `${cmd.node} ${cmd.runner} run %n ${encodeContainerSpec(spec.container)}`, line: 0 },
    { key: 'ExecStopPost', value: `-${cmd.node} ${cmd.runner} cleanup %n`, line: 0 },
  ];
  // mixed: SIGTERM only to the runner (it stops the container), SIGKILL to everything on timeout
  if (!user.some((e) => e.key === 'KillMode')) added.push({ key: 'KillMode', value: 'mixed', line: 0 });
  const out: UnitFile = {
    sections: sections.map((s) => (s === service ? { ...s, entries: [...s.entries, ...added] } : s)),
  };
  return `# shoal: ${spec.name} runs container ${spec.container.image}; the service lives as long as the container\n`
    + serializeUnitFile(out);
}

function checkServiceEntries(unit: string, entries: UnitEntry[]): void {
  for (const e of entries) {
    if (OWNED_KEYS.includes(e.key)) {
      throw new ValidationError('container.owned-key',
        `${e.key}= cannot be combined with [${CONTAINER_SECTION}]: the container runner is the service's process`,
        { file: unit, line: e.line, section: 'Service', key: e.key });
    }
    if (e.key === 'Type' && !ALLOWED_TYPES.includes(e.value.trim())) {
      throw new ValidationError('container.bad-type',
        `Type=${e.value} cannot run a container; use ${ALLOWED_TYPES.join(' or ')}`,
        { file: unit, line: e.line, section: 'Service', key: 'Type' });
    }
  }
}
