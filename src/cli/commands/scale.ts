/** `shoalctl scale TEMPLATE COUNT`: set how many instances a group keeps launched. */
import type { Command } from 'commander';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { CliError, EXIT_USAGE } from '../cli-error';
import { isTemplate } from '../../units/unit-name';

/** As src/units/group-options.ts (not imported: it would load the unit parser into every shoalctl run). */
const MAX_INSTANCES = 10_000;

/** Adds `scale` to the program. */
export function registerScale(program: Command, io: CliIO): void {
  program
    .command('scale')
    .description("Set a group's instance count (instances 1..N; scaling down removes the highest-numbered first)")
    .argument('<template>', 'a template, e.g. web@.service')
    .argument('<count>', `0 to ${MAX_INSTANCES}`)
    .addHelpText('after', `
The count lives beside the template in etcd (groups/<template>): the unit file and its hash do not change.

Examples:
  shoalctl scale web@.service 5
  shoalctl scale web@.service 0`)
    .action(async (template: string, count: string, _o: unknown, c: Command) => {
      if (!isTemplate(template)) throw new CliError(`${template} is not a template (name@.service): only a group's template can be scaled`, EXIT_USAGE);
      if (!/^\d+$/.test(count) || Number(count) > MAX_INSTANCES) throw new CliError(`count ${JSON.stringify(count)} is not a whole number from 0 to ${MAX_INSTANCES}`, EXIT_USAGE);
      const r = await withClient(c, io, (client) => client.scaleGroup(template, Number(count)));
      io.stdout.write(`Scaled ${template} from ${r.previous} to ${r.count} instances\n`);
    });
}
