/** `shoalctl list-unit-files`: every submitted unit with its desired state, current state and target machine. */
import type { Command } from 'commander';
import type { UnitFileInfo } from '../../api/messages';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addListingOptions, machineCell, printListing, type Columns, type ListingFlags, warnBadKeys } from '../client-output';

/** The Description= of a unit's [Unit] section, '-' when none. */
function description(text: string): string {
  let inUnit = false;
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (l.startsWith('[')) inUnit = l === '[Unit]';
    else if (inUnit && /^Description\s*=/.test(l)) return l.replace(/^Description\s*=\s*/, '') || '-';
  }
  return '-';
}

const COLUMNS: Columns<UnitFileInfo> = {
  unit: (u) => u.name,
  hash: (u, full) => (full ? u.hash : u.hash.slice(0, 7)),
  dstate: (u) => u.desiredState,
  state: (u) => u.currentState,
  target: (u, full) => (u.global ? 'global' : u.template ? '-' : machineCell(u.targetMachine, u.targetAddress, full)),
  tmachine: (u, full) => (u.targetMachine ? machineCell(u.targetMachine, '', full) : '-'),
  global: (u) => String(u.global),
  desc: (u) => description(u.text),
  instances: (u) => (u.group ? `${u.instancesDesired ?? 0}/${u.instancesRunning ?? 0}` : '-'),
};
const DEFAULTS = ['unit', 'hash', 'dstate', 'state', 'target', 'instances'];

/** Adds `list-unit-files` to the program. */
export function registerListUnitFiles(program: Command, io: CliIO): void {
  const cmd = program
    .command('list-unit-files')
    .description('List the units submitted to the cluster, with desired state (DSTATE), current state (STATE) and TARGET machine');
  addListingOptions(cmd, Object.keys(COLUMNS), DEFAULTS)
    .addHelpText('after', `
TARGET is "global" for global units and "-" for templates and units not placed.
INSTANCES is desired/running for a group (a template with Instances= or a scale count), "-" otherwise.

Examples:
  shoalctl list-unit-files
  shoalctl list-unit-files --fields unit,dstate,desc --no-legend
  shoalctl list-unit-files -o json`)
    .action(async (flags: ListingFlags, c: Command) => {
      const rows = await withClient(c, io, (client) => client.listUnitFiles(warnBadKeys(io)));
      printListing(io, flags, COLUMNS, DEFAULTS, rows, (u) => ({ ...u, text: undefined }));
    });
}
