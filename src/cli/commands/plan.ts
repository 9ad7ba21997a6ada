/** `shoalctl plan --machines FILE UNIT...`: a scheduling dry run, local, no cluster needed. */
import type { Command } from 'commander';
import { CliError, EXIT_USAGE } from '../cli-error';
import type { CliIO } from '../io';
import { readUnitFileArg } from '../unit-files';
import { renderTable } from '../table';
import { ShoalError } from '../../errors';
import { instanceName, isTemplate } from '../../units/unit-name';
import type { Rejection, Snapshot, SnapshotUnit } from '../../engine/types';
import type { GlobalPlacement } from '../../engine/plan-explain';
import { PLACEMENT_STRATEGIES, type PlacementStrategy } from '../../units/types';

/** Adds `plan` to the program. */
export function registerPlan(program: Command, io: CliIO): void {
  program
    .command('plan')
    .description('Dry run: show where the leader engine would place units on a set of machines, and why the rest fit nowhere')
    .requiredOption('-m, --machines <file>', 'TOML file of [[machine]] tables: id, metadata = {k = "v"}, cpu, memory')
    .option('-s, --strategy <name>', `placement strategy: ${PLACEMENT_STRATEGIES.join(', ')}`, 'least-loaded')
    .option('--no-legend', 'do not print the header line')
    .argument('<unit-file...>', 'unit files to place (templates are listed, not placed)')
    .addHelpText('after', `
Examples:
  shoalctl plan --machines machines.toml units-examples/*.service
  shoalctl plan -m machines.toml --strategy binpack web.service db.service

machines.toml:
  [[machine]]
  id = "node1"
  metadata = { region = "east" }
  cpu = "4"
  memory = "8G"`)
    .action((files: string[], opts: { machines: string; strategy: string; legend: boolean }) => {
      if (!(PLACEMENT_STRATEGIES as readonly string[]).includes(opts.strategy)) {
        throw new CliError(`unknown strategy "${opts.strategy}" (one of ${PLACEMENT_STRATEGIES.join(', ')})`, EXIT_USAGE);
      }
      // the scheduler, the unit parser and the TOML reader load only when plan runs (shoalctl's other verbs start faster)
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { plan } = require('../../engine/plan') as typeof import('../../engine/plan');
      const { parseUnit } = require('../../units/unit') as typeof import('../../units/unit');
      const { readMachinesFile } = require('../machines-file') as typeof import('../machines-file');
      const { globalPlacement } = require('../../engine/plan-explain') as typeof import('../../engine/plan-explain');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const machines = readMachinesFile(opts.machines, io.cwd);
      const units: SnapshotUnit[] = files.map((path) => {
        const arg = readUnitFileArg(path, io.cwd);
        try {
          return { spec: parseUnit(arg.name, arg.text, { file: arg.file }), desired: 'launched' };
        } catch (err) {
          if (err instanceof ShoalError) throw new CliError(err.message.startsWith(path) ? err.message : `${path}: ${err.message}`);
          throw err;
        }
      });
      const snap: Snapshot = { units, machines, schedule: {}, strategy: opts.strategy as PlacementStrategy };
      const result = plan(snap);
      const placed = new Map<string, { machine: string; reason: string }>();
      const final: Record<string, string> = {};
      for (const d of result.decisions) {
        if (d.kind === 'place') placed.set(d.unit, d);
        else if (d.kind === 'move') placed.set(d.unit, { machine: d.to, reason: d.reason });
        if (d.kind !== 'unschedule') final[d.unit] = d.kind === 'place' ? d.machine : d.to;
      }
      const rows: string[][] = [];
      for (const u of [...units].sort((a, b) => a.spec.name.localeCompare(b.spec.name))) {
        const name = u.spec.name;
        const d = placed.get(name);
        if (d) rows.push([name, d.machine, d.reason]);
        else if (isTemplate(name)) rows.push([name, '-', `template: not placed itself; start instances such as ${instanceName(name, '1')}`]);
        else if (u.spec.options.global) rows.push([name, '(global)', globalRow(globalPlacement(snap, name, final), machines.length)]);
      }
      io.stdout.write(renderTable(['UNIT', 'MACHINE', 'REASON'], rows, { noLegend: !opts.legend }));
      for (const { unit, rejections, reason } of result.unplaceable) {
        // A follower refused by its target's machine has its own reason (it does not "fit nowhere").
        if (rejections.length === 0 || rejections.length < machines.length) io.stdout.write(`${unit}: not placed: ${reason ?? summarize(rejections)}\n`);
        else io.stdout.write(`${unit}: fits nowhere: ${summarize(rejections)}\n`);
      }
    });
}

/** A global's row: the machines it runs on (the engine's and agents' model), or why it runs on none. */
function globalRow(g: GlobalPlacement, machines: number): string {
  // Machines kept off, grouped by reason and named (a reason alone does not say which machine it is about).
  const by = new Map<string, string[]>();
  for (const k of g.keptOff) by.set(k.reason, [...(by.get(k.reason) ?? []), k.machine]);
  const why = [...by].map(([reason, ms]) => `${reason} (${ms.join(', ')})`).join('; ');
  if (g.runs.length) return `runs on ${g.runs.length} of ${machines} machine(s): ${g.runs.join(', ')}${why ? `; kept off: ${why}` : ''}`;
  return `runs on no machine${why ? `: ${why}` : ''}`;
}

/** "conflicts on 2 machines (conflicts with lb@1.service), resources on 1 machine (...)". */
function summarize(rejections: Rejection[]): string {
  if (rejections.length === 0) return 'no machines';
  const groups = new Map<string, { plugin: string; reason: string; machines: string[] }>();
  for (const r of rejections) {
    const key = `${r.plugin}\0${r.reason}`;
    const g = groups.get(key) ?? { plugin: r.plugin, reason: r.reason, machines: [] };
    g.machines.push(r.machine);
    groups.set(key, g);
  }
  return [...groups.values()]
    .map((g) => `${g.plugin} on ${g.machines.length === 1 ? g.machines[0] : `${g.machines.length} machines`} (${g.reason})`)
    .join('; ');
}
