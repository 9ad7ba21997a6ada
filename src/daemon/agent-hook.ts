/**
 * Where the agent role plugs into shoald. The agent (src/agent) is loaded lazily so an engine-only
 * daemon never loads D-Bus or Docker code.
 */
import type { EtcdRegistry } from '../etcd/registry-etcd';
import type { Logger } from '../log';
import type { DaemonConfig } from './config';
import { machineRecord } from './machine';

/** What shoald hands the agent role. */
export interface AgentRoleContext {
  config: DaemonConfig;
  registry: EtcdRegistry;
  log: Logger;
  signal: AbortSignal;
  /** Receives the agent once it runs (for config reloads). */
  onAgent?: (agent: import('../agent/agent').Agent) => void;
}

/** Runs the agent role until `ctx.signal` aborts. Units keep running when it returns. */
export async function runAgentRole(ctx: AgentRoleContext): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runAgent } = require('../agent/run-agent') as typeof import('../agent/run-agent');
  const machine = await machineRecord(ctx.config);
  await runAgent({ registry: ctx.registry, machine, ttlSeconds: ctx.config.machine.ttlSeconds, loadIntervalMs: ctx.config.machine.loadIntervalMs, log: ctx.log, onAgent: ctx.onAgent }, ctx.signal);
}
