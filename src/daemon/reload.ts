/**
 * SIGHUP: re-read the config and apply what can change while running — the machine's address, static
 * metadata and capacity (agent), the default placement strategy (engine), the API tokens (rotated
 * without dropping a connection; the web page and /metrics listener takes the same ones). The API keeps serving.
 * Settings that need a restart (roles, etcd, prefix, machine id, TTLs, API listeners) are reported, not applied.
 * A bad new config changes nothing.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../log';
import type { Agent } from '../agent/agent';
import type { Engine } from '../engine/engine';
import { loadConfig, type DaemonConfig } from './config';
import { machineCapacity } from './machine';
import type { ApiServer } from '../api/server';
import type { WebServer } from '../web/server';

/** What reloading needs from the running roles. */
export interface ReloadTargets {
  engine?: Pick<Engine, 'setStrategy'>;
  agent?: Pick<Agent, 'updateMachine'>;
  api?: Pick<ApiServer, 'updateTokens'>;
  /** The web page and /metrics listener: same tokens as the API. */
  web?: Pick<WebServer, 'updateTokens'>;
}

/** Names of the settings in which `next` differs from `prev` but that only a restart applies. */
export function restartOnlyChanges(prev: DaemonConfig, next: DaemonConfig): string[] {
  const out: string[] = [];
  const same = (a: unknown, b: unknown) => isDeepStrictEqual(a, b);
  if (!same(prev.roles, next.roles)) out.push('roles');
  if (!same(prev.etcd, next.etcd)) out.push('etcd');
  if (prev.machine.id !== next.machine.id) out.push('machine.id');
  if (prev.machine.ttlSeconds !== next.machine.ttlSeconds) out.push('machine ttl');
  if (prev.engine.ttlSeconds !== next.engine.ttlSeconds || prev.engine.id !== next.engine.id) out.push('engine');
  // tokens rotate on reload; the rest of [api] needs a restart
  if (!same({ ...prev.api, token: undefined, readToken: undefined }, { ...next.api, token: undefined, readToken: undefined })) out.push('api');
  return out;
}

/** Reloads `path`; returns the config now in force (the old one when the new one is bad). */
export async function reloadConfig(path: string | undefined, prev: DaemonConfig, targets: ReloadTargets, log: Logger): Promise<DaemonConfig> {
  let next: DaemonConfig;
  try {
    next = loadConfig(path);
  } catch (err) {
    log.error('config reload refused; keeping the running config', { reason: (err as Error).message });
    return prev;
  }
  const restart = restartOnlyChanges(prev, next);
  if (restart.length) log.warn('config reload: these settings apply only after a restart', { settings: restart.join(',') });
  try {
    if (prev.api.token !== next.api.token || prev.api.readToken !== next.api.readToken) {
      targets.api?.updateTokens(next.api);
      targets.web?.updateTokens(next.api);
      log.info('api tokens rotated', { operator: !!next.api.token, readOnly: !!next.api.readToken });
    }
    if (targets.engine && prev.engine.strategy !== next.engine.strategy) targets.engine.setStrategy(next.engine.strategy);
    if (targets.agent && !isDeepStrictEqual(prev.machine, next.machine)) {
      await targets.agent.updateMachine({ address: next.machine.address, metadata: { ...next.machine.metadata }, capacity: await machineCapacity(next) });
    }
  } catch (err) {
    log.warn('config reload: could not publish the machine record now; it is used at the next registration', { reason: (err as Error).message });
  }
  log.info('config reloaded');
  return { ...next, roles: prev.roles, etcd: prev.etcd, api: { ...prev.api, token: next.api.token, readToken: next.api.readToken }, machine: { ...next.machine, id: prev.machine.id, ttlSeconds: prev.machine.ttlSeconds }, engine: { ...next.engine, id: prev.engine.id, ttlSeconds: prev.engine.ttlSeconds } };
}
