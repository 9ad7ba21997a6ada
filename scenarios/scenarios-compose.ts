/**
 * A Docker Compose project on the cluster (docs/compose.md, issue 14): scenarios/compose/compose.yaml (web in
 * front of api and db, one busybox-based image built here from localbusybox, no registry) comes up with
 * `shoalctl compose up` run on a node, answers on its published port with what web reads from api and db by
 * their service names, moves together when its machine is killed, and `shoalctl compose down` leaves no
 * container or network behind, only its named volume.
 */
import { ScenarioFailure } from './cluster';
import { without, type Scenario, type ScenarioContext } from './scenario';
import { finalCheck } from './scenarios-node';

const PROJECT = 'scncompose';
const UNITS = ['api', 'db', 'web'].map((s) => `${PROJECT}-${s}.service`);
const IMAGE = 'shoal-scn-compose:1';
const NAMED = `${PROJECT}_data`;
const FILE = '/opt/shoal/scenarios/compose/compose.yaml';
const URL = 'http://127.0.0.1:8093/cgi-bin/index.cgi';
const SLACK_MS = 30_000;

async function sh(ctx: ScenarioContext, node: string, script: string): Promise<string> {
  const r = await ctx.platform.exec(node, ['sh', '-c', script]);
  if (r.code !== 0) throw new ScenarioFailure(`on ${node}: ${script}: exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 400)}`);
  return r.stdout;
}

/**
 * The image: localbusybox with the scenario's web roots in /www (a build without a registry or a builder; ~1 s,
 * so always), and a VOLUME as images often declare one: every container gets an anonymous volume, which must go
 * with its container.
 */
async function buildImage(ctx: ScenarioContext, node: string): Promise<void> {
  await sh(ctx, node, `c=$(docker create localbusybox:latest true) && docker cp /opt/shoal/scenarios/compose/www/. "$c:/www" &&
    docker commit --change 'VOLUME /cache' "$c" ${IMAGE} >/dev/null; s=$?; docker rm -f "$c" >/dev/null; exit $s`);
}

/** The node each project unit is active on (every unit must be active exactly once). */
async function placement(ctx: ScenarioContext): Promise<Map<string, string> | undefined> {
  const byId = new Map<string, string>();
  for (const n of ctx.platform.nodes) byId.set(await ctx.cluster.machineId(n), n);
  const states = (await ctx.cluster.reg.listStates()).value.filter((s) => UNITS.includes(s.unit) && s.state.activeState === 'active');
  const out = new Map<string, string>();
  for (const s of states) {
    if (out.has(s.unit)) return undefined; // active twice: not settled
    out.set(s.unit, byId.get(s.machine) ?? s.machine);
  }
  return out.size === UNITS.length ? out : undefined;
}

/** The project units' journals and containers, to say why a wait failed. */
async function diagnose(ctx: ScenarioContext): Promise<string> {
  const out: string[] = [];
  for (const n of ctx.platform.nodes) {
    if (!(await ctx.platform.isRunning(n))) continue;
    const j = await ctx.platform.exec(n, ['journalctl', '--no-pager', '-n', '25', '-u', `${PROJECT}-*`]);
    out.push(`--- ${n} journal:\n${j.stdout.trim()}`);
  }
  const live = (await Promise.all(ctx.platform.nodes.map(async (n) => ((await ctx.platform.isRunning(n)) ? n : undefined)))).find(Boolean);
  if (live) out.push(`--- containers:\n${(await ctx.platform.exec(live, ['docker', 'ps', '-a', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Names}} {{.Status}}'])).stdout.trim()}`);
  return out.join('\n');
}

/** Waits until the three run together on one node other than `not` and web answers there (with `greeting`); returns the node. */
async function together(ctx: ScenarioContext, not: string | undefined, timeoutMs: number, greeting = 'v1'): Promise<string> {
  try {
    return await waitTogether(ctx, not, timeoutMs, greeting);
  } catch (e) {
    if (e instanceof ScenarioFailure) throw new ScenarioFailure(`${e.message}\n${await diagnose(ctx)}`);
    throw e;
  }
}

async function waitTogether(ctx: ScenarioContext, not: string | undefined, timeoutMs: number, greeting: string): Promise<string> {
  return ctx.cluster.waitFor(`the project together on one node${not ? ` other than ${not}` : ''}, answering on 8093`, timeoutMs, async () => {
    const p = await placement(ctx);
    const nodes = new Set(p?.values());
    if (!p || nodes.size !== 1) return undefined;
    const [node] = nodes;
    if (node === not) return undefined;
    const r = await ctx.platform.exec(node, ['curl', '-sf', '-m', '3', URL]);
    return r.code === 0 && r.stdout.includes(`web: ok ${greeting}`) && /api: api-ok/.test(r.stdout) && /db: boots=\d+/.test(r.stdout) ? node : undefined;
  });
}

const lines = (s: string) => s.split('\n').map((x) => x.trim()).filter(Boolean);

/**
 * What Docker holds of the project: containers (by the compose label) and the networks of this cluster's
 * machines (on the testbed's shared engine a project network is `<name>-<machine id 12>`, docs/compose.md).
 */
async function leftovers(ctx: ScenarioContext, node: string, machines: string[]) {
  return {
    containers: lines(await sh(ctx, node, `docker ps -aq --filter label=com.docker.compose.project=${PROJECT}`)),
    networks: lines(await sh(ctx, node, `docker network ls --format '{{.Name}}' --filter name=${PROJECT}_`))
      .filter((n) => machines.some((m) => n.endsWith(m.slice(0, 12)) || !/-[0-9a-f]{12}$/.test(n))),
  };
}

