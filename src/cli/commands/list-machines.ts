/** `shoalctl list-machines`: live machines with their metadata (static and dynamic merged). */
import type { Command } from 'commander';
import type { MachineMsg } from '../../api/messages';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { addListingOptions, printListing, shortMachine, type Columns, type ListingFlags, warnBadKeys } from '../client-output';

function metadata(m: Record<string, string>): string {
  const keys = Object.keys(m).sort();
  return keys.length ? keys.map((k) => `${k}=${m[k]}`).join(',') : '-';
}

const COLUMNS: Columns<MachineMsg> = {
  machine: (m, full) => shortMachine(m.id, full),
  ip: (m) => m.address || '-',
  metadata: (m) => metadata(m.metadata),
  version: (m) => m.version || '-',
  cpu: (m) => (m.cpuMillis ? `${m.cpuMillis}m` : '-'),
  memory: (m) => (m.memoryBytes ? `${Math.round(m.memoryBytes / (1 << 20))}Mi` : '-'),
  started: (m) => m.startedAt || '-',
  // real load, from the agent's load report (docs/autoscaling.md)
  'cpu-use': (m) => (m.loadAt ? `${m.cpuUseMillis ?? 0}m` : '-'),
  'mem-free': (m) => (m.loadAt ? `${Math.round((m.memoryAvailableBytes ?? 0) / (1 << 20))}Mi` : '-'),
  'disk-free': (m) => (m.loadAt ? `${Math.round((m.diskFreeBytes ?? 0) / (1 << 30))}Gi` : '-'),
  'load-at': (m) => m.loadAt || '-',
  state: (m) => m.cordon || 'ready',
};
const DEFAULTS = ['machine', 'ip', 'metadata', 'state'];

/** Adds `list-machines` to the program. */
export function registerListMachines(program: Command, io: CliIO): void {
  const cmd = program
    .command('list-machines')
    .description('List the live machines of the cluster (sorted by id)');
  addListingOptions(cmd, Object.keys(COLUMNS), DEFAULTS)
    .addHelpText('after', `
Examples:
  shoalctl list-machines
  shoalctl list-machines --full --fields machine,ip,cpu,memory,version
  shoalctl list-machines --fields machine,cpu,cpu-use,mem-free,disk-free
  shoalctl list-machines -o json`)
    .action(async (flags: ListingFlags, c: Command) => {
      const rows = await withClient(c, io, (client) => client.listMachines(warnBadKeys(io)));
      printListing(io, flags, COLUMNS, DEFAULTS, rows, (m) => m);
    });
}
