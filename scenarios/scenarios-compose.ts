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
const FILE = '/opt/shoal/scenarios/compose/compose.yaml';
const URL = 'http://127.0.0.1:8093/cgi-bin/index.cgi';
const SLACK_MS = 30_000;

async function sh(ctx: ScenarioContext, node: string, script: string): Promise<string> {
  const r = await ctx.platform.exec(node, ['sh', '-c', script]);
  if (r.code !== 0) throw new ScenarioFailure(`on ${node}: ${script}: exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 400)}`);
  return r.stdout;
}

/** The image: localbusybox with the scenario's web roots in /www (a build without a registry or a builder; ~1 s, so always). */
async function buildImage(ctx: ScenarioContext, node: string): Promise<void> {
  await sh(ctx, node, `c=$(docker create localbusybox:latest true) && docker cp /opt/shoal/scenarios/compose/www/. "$c:/www" &&
    docker commit "$c" ${IMAGE} >/dev/null; s=$?; docker rm -f "$c" >/dev/null; exit $s`);
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

/** What Docker holds of the project: containers (by the compose label), networks, volumes. */
async function leftovers(ctx: ScenarioContext, node: string) {
  const lines = (s: string) => s.split('\n').map((x) => x.trim()).filter(Boolean);
  return {
    containers: lines(await sh(ctx, node, `docker ps -aq --filter label=com.docker.compose.project=${PROJECT}`)),
    networks: lines(await sh(ctx, node, `docker network ls -q --filter name=${PROJECT}_`)),
    volumes: lines(await sh(ctx, node, 'docker volume ls -q')),
  };
}

const composeProject: Scenario = {
  name: 'compose',
  title: 'a compose project (web, api, db) comes up, answers, moves together after a node kill, and goes down clean',
  async run(ctx) {
    const { platform } = ctx;
    const [first] = platform.nodes;
    for (const n of platform.name === 'testbed' ? [first] : platform.nodes) await buildImage(ctx, n); // the testbed's nodes share one engine
    await sh(ctx, first, `docker volume rm -f ${PROJECT}_data >/dev/null`);
    const volumesBefore = (await leftovers(ctx, first)).volumes;

    const up = await sh(ctx, first, `/opt/shoal/bin/shoalctl compose up -f ${FILE}`);
    ctx.note(`compose up: ${up.trim().split('\n').join('; ')}`);
    const home = await together(ctx, undefined, 60_000);
    ctx.note(`web, api and db run on ${home} and web answers on 8093 with what it read from api and db`);

    // a changed file: only web's unit changes (its environment), so only web is replaced
    const again = await sh(ctx, first, `SCN_GREETING=v2 /opt/shoal/bin/shoalctl compose up -f ${FILE}`);
    for (const [u, outcome] of [['web', 'replaced'], ['api', 'unchanged'], ['db', 'unchanged']]) {
      if (!again.includes(`Unit ${PROJECT}-${u}.service ${outcome}`)) throw new ScenarioFailure(`second compose up: expected ${u} ${outcome}:\n${again}`);
    }
    const home2 = await together(ctx, undefined, 60_000, 'v2');
    ctx.note(`compose up with SCN_GREETING=v2: web replaced, api and db unchanged; web answers v2 on ${home2}`);

    const t0 = Date.now();
    if (home2 !== home) throw new ScenarioFailure(`the project moved from ${home} to ${home2} on a replace`);
    await platform.killNode(home);
    const next = await together(ctx, home, ctx.ttlMs + SLACK_MS, 'v2');
    const recoveryMs = Date.now() - t0;
    const page = (await platform.exec(next, ['curl', '-sf', '-m', '3', URL])).stdout;
    ctx.note(`killed ${home}: the project moved together to ${next} in ${recoveryMs} ms; web answers: ${page.trim().split('\n').join(' | ')}`);
    await platform.startNode(home);

    const live = without(platform.nodes, home)[0];
    const ps = await sh(ctx, live, `/opt/shoal/bin/shoalctl compose ps -f ${FILE}`);
    if (UNITS.some((u) => !ps.includes(u))) throw new ScenarioFailure(`compose ps does not list every unit:\n${ps}`);
    await sh(ctx, live, `/opt/shoal/bin/shoalctl compose down -f ${FILE}`);
    // the killed node's containers outlived it on the shared engine: its agent removes them once it is back
    const left = await ctx.cluster.waitFor('no container or network of the project left', 60_000, async () => {
      const l = await leftovers(ctx, live);
      return l.containers.length === 0 && l.networks.length === 0 ? l : undefined;
    });
    const added = left.volumes.filter((v) => !volumesBefore.includes(v));
    if (added.join() !== `${PROJECT}_data`) throw new ScenarioFailure(`volumes left besides the named one: ${added.join(', ') || 'none (the named volume is gone too)'}`);
    ctx.note(`compose down: no container or network left; the named volume ${PROJECT}_data stays (removed now by the scenario)`);
    await sh(ctx, live, `docker volume rm ${PROJECT}_data >/dev/null`);
    return { recoveryMs, verdict: (await finalCheck(ctx)).verdict };
  },
};

/** The compose scenarios. */
export const composeScenarios: Scenario[] = [composeProject];
