/** `shoalctl set-metadata` / `unset-metadata`: dynamic machine metadata (kept in etcd, merged over the machine's own). */
import type { Command } from 'commander';
import { CliError, EXIT_USAGE } from '../cli-error';
import type { CliIO } from '../io';
import { withClient } from '../client';
import { metadataProblem } from '../../units/metadata';

function pair(s: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new CliError(`${JSON.stringify(s)}: expected KEY=VALUE`, EXIT_USAGE);
  const [k, v] = [s.slice(0, i), s.slice(i + 1)];
  const problem = metadataProblem(k, v);
  if (problem) throw new CliError(`${JSON.stringify(s)}: ${problem}`, EXIT_USAGE);
  return [k, v];
}

/** Adds `set-metadata` and `unset-metadata` to the program. */
export function registerMetadata(program: Command, io: CliIO): void {
  program
    .command('set-metadata')
    .description('Set dynamic metadata on a machine (wins over its configured metadata; survives agent restarts)')
    .argument('<machine>', 'machine id or unique prefix')
    .argument('<pair...>', 'KEY=VALUE')
    .addHelpText('after', '\nExamples:\n  shoalctl set-metadata 4a2b3c4d disk=ssd\n  shoalctl set-metadata 4a2b3c4d role=db zone=b')
    .action(async (machine: string, pairs: string[], _o: unknown, c: Command) => {
      const kv = pairs.map(pair);
      await withClient(c, io, async (client) => {
        for (const [k, v] of kv) {
          const id = await client.setMetadata(machine, k, v);
          io.stdout.write(`Set ${k}=${v} on ${id}\n`);
        }
      });
    });
  program
    .command('unset-metadata')
    .description('Remove dynamic metadata from a machine')
    .argument('<machine>', 'machine id or unique prefix')
    .argument('<key...>', 'metadata keys')
    .addHelpText('after', '\nExample:\n  shoalctl unset-metadata 4a2b3c4d disk')
    .action(async (machine: string, keys: string[], _o: unknown, c: Command) => {
      await withClient(c, io, async (client) => {
        for (const k of keys) {
          const r = await client.deleteMetadata(machine, k);
          io.stdout.write(r.existed ? `Removed ${k} from ${r.machine}\n` : `${k} was not set on ${r.machine}\n`);
        }
      });
    });
}
