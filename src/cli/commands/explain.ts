/** `shoalctl explain UNIT`: where a unit is (or would be) placed, and why other machines were refused. */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { shortMachine } from '../client-output';
import { renderTable } from '../table';

/** Adds `explain` to the program. */
export function registerExplain(program: Command, io: CliIO): void {
  program
    .command('explain')
    .description('Explain the placement of a unit: the chosen machine, or every machine\'s refusal')
    .argument('<unit>', 'unit name')
    .option('-l, --full', 'full machine ids')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExamples:\n  shoalctl explain web.service\n  shoalctl explain -o json db.service')
    .action(async (unit: string, opts: { full?: boolean; output: string }, c: Command) => {
      const ex = await withClient(c, io, (client) => client.explain(unit));
      if (opts.output === 'json') {
        io.stdout.write(JSON.stringify(ex, null, 2) + '\n');
        return;
      }
      const full = !!opts.full;
      io.stdout.write(`${ex.unit}: ${ex.summary}\n`);
      if (ex.machine) io.stdout.write(`machine: ${shortMachine(ex.machine, full)}\n`);
      if (ex.machines.length) io.stdout.write(`machines: ${ex.machines.map((m) => shortMachine(m, full)).join(', ')}\n`);
      if (ex.strategy) io.stdout.write(`strategy: ${ex.strategy}\n`);
      if (ex.details.length) {
        // best first, as the scheduler ranks them: the chosen one is marked, refusals give the first failing filter
        const rows = ex.details.map((d) => {
          const bad = d.filters.find((f) => !f.ok);
          const why = bad ? `${bad.plugin}: ${bad.reason}` : d.scores.map((s) => `${s.plugin}=${s.score.toFixed(1)}`).join(' ');
          return [`${d.chosen ? '*' : ' '}${shortMachine(d.machine, full)}`, d.passes ? 'yes' : 'no', d.passes ? d.total.toFixed(1) : '-', why];
        });
        io.stdout.write(renderTable([' MACHINE', 'FITS', 'SCORE', 'WHY'], rows));
      } else if (ex.rejections.length) {
        io.stdout.write(renderTable(['MACHINE', 'FILTER', 'REASON'], ex.rejections.map((r) => [shortMachine(r.machine, full), r.plugin, r.reason])));
      }
    });
}
