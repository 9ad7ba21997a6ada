/**
 * Units that systemd itself starts on a machine, as under fleet: `[Install] WantedBy=` (the agent enables
 * units in the runtime scope) and socket activation (a launched `.socket`, its `.service` loaded beside it
 * with MachineOf=), through a machine loss.
 */
import { ScenarioFailure } from './cluster';
import { sleep, without, type ScenarioContext, type Scenario } from './scenario';
import { finalCheck } from './scenarios-node';
import { UNIT_PREFIX, type ScenarioUnit } from './units';

const SLACK_MS = 20_000;
const PORT = 7787;

/** Units these scenarios add to the base set (not in ctx.units: the base checks do not know them). */
function extra(name: string, text: string, desired: ScenarioUnit['desired']): ScenarioUnit {
  return { name, text, desired, global: false };
}

/** The node (of `nodes`) where `unit` is active, per systemd; undefined when none. */
async function activeOn(ctx: ScenarioContext, nodes: string[], unit: string): Promise<string | undefined> {
  for (const n of nodes) if ((await ctx.cluster.systemdView(n, [unit])).get(unit)?.active === 'active') return n;
  return undefined;
}

async function active(ctx: ScenarioContext, node: string, unit: string): Promise<boolean> {
  return (await ctx.cluster.systemdView(node, [unit])).get(unit)?.active === 'active';
}

/** One connection to the port inside `node`; resolves with the answer ('' when refused). */
async function ask(ctx: ScenarioContext, node: string): Promise<string> {
  const js = `require('net').connect(${PORT}, '127.0.0.1').on('data', (d) => process.stdout.write(d)).on('error', () => process.exit(1))`;
  const r = await ctx.platform.exec(node, ['node', '-e', js]);
  return r.code === 0 ? r.stdout.trim() : '';
}

async function cleanUp(ctx: ScenarioContext, units: ScenarioUnit[]): Promise<void> {
  for (const u of units) await ctx.cluster.reg.destroyUnit(u.name).catch(() => undefined);
}

const socket = `${UNIT_PREFIX}echo.socket`;
const service = `${UNIT_PREFIX}echo.service`;
const socketUnits = [
  extra(socket, `[Unit]\nDescription=scenario socket\n\n[Socket]\nListenStream=${PORT}\n`, 'launched'),
  extra(service, [
    '[Unit]', `Requires=${socket}`, `After=${socket}`, '',
    '[Service]', "ExecStart=/usr/bin/node -e \"require('net').createServer((c) => c.end(require('os').hostname())).listen({ fd: 3 })\"", '',
    '[X-Fleet]', `MachineOf=${socket}`, '',
  ].join('\n'), 'loaded'),
];

const socketActivation: Scenario = {
  name: 'socket-activation',
  title: 'a launched .socket with its .service loaded beside it: a connection starts the service; after its machine dies the pair moves and listens again',
  async run(ctx) {
    const { cluster, platform } = ctx;
    try {
      await cluster.submit(socketUnits);
      const host = await cluster.waitFor(`${socket} listening`, SLACK_MS, () => activeOn(ctx, platform.nodes, socket));
      const name = (await platform.exec(host, ['hostname'])).stdout.trim();
      const first = await ask(ctx, host);
      if (first !== name) throw new ScenarioFailure(`connection to ${socket} on ${host}: answer ${JSON.stringify(first)}, expected ${name}`);
      if (!(await active(ctx, host, service))) throw new ScenarioFailure(`${service} not active on ${host} after a connection`);
      await sleep(2000); // the agent's passes must leave a loaded unit that systemd started alone
      if (!(await active(ctx, host, service))) throw new ScenarioFailure(`${service} (desired loaded, socket-activated) was stopped on ${host}`);
      const t0 = Date.now();
      await platform.killNode(host);
      const rest = without(platform.nodes, host);
      const next = await cluster.waitFor(`${socket} listening elsewhere`, ctx.ttlMs + SLACK_MS, () => activeOn(ctx, rest, socket));
      const nextName = (await platform.exec(next, ['hostname'])).stdout.trim();
      const answer = await cluster.waitFor(`${service} answers on ${next}`, SLACK_MS, async () => ((await ask(ctx, next)) === nextName ? true : undefined));
      const ms = Date.now() - t0;
      if (!answer || !(await active(ctx, next, service))) throw new ScenarioFailure(`${service} not started on ${next} by a connection`);
      ctx.note(`pair moved ${host} -> ${next}; answering again ${ms} ms after the kill`);
      await platform.startNode(host);
      await cleanUp(ctx, socketUnits);
      return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
    } finally {
      await cleanUp(ctx, socketUnits);
    }
  },
};

const hello = `${UNIT_PREFIX}hello.service`;
const discovery = `${UNIT_PREFIX}discovery.service`;
const installUnits = [
  extra(hello, '[Service]\nExecStart=/usr/bin/sleep infinity\n', 'loaded'),
  extra(discovery, [
    '[Unit]', `BindsTo=${hello}`, `After=${hello}`, '',
    '[Service]', 'ExecStart=/usr/bin/sleep infinity', '',
    '[Install]', `WantedBy=${hello}`, '',
    '[X-Fleet]', `MachineOf=${hello}`, '',
  ].join('\n'), 'loaded'),
];

const installWantedBy: Scenario = {
  name: 'install-wantedby',
  title: '[Install] WantedBy= honoured: starting hello starts its loaded sidekick there; stopping it stops the sidekick (BindsTo=)',
  async run(ctx) {
    const { cluster, platform } = ctx;
    try {
      await cluster.submit(installUnits);
      const host = await cluster.waitFor('both loaded on one machine', SLACK_MS, async () => {
        for (const n of platform.nodes) {
          const v = await cluster.systemdView(n, [hello, discovery]);
          if (v.get(hello)?.load === 'loaded' && v.get(discovery)?.load === 'loaded') return n;
        }
        return undefined;
      });
      const t0 = Date.now();
      await cluster.reg.setDesired(hello, 'launched');
      await cluster.waitFor(`${discovery} started with ${hello} on ${host}`, SLACK_MS, async () => ((await active(ctx, host, discovery)) ? true : undefined));
      const ms = Date.now() - t0;
      await sleep(2000);
      if (!(await active(ctx, host, discovery))) throw new ScenarioFailure(`${discovery} (desired loaded, wanted by ${hello}) was stopped`);
      await cluster.reg.setDesired(hello, 'loaded');
      await cluster.waitFor(`${discovery} stopped with ${hello}`, SLACK_MS, async () => ((await active(ctx, host, discovery)) ? undefined : true));
      ctx.note(`${discovery} started ${ms} ms after ${hello} was launched, on ${host}`);
      await cleanUp(ctx, installUnits);
      return { recoveryMs: ms, verdict: (await finalCheck(ctx)).verdict };
    } finally {
      await cleanUp(ctx, installUnits);
    }
  },
};

/** Units systemd starts itself: [Install] and socket activation. */
export const unitScenarios: Scenario[] = [installWantedBy, socketActivation];
