/**
 * `shoalctl compose up|down|ps`: the verbs that talk to the cluster. A project's units are found by the
 * marker line every generated unit starts with (`# shoal-compose: project=P service=S`), so `down` and `ps`
 * also find units of services since removed from the file, and never touch other units.
 */
import type { Command } from 'commander';
import type { ApiClient } from '../../api/client';
import type { UnitFileInfo } from '../../api/messages';
import { readMarker } from '../../compose/render';
import type { ProjectFlags } from '../../compose/project';
import { CliError } from '../cli-error';
import { withClient } from '../client';
import { addBlockOptions, type BlockFlags } from '../client-block';
import { machineCell } from '../client-output';
import { runBatch } from '../client-units';
import { runTransition, type Transition } from '../client-transition';
import type { CliIO } from '../io';
import { renderTable } from '../table';

/** A compose verb's flags with those given before the verb (`compose -f FILE up`); the verb's own win. */
export function composeFlags<T>(cmd: Command): ProjectFlags & T {
  return { ...(cmd.parent?.opts() ?? {}), ...cmd.opts() } as ProjectFlags & T;
}


/**
 * The stored units of `project`, by their marker line. A group's instances (`p-s@1.service`, listed beside their
 * template with its text) are left out: the template stands for them in every verb.
 */
async function projectUnits(c: ApiClient, project: string): Promise<UnitFileInfo[]> {
  const mine = (await c.listUnitFiles()).filter((u) => readMarker(u.text)?.project === project);
  const templates = new Set(mine.filter((u) => u.template).map((u) => u.name));
  return mine.filter((u) => u.template || !templates.has(u.name.replace(/@[^@]*\.service$/, '@.service')));
}

const START: Transition = { target: 'launched', goal: 'launched', acceptFiles: false };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The project name for down/ps: -p, else the converted file's (so `down` works after the file changed). */
function projectOf(flags: ProjectFlags, io: CliIO, load: (f: ProjectFlags, io: CliIO) => { project: string }): string {
  if (flags.projectName) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { normalizeProjectName } = require('../../compose/convert') as typeof import('../../compose/convert');
    return normalizeProjectName(flags.projectName);
  }
  return load(flags, io).project;
}

/** Adds up, down and ps under `compose`. */
export function registerComposeCluster(
  compose: Command, io: CliIO, projectOptions: (c: Command) => Command,
  load: (f: ProjectFlags, io: CliIO) => ReturnType<typeof import('../../compose/project').loadProject>,
): void {
  addBlockOptions(projectOptions(compose.command('up')))
    .description('Convert, submit and start the project\'s units; on a changed file only changed units are replaced (rolling update)')
    .addHelpText('after', `
Examples:
  shoalctl compose up
  shoalctl compose -f app.yml -p shop up --no-block

Every service is converted before anything is sent: one bad service changes nothing. Units of services no longer
in the file are destroyed. Exit status: 0 when every unit is active, 1 otherwise.`)
    .action(async (_flags: unknown, cmd: Command) => {
      const flags = composeFlags<BlockFlags>(cmd);
      const r = load(flags, io);
      await withClient(cmd, io, async (c) => {
        const wanted = new Set(r.units.map((u) => u.name));
        const stale = (await projectUnits(c, r.project)).filter((u) => !wanted.has(u.name));
        if (stale.length) {
          for (const x of await runBatch(c, io, 'destroy', { action: 'DESTROY', units: stale.map((u) => ({ name: u.name })) })) {
            io.stdout.write(`Unit ${x.name} destroyed (its service left the file)\n`);
          }
        }
        const results = await runBatch(c, io, 'submit', { action: 'SUBMIT', units: r.units.map((u) => ({ name: u.name, text: u.text })), replace: true });
        for (const x of results) io.stdout.write(`Unit ${x.name} ${x.outcome === 'created' ? 'submitted' : x.outcome}\n`);
        await runTransition(c, io, r.units.map((u) => u.name), START, flags, 'start');
        // a replaced group rolls on after up returned (its instances were active, at either version)
        for (const x of results) if (x.outcome === 'replaced' && /@\.service$/.test(x.name)) io.stdout.write(`Group ${x.name} is rolling to its new version: shoalctl rollout status ${x.name}\n`);
      });
    });

  projectOptions(compose.command('down'))
    .description('Stop and destroy every unit of the project (named volumes stay, as with docker compose down)')
    .option('--timeout <s>', 'wait at most this long for the units to stop, seconds', '120')
    .addHelpText('after', `
Examples:
  shoalctl compose down
  shoalctl compose -p shop down

Exit status: 0 when the project's units are gone from every machine, 1 otherwise.`)
    .action(async (_flags: unknown, cmd: Command) => {
      const flags = composeFlags<{ timeout: string }>(cmd);
      const project = projectOf(flags, io, load);
      const timeoutMs = Number(flags.timeout) * 1000;
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new CliError(`--timeout: ${JSON.stringify(flags.timeout)} is not a number of seconds`, 2);
      await withClient(cmd, io, async (c) => {
        const units = await projectUnits(c, project);
        if (units.length === 0) { io.stdout.write(`Project ${project} has no units\n`); return; }
        for (const x of await runBatch(c, io, 'destroy', { action: 'DESTROY', units: units.map((u) => ({ name: u.name })) })) {
          io.stdout.write(`Unit ${x.name} ${x.outcome}\n`);
        }
        // wait until no machine reports any of them: their containers are stopped and removed by then
        const prefix = `${project}-`;
        const mine = (n: string) => units.some((u) => u.name === n || (u.template && n.startsWith(u.name.replace('@.service', '@'))));
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const left = (await c.listUnits()).filter((s) => s.unit.startsWith(prefix) && mine(s.unit));
          if (left.length === 0) break;
          if (Date.now() > deadline) throw new CliError(`after ${flags.timeout}s still reported: ${left.map((s) => `${s.unit} ${s.activeState} on ${machineCell(s.machine, s.machineAddress, false)}`).join(', ')}`);
          await sleep(250);
        }
        io.stdout.write(`Project ${project} is down\n`);
      });
    });

  projectOptions(compose.command('ps'))
    .description('List the project\'s units: service, unit, machine, state, health')
    .addHelpText('after', `
Examples:
  shoalctl compose ps
  shoalctl compose -p shop ps`)
    .action(async (_flags: unknown, cmd: Command) => {
      const flags = composeFlags<object>(cmd);
      const project = projectOf(flags, io, load);
      await withClient(cmd, io, async (c) => {
        const units = await projectUnits(c, project);
        const states = await c.listUnits();
        const rows: string[][] = [];
        for (const u of units) {
          const service = readMarker(u.text)?.service ?? '-';
          const base = u.template ? u.name.replace('@.service', '@') : u.name;
          const mine = states.filter((s) => (u.template ? s.unit.startsWith(base) : s.unit === u.name));
          if (mine.length === 0) rows.push([service, u.name, '-', u.desiredState || '-', '-', '-']);
          for (const s of mine) rows.push([service, s.unit, machineCell(s.machine, s.machineAddress, false), s.activeState || '-', s.subState || '-', s.health || '-']);
        }
        io.stdout.write(renderTable(['SERVICE', 'UNIT', 'MACHINE', 'ACTIVE', 'SUB', 'HEALTH'], rows));
      });
    });
}
