/**
 * ── AGENT HOOK ── where the agent role plugs into shoald. The agent lives in src/agent (another owner);
 * it is loaded lazily so an engine-only daemon never touches D-Bus or Docker. The agent module must export
 * `runAgent(ctx: AgentRoleContext): Promise<void>` that runs until `ctx.signal` aborts.
 */
import { ShoalError } from '../errors';
import type { EtcdRegistry } from '../etcd/registry-etcd';
import type { Logger } from '../log';
import type { DaemonConfig } from './config';

/** What shoald hands the agent role. */
export interface AgentRoleContext {
  config: DaemonConfig;
  registry: EtcdRegistry;
  log: Logger;
  signal: AbortSignal;
}

/** The module path the agent role is loaded from (relative to this file). */
export const AGENT_MODULE = '../agent/run';

/** Runs the agent role; throws `daemon.no-agent` when the agent module is not there (yet). */
export async function runAgentRole(ctx: AgentRoleContext): Promise<void> {
  let mod: { runAgent?: (c: AgentRoleContext) => Promise<void> };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(AGENT_MODULE);
  } catch (err) {
    throw new ShoalError('daemon.no-agent', `the agent role is not available (${AGENT_MODULE}: ${(err as Error).message}); run with roles=engine`, { cause: err });
  }
  if (typeof mod.runAgent !== 'function') throw new ShoalError('daemon.no-agent', `${AGENT_MODULE} does not export runAgent(ctx)`);
  await mod.runAgent(ctx);
}
