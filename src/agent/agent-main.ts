/**
 * A standalone agent process configured by the environment the testbed gives every node (SHOAL_ETCD, SHOAL_ETCD_*,
 * SHOAL_PREFIX, SHOAL_MACHINE_ID, SHOAL_METADATA, SHOAL_ADDRESS, SHOAL_TTL, SHOAL_CAPACITY_*).
 * For cluster tests and benches of the agent alone; shoald runs the same `runAgent` as its agent role.
 * Usage: node dist/src/agent/agent-main.js
 */
import { readFileSync } from 'node:fs';
import { EtcdRegistry } from '../etcd/registry-etcd';
import { buildConfig } from '../daemon/config';
import { ValidationError } from '../errors';
import { createLogger } from '../log';
import { VERSION } from '../version';
import { runAgent } from './run-agent';

/** `k=v,k2=v2` → record; a pair without `=` is a ValidationError naming it. */
export function parseMetadata(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new ValidationError('config.bad-metadata', `metadata entry ${JSON.stringify(pair)} is not key=value`, { key: 'SHOAL_METADATA' });
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/** Runs the agent until SIGTERM/SIGINT; resolves with the exit code. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = createLogger({ fields: { component: 'agent-main' } });
  const id = env.SHOAL_MACHINE_ID || readFileSync('/etc/machine-id', 'utf8').trim();
  // SHOAL_ETCD and SHOAL_ETCD_* (TLS files, auth, deadlines) as shoald reads them
  const registry = new EtcdRegistry({ ...buildConfig({}, { SHOAL_ETCD: env.SHOAL_ETCD, SHOAL_PREFIX: env.SHOAL_PREFIX,
    ...Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('SHOAL_ETCD_'))) }).etcd });
  const ac = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => ac.abort());
  try {
    await runAgent({
      registry,
      machine: {
        id, address: env.SHOAL_ADDRESS, metadata: parseMetadata(env.SHOAL_METADATA ?? ''), version: VERSION, startedAt: '',
        capacity: {
          cpuMillis: Number(env.SHOAL_CAPACITY_CPU ?? 0) || 0, memoryBytes: Number(env.SHOAL_CAPACITY_MEMORY ?? 0) || 0,
          ...(Number(env.SHOAL_CAPACITY_DISK ?? 0) > 0 ? { diskBytes: Number(env.SHOAL_CAPACITY_DISK) } : {}),
        },
      },
      ttlSeconds: Number(env.SHOAL_TTL ?? 5) || 5,
      safetyIntervalMs: Number(env.SHOAL_SAFETY_MS ?? 60_000) || 60_000,
      loadIntervalMs: Number(env.SHOAL_LOAD_INTERVAL_MS ?? 0) || undefined,
      log,
    }, ac.signal);
    return 0;
  } catch (err) {
    log.error('agent failed', { err: String(err) });
    return 1;
  } finally {
    registry.close();
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
