/** `shoalctl list-units`: the state agents report for each unit on each machine. */
import type { Command } from 'commander';
import type { UnitStateMsg } from '../../api/messages';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addListingOptions, machineCell, printListing, type Columns, type ListingFlags, warnBadKeys } from '../client-output';

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
  reason: (s) => s.reason || '-',
  // real use from cgroup accounting, as the unit's machine last reported it
  'cpu-use': (s) => (s.usageReported ? `${s.cpuUseMillis ?? 0}m` : '-'),
  'mem-use': (s) => (s.usageReported ? `${Math.round((s.memoryUseBytes ?? 0) / (1 << 20))}Mi` : '-'),
};
const DEFAULTS = ['unit', 'machine', 'active', 'sub', 'health'];
/** The default columns plus REASON when an agent reported one: a unit that cannot run says why. */
const DEFAULTS_WITH_REASON = [...DEFAULTS, 'reason'];

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
  shoalctl list-units --fields unit,machine,cpu-use,mem-use
  shoalctl list-units -o json web.service`)
    .action(async (units: string[], flags: ListingFlags, c: Command) => {
      const rows = await withClient(c, io, (client) => client.listUnits(units, warnBadKeys(io)));
      printListing(io, flags, COLUMNS, rows.some((s) => s.reason) ? DEFAULTS_WITH_REASON : DEFAULTS, rows, (s) => s);
    });
}
