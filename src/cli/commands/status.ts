/** `shoalctl status UNIT...`: `systemctl status` of units, from the machines that run them (no SSH). */
import type { Command } from 'commander';
import { CliError } from '../cli-error';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { shortMachine } from '../client-output';
import { runProgress } from '../../jobs/types';

/** Adds `status` to the program. */
export function registerStatus(program: Command, io: CliIO): void {
  program
    .command('status')
    .description('Show systemctl status of units, as the agent of each machine that runs them sees it')
    .argument('<unit...>', 'unit names')
    .option('--machine <id>', 'only this machine (id or unique prefix)')
    .addHelpText('after', `
Examples:
  shoalctl status web.service
  shoalctl status --machine 4a2b3c4d global-agent.service

Exit status: 0 when every unit is active (a batch unit: its job has not failed), 1 otherwise (systemctl's
answer is printed either way). A batch unit's job (shoalctl jobs) is printed first.`)
    .action(async (units: string[], opts: { machine?: string }, c: Command) => {
      const bad: string[] = [];
      await withClient(c, io, async (client) => {
        for (const u of units) {
          // a batch unit: its job first (a finished run is no longer loaded anywhere)
          const job = (await client.listJobs(u).catch(() => [])).find((j) => j.unit === u);
          if (job) io.stdout.write(`job: ${job.status} (${job.kind}${job.kind === 'run' ? `, ${runProgress(job)}` : ''}): ${job.message}\n`);
          let all;
          try {
            all = await client.unitStatus(u, { machine: opts.machine });
          } catch (err) {
            if (job && (err as { code?: string }).code === 'unit.not-running') {
              if (job.status === 'failed') bad.push(`${u} (job failed)`);
              continue;
            }
            throw err;
          }
          for (const s of all) {
            if (all.length > 1) io.stdout.write(`# ${u} on ${shortMachine(s.machine, false)}\n`);
            io.stdout.write(s.text.endsWith('\n') ? s.text : `${s.text}\n`);
            if (s.exitCode !== 0 && !(job && job.status !== 'failed')) bad.push(`${u} on ${shortMachine(s.machine, false)} (systemctl status exited ${s.exitCode})`);
          }
        }
      });
      if (bad.length) throw new CliError(`not active: ${bad.join(', ')}; see shoalctl journal UNIT`);
    });
}