/** The volumes the project's containers use now (named and anonymous). */
async function volumesInUse(ctx: ScenarioContext, node: string): Promise<string[]> {
  return lines(await sh(ctx, node, `for c in $(docker ps -aq --filter label=com.docker.compose.project=${PROJECT}); do
    docker inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}}{{"\\n"}}{{end}}{{end}}' $c; done`));
}

const composeProject: Scenario = {
  name: 'compose',
  title: 'a compose project (web, api, db) comes up, answers, moves together after a node kill, and goes down clean',
  async run(ctx) {
    const { platform } = ctx;
    const [first] = platform.nodes;
    for (const n of platform.name === 'testbed' ? [first] : platform.nodes) await buildImage(ctx, n); // the testbed's nodes share one engine
    await sh(ctx, first, `docker volume rm -f ${NAMED} >/dev/null`);
    const machines = await Promise.all(platform.nodes.map((n) => ctx.cluster.machineId(n)));

    const up = await sh(ctx, first, `/opt/shoal/bin/shoalctl compose up -f ${FILE}`);
    ctx.note(`compose up: ${up.trim().split('\n').join('; ')}`);
    const home = await together(ctx, undefined, 60_000);
    const volumes = new Set(await volumesInUse(ctx, first));
    ctx.note(`web, api and db run on ${home} and web answers on 8093 with what it read from api and db; volumes: ${[...volumes].join(' ')}`);

    // a changed file: only web's unit changes (its environment), so only web is replaced
    const again = await sh(ctx, first, `SCN_GREETING=v2 /opt/shoal/bin/shoalctl compose up -f ${FILE}`);
    for (const [u, outcome] of [['web', 'replaced'], ['api', 'unchanged'], ['db', 'unchanged']]) {
      if (!again.includes(`Unit ${PROJECT}-${u}.service ${outcome}`)) throw new ScenarioFailure(`second compose up: expected ${u} ${outcome}:\n${again}`);
    }
    const home2 = await together(ctx, undefined, 60_000, 'v2');
    if (home2 !== home) throw new ScenarioFailure(`the project moved from ${home} to ${home2} on a replace`);
    ctx.note(`compose up with SCN_GREETING=v2: web replaced, api and db unchanged; web answers v2 on ${home2}`);
    for (const v of await volumesInUse(ctx, first)) volumes.add(v);

    const t0 = Date.now();
    await platform.killNode(home);
    const next = await ctx.cluster.waitFor(`the project active together on a node other than ${home}`, ctx.ttlMs + SLACK_MS, async () => {
      const nodes = new Set((await placement(ctx))?.values());
      const [n] = nodes;
      return nodes.size === 1 && n !== home ? n : undefined;
    }).catch(async (e) => { throw new ScenarioFailure(`${(e as Error).message}\n${await diagnose(ctx)}`); });
    const moveMs = Date.now() - t0;
    await together(ctx, home, SLACK_MS, 'v2');
    const recoveryMs = Date.now() - t0;
    const page = (await platform.exec(next, ['curl', '-sf', '-m', '3', URL])).stdout;
    ctx.note(`killed ${home}: the project was active together on ${next} after ${moveMs} ms and answered there after ${recoveryMs} ms: ${page.trim().split('\n').join(' | ')}`);
    for (const v of await volumesInUse(ctx, next)) volumes.add(v);
    await platform.startNode(home);

    const live = without(platform.nodes, home)[0];
    const ps = await sh(ctx, live, `/opt/shoal/bin/shoalctl compose ps -f ${FILE}`);
    if (UNITS.some((u) => !ps.includes(u))) throw new ScenarioFailure(`compose ps does not list every unit:\n${ps}`);
    await sh(ctx, live, `/opt/shoal/bin/shoalctl compose down -f ${FILE}`);
    // the killed node's containers outlived it on the shared engine: its agent removes them (and its project
    // network) when it starts again; the others' go with their units
    const t1 = Date.now();
    let last = await leftovers(ctx, live, machines);
    await ctx.cluster.waitFor('no container or network of the project left', 60_000, async () => {
      last = await leftovers(ctx, live, machines);
      return last.containers.length === 0 && last.networks.length === 0 ? last : undefined;
    }).catch(async (e) => {
      throw new ScenarioFailure(`${(e as Error).message}; left: containers ${last.containers.join(' ') || 'none'}, networks ${last.networks.join(' ') || 'none'}\n${await diagnose(ctx)}`);
    });
    const existing = new Set(lines(await sh(ctx, live, 'docker volume ls -q')));
    const anonymous = [...volumes].filter((v) => v !== NAMED);
    if (anonymous.length === 0) throw new ScenarioFailure(`the project's containers used no anonymous volume (the image's VOLUME /cache): ${[...volumes].join(' ')}`);
    const kept = anonymous.filter((v) => existing.has(v));
    if (kept.length) throw new ScenarioFailure(`anonymous volumes left after compose down: ${kept.join(' ')}`);
    if (!existing.has(NAMED)) throw new ScenarioFailure(`the named volume ${NAMED} is gone after compose down (it must stay)`);
    ctx.note(`compose down: no container or network left after ${Date.now() - t1} ms; ${anonymous.length} anonymous volumes gone; the named volume ${NAMED} stays (removed now by the scenario)`);
    await sh(ctx, live, `docker volume rm ${NAMED} >/dev/null`);
    return { recoveryMs, verdict: (await finalCheck(ctx)).verdict };
  },
};

/** The compose scenarios. */
export const composeScenarios: Scenario[] = [composeProject];
