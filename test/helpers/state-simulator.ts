/**
 * Reports unit states the way agents do, for engine-driver tests on real etcd without systemd: every
 * launched unit the engine placed on one of `sessions`' machines is reported active at its stored hash
 * (a unit desired only loaded: loaded and inactive), and `healthy` once it has run `healthyAfterMs` at that hash, unless `broken(hash)` says its check fails.
 * Polls etcd every 40 ms (a test helper; the real agent follows watches).
 */
import type { MachineSession, UnitStateRecord } from '../../src/etcd/registry';
import type { EtcdRegistry } from '../../src/etcd/registry-etcd';

export interface SimOptions {
  healthyAfterMs: number;
  broken?: (hash: string) => boolean;
}

/** A running simulation; `stop()` ends it; `maxDown` is the most launched units seen not healthy at once. */
export interface Simulation {
  stop(): Promise<void>;
  opts: SimOptions;
  /** Every (time, unit, health) the simulation reported, in order. */
  log: { t: number; unit: string; hash: string; health: string }[];
  maxDown: number;
}

/** Starts reporting for `sessions` (one per simulated machine). */
export function simulateAgents(reg: EtcdRegistry, sessions: MachineSession[], opts: SimOptions): Simulation {
  const byId = new Map(sessions.map((s) => [s.machineId, s]));
  const since = new Map<string, { hash: string; at: number }>();
  const reported = new Map<string, string>();
  let stopped = false;
  const sim: Simulation = { opts, log: [], maxDown: 0, stop: async () => { stopped = true; await loop; } };
  const loop = (async () => {
    while (!stopped) {
      try {
        const [units, desired, schedule] = await Promise.all([reg.listUnits(), reg.listDesired(), reg.listSchedule()]);
        const now = Date.now();
        let down = 0;
        for (const u of units.value) {
          const m = schedule.value.get(u.name);
          const s = m ? byId.get(m) : undefined;
          if (!s) continue;
          const key = `${u.name}@${m}`;
          if (desired.value.get(u.name) === 'loaded') {
            // a unit desired only loaded: loaded at its hash, not running, no health (as an agent reports it)
            if (reported.get(key) === `${u.hash}/loaded`) continue;
            await s.reportState(u.name, { loadState: 'loaded', activeState: 'inactive', subState: 'dead', hash: u.hash, since: new Date(now).toISOString() });
            reported.set(key, `${u.hash}/loaded`);
            continue;
          }
          if (desired.value.get(u.name) !== 'launched') continue;
          const seen = since.get(key);
          if (!seen || seen.hash !== u.hash) since.set(key, { hash: u.hash, at: now });
          const at = since.get(key)!.at;
          const health = sim.opts.broken?.(u.hash) ? 'unhealthy' : now - at >= sim.opts.healthyAfterMs ? 'healthy' : 'starting';
          if (health !== 'healthy') down++;
          const state: UnitStateRecord = {
            loadState: 'loaded', activeState: 'active', subState: 'running', hash: u.hash, since: new Date(at).toISOString(), health,
          };
          const sig = `${u.hash}/${health}`;
          if (reported.get(key) === sig) continue;
          await s.reportState(u.name, state);
          reported.set(key, sig);
          sim.log.push({ t: now, unit: u.name, hash: u.hash, health });
        }
        sim.maxDown = Math.max(sim.maxDown, down);
      } catch { /* etcd trouble in a test: try again */ }
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  return sim;
}
