/**
 * A Compose project to shoal unit files (docs/compose.md): one container unit per service, each line
 * commented with the compose key it came from. Pure: files other than the compose file (env_file) are read
 * through `readFile`. Every problem is collected with file, line and key; any problem (or any unsupported key
 * without `ignoreUnsupported`) fails the whole project, so nothing is submitted half-converted.
 */
import { posix } from 'node:path';
import { ValidationError } from '../errors';
import { parseUnit, parseUnitName } from '../units';
import { InterpolationError, interpolate } from './interpolate';
import { CNode, eachScalar, formatProblem, parseSource, rootNode, type ComposeProblem } from './nodes';
import { renderUnit, type UnitDraft } from './render';
import { convertService, type ServiceContext, type ServiceModel } from './service';
import { placeServices } from './topology';

/** What to convert and how. */
export interface ConvertInput {
  /** The compose file as named in messages (e.g. `compose.yaml`). */
  file: string;
  text: string;
  /** Absolute directory of the compose file: relative bind mounts and env_file paths start here. */
  dir: string;
  /** The shell's environment; it wins over `.env` as in Compose. */
  env: Record<string, string | undefined>;
  /** Variables from the project's `.env` file. */
  dotEnv?: Record<string, string>;
  /** `-p`: the project name (else COMPOSE_PROJECT_NAME, the file's `name:`, the directory's name). */
  project?: string;
  /** `--spread`: do not co-locate services that share a network or depend on each other. */
  spread?: boolean;
  /** `--ignore-unsupported`: a key shoal cannot honour is a warning, not an error. */
  ignoreUnsupported?: boolean;
  /** Reads a file (absolute path) as UTF-8; throws when it cannot. */
  readFile: (path: string) => string;
}

/** One generated unit. */
export interface ConvertedUnit {
  service: string;
  /** Unit name: `<project>-<service>.service`, or a template `<project>-<service>@.service` for replicas > 1. */
  name: string;
  text: string;
}

export interface ConvertResult {
  project: string;
  units: ConvertedUnit[];
  /** One line per ignored key or unset variable, `file:line: key: message`. */
  warnings: string[];
}

/** A compose file shoal cannot convert: every problem, each `file:line: key: message`. */
export class ComposeError extends ValidationError {
  constructor(readonly problems: ComposeProblem[]) {
    super('compose.invalid', `${problems.map(formatProblem).join('\n')}\n${problems.length} problem(s); nothing was converted`);
    this.name = 'ComposeError';
  }
}

const TOP_KEYS = ['version', 'name', 'services', 'volumes', 'networks'];

/** Normalises a project name as Compose does: lowercase letters, digits, '_' and '-', starting with a letter or digit. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

/** Converts a compose file; throws ComposeError listing every problem. */
export function convertCompose(input: ConvertInput): ConvertResult {
  const { source, problems } = parseSource(input.file, input.text);
  if (problems.length) throw new ComposeError(problems);
  const warnings: string[] = [];
  const env = { ...(input.dotEnv ?? {}), ...input.env };
  eachScalar(source, (node, line) => {
    if (typeof node.value !== 'string' || !node.value.includes('$')) return;
    try {
      const r = interpolate(node.value, env);
      node.value = r.value;
      for (const v of r.unset) warnings.push(`${input.file}:${line}: variable ${v} is not set; using an empty string`);
    } catch (e) {
      if (!(e instanceof InterpolationError)) throw e;
      problems.push({ file: input.file, line, key: '(interpolation)', message: e.message });
    }
  });
  const root = rootNode(source);
  if (!root.isMap) throw new ComposeError([...problems, root.problem('a compose file is a mapping with services:', '(top)')]);
  const unsupported = (n: CNode, why: string) => {
    const p = n.problem(why);
    if (input.ignoreUnsupported) warnings.push(`${formatProblem(p)} (ignored)`);
    else problems.push(p);
  };
  for (const [k, v] of root.entries()) if (!TOP_KEYS.includes(k) && !k.startsWith('x-')) unsupported(v, `top-level key ${k} is not supported by shoal`);

  const project = projectName(input, root, problems);
  const ctx: ServiceContext = {
    project, file: input.file, dir: input.dir, env, readFile: input.readFile, problems, unsupported,
    volumes: declared(root.get('volumes'), project, problems, unsupported),
    networks: declared(root.get('networks'), project, problems, unsupported),
  };
  if (!ctx.networks.has('default')) ctx.networks.set('default', `${project}_default`);
  const services = root.get('services');
  if (!services.isMap || services.entries().length === 0) problems.push(services.problem('needs at least one service', 'services'));
  const models: ServiceModel[] = [];
  for (const [name, svc] of services.entries()) {
    const m = convertService(ctx, name, svc);
    if (m) models.push(m);
  }
  if (problems.length === 0) placeServices(ctx, models, !!input.spread);
  if (problems.length) throw new ComposeError(problems);

  const units: ConvertedUnit[] = models.map((m) => ({
    service: m.service, name: m.draft.name, text: renderUnit(project, m.draft, posix.basename(input.file)),
  }));
  // every generated unit must pass shoal's own checks; a failure here is a converter bug, named as such
  for (const u of units) {
    try {
      parseUnit(u.name, u.text, { file: u.name });
    } catch (e) {
      if (e instanceof ValidationError) {
        const m = models.find((x) => x.service === u.service) as ServiceModel;
        throw new ComposeError([m.node.problem(`the unit generated for this service is invalid: ${e.message}`)]);
      }
      throw e;
    }
  }
  return { project, units, warnings };
}

function projectName(input: ConvertInput, root: CNode, problems: ComposeProblem[]): string {
  const raw = input.project ?? input.env.COMPOSE_PROJECT_NAME ?? (root.get('name').isScalar ? String(root.get('name').value) : undefined)
    ?? posix.basename(input.dir);
  const name = normalizeProjectName(raw);
  if (name === '') problems.push(root.get('name').problem(`project name ${JSON.stringify(raw)} has no letters or digits; give -p NAME`, 'name'));
  return name || 'x';
}

/** Top-level volumes/networks: compose name → Docker name (`<project>_<name>`, or `name:`/external as given). */
function declared(top: CNode, project: string, problems: ComposeProblem[], unsupported: (n: CNode, why: string) => void): Map<string, string> {
  const out = new Map<string, string>();
  if (top.isNull) return out;
  if (!top.isMap) { problems.push(top.problem('must be a mapping of names')); return out; }
  for (const [name, def] of top.entries()) {
    let docker = `${project}_${name}`;
    for (const [k, v] of def.entries()) {
      if (k === 'name' && v.isScalar) docker = String(v.value);
      else if (k === 'external') { if (v.value === true) docker = def.has('name') ? String(def.get('name').value) : name; }
      else if (k === 'driver' && ['local', 'bridge'].includes(String(v.value))) continue;
      else if (!k.startsWith('x-')) unsupported(v, `${k} is not supported by shoal (a volume or network is Docker's default, local to each machine)`);
    }
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(docker)) problems.push(def.problem(`Docker name ${JSON.stringify(docker)} is not valid (letters, digits, '_', '.', '-')`));
    out.set(name, docker);
  }
  return out;
}

/** The unit name of a service (checked to be a valid unit name by the caller). */
export function unitNameOf(project: string, service: string, template: boolean): string {
  return `${project}-${service}${template ? '@' : ''}.service`;
}

export { parseUnitName, type UnitDraft };
