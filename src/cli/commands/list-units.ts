/** `shoalctl list-units`: the state agents report for each unit on each machine. */
import type { Command } from 'commander';
import type { UnitStateMsg } from '../../api/messages';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addListingOptions, machineCell, printListing, type Columns, type ListingFlags } from '../client-output';

const COLUMNS: Columns<UnitStateMsg> = {
  unit: (s) => s.unit,
  machine: (s, full) => machineCell(s.machine, s.machineAddress, full),
  load: (s) => s.loadState || '-',
  active: (s) => s.activeState || '-',
  sub: (s) => s.subState || '-',
  hash: (s, full) => (full ? s.hash : s.hash.slice(0, 7)) || '-',
  pid: (s) => (s.mainPid ? String(s.mainPid) : '-'),
  since: (s) => s.since || '-',
  health: (s) => s.health || '-',
  restarts: (s) => String(s.healthRestarts ?? 0),
};
const DEFAULTS = ['unit', 'machine', 'active', 'sub', 'health'];

/** Adds `list-units` to the program. */
export function registerListUnits(program: Command, io: CliIO): void {
  const cmd = program
    .command('list-units')
    .description('List the units running in the cluster, as their machines report them (sorted by unit, then machine)')
    .argument('[unit...]', 'only these units');
  addListingOptions(cmd, Object.keys(COLUMNS), DEFAULTS)
    .addHelpText('after', `
Examples:
  shoalctl list-units
  shoalctl list-units --fields unit,load,active,sub,hash --full
  shoalctl list-units -o json web.service`)
    .action(async (units: string[], flags: ListingFlags, c: Command) => {
      const rows = await withClient(c, io, (client) => client.listUnits(units));
      printListing(io, flags, COLUMNS, DEFAULTS, rows, (s) => s);
    });
}
