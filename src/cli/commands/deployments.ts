/** `shoalctl deployments [UNIT]`: the latest deployment of every group and unit. */
import type { Command } from 'commander';
import type { DeploymentMsg } from '../../api/messages';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addListingOptions, printListing, type Columns, type ListingFlags } from '../client-output';

const COLUMNS: Columns<DeploymentMsg> = {
  unit: (d) => d.unit,
  id: (d) => d.id,
  from: (d, full) => (full ? d.fromHash : d.fromHash.slice(0, 7)) || '-',
  to: (d, full) => (full ? d.toHash : d.toHash.slice(0, 7)),
  status: (d) => d.status,
  step: (d) => `${d.step}/${d.steps}`,
  healthy: (d) => `${d.healthy}/${d.total}`,
  message: (d) => d.message,
};
const DEFAULTS = ['unit', 'from', 'to', 'status', 'step', 'healthy', 'message'];

/** Adds `deployments` to the program. */
export function registerDeployments(program: Command, io: CliIO): void {
  const cmd = program
    .command('deployments')
    .description('List the latest deployment of every group and unit (rolling updates; see docs/groups.md)')
    .argument('[unit]', 'only this unit');
  addListingOptions(cmd, Object.keys(COLUMNS), DEFAULTS)
    .addHelpText('after', `
Examples:
  shoalctl deployments
  shoalctl deployments web@.service -o json`)
    .action(async (unit: string | undefined, flags: ListingFlags, c: Command) => {
      const rows = await withClient(c, io, (client) => client.listDeployments(unit ?? ''));
      printListing(io, flags, COLUMNS, DEFAULTS, rows, (d) => d);
    });
}
