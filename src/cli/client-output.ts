/** Listing output shared by list-units, list-unit-files, list-machines: fleetctl's columns, --fields, --no-legend, --full, -o json. */
import { Option, type Command } from 'commander';
import { CliError, EXIT_USAGE } from './cli-error';
import type { CliIO } from './io';
import { renderTable } from './table';

/** Flags of every listing. */
export interface ListingFlags {
  fields?: string;
  noLegend?: boolean;
  legend?: boolean;
  full?: boolean;
  output?: string;
}

/** One column: its field name (for --fields) and how a row renders in it. */
export type Columns<T> = Record<string, (row: T, full: boolean) => string>;

/** Adds --fields, --no-legend, --full and -o to a listing command. */
export function addListingOptions(cmd: Command, fields: string[], defaults: string[]): Command {
  return cmd
    .option('--fields <list>', `columns to print, comma-separated: ${fields.join(',')} (default ${defaults.join(',')})`)
    .option('--no-legend', 'do not print the header row')
    .option('-l, --full', 'do not shorten machine ids and hashes')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'));
}

/** A machine id as fleetctl shows it: the first 8 characters and `...`, unless --full. */
export function shortMachine(id: string, full: boolean): string {
  return full || id.length <= 8 ? id : `${id.slice(0, 8)}...`;
}

/** `id/ip` as fleetctl's MACHINE column, `-` when there is no machine. */
export function machineCell(id: string, address: string, full: boolean): string {
  if (!id) return '-';
  return address ? `${shortMachine(id, full)}/${address}` : shortMachine(id, full);
}

/** Prints `rows` as a table of the chosen columns, or as JSON (`json` maps a row to its JSON form). */
export function printListing<T>(io: CliIO, flags: ListingFlags, columns: Columns<T>, defaults: string[], rows: T[], json: (row: T) => unknown): void {
  if (flags.output === 'json') {
    io.stdout.write(JSON.stringify(rows.map(json), null, 2) + '\n');
    return;
  }
  const fields = flags.fields ? flags.fields.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : defaults;
  const unknown = fields.filter((f) => !(f in columns));
  if (unknown.length || fields.length === 0) {
    throw new CliError(`unknown field(s) ${unknown.join(', ') || '(none given)'} in --fields; available: ${Object.keys(columns).join(', ')}`, EXIT_USAGE);
  }
  const full = !!flags.full;
  const header = fields.map((f) => f.toUpperCase());
  const body = rows.map((r) => fields.map((f) => columns[f](r, full)));
  io.stdout.write(renderTable(header, body, { noLegend: flags.legend === false || !!flags.noLegend }));
}

/** Prints a warning per key the server skipped because its value in etcd is bad (stderr; the listing goes on). */
export function warnBadKeys(io: CliIO): (bad: { key: string; reason: string }[]) => void {
  return (bad) => {
    for (const b of bad) io.stderr.write(`warning: skipped etcd key ${b.key}: ${b.reason} (fix or delete that key)\n`);
  };
}
