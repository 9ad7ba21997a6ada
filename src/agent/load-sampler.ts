/**
 * Samples a machine's real load: CPU busy (/proc/stat), memory available (/proc/meminfo), disk free
 * (statfs of the agent's unit directory), and each running service's use from systemd's cgroup
 * accounting over D-Bus (CPUUsageNSec as a rate, MemoryCurrent). Every unit is asked at once, each
 * with its own deadline: a slow unit keeps its previous figure and never delays another.
 */
import { readFile, statfs } from 'node:fs/promises';
import type { MachineLoad, UnitUsage } from '../etcd/registry';
import type { Systemd } from './systemd';
import { pool } from './reconcile';

/** Takes one sample of the machine and of the named units. */
export interface LoadSource {
  sample(units: readonly string[]): Promise<MachineLoad>;
}

/** Page size for /proc/<pid>/statm (4 KiB on every Linux shoal runs on: x86-64, arm64 with 4K pages). */
const PAGE = 4096;
/** Deadline of one unit's accounting query (ms). */
const UNIT_DEADLINE_MS = 2000;
/** Units asked at once (each ask is 2 D-Bus calls of the agent's 64). */
const SAMPLE_WIDTH = 8;

/** /proc/stat's aggregate line: busy and total jiffies, and the number of CPUs. */
export function parseProcStat(text: string): { busy: number; total: number; cpus: number } {
  const lines = text.split('\n');
  const f = (lines.find((l) => l.startsWith('cpu ')) ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total, cpus: Math.max(1, lines.filter((l) => /^cpu\d+ /.test(l)).length) };
}

/** MemTotal and MemAvailable of /proc/meminfo, bytes. */
export function parseMeminfo(text: string): { total: number; available: number } {
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { total: kb('MemTotal'), available: kb('MemAvailable') };
}

/** The real sampler (Linux /proc and systemd over D-Bus). */
export class ProcLoadSampler implements LoadSource {
  private lastCpu: { busy: number; total: number } | undefined;
  /** unit → its last CPU counter (ns) and when it was read (ms, monotonic). */
  private readonly lastUnit = new Map<string, { ns: number; at: number }>();
  private readonly usage = new Map<string, UnitUsage>();
  private readonly inFlight = new Set<string>();
  /** Where the next round of unit asks starts in the unit list (see sampleUnits). */
  private nextFirst = 0;

  /**
   * `diskPath`: the filesystem whose free space is reported; `proc` and `cgroupRoot`: where /proc and the
   * unified cgroup hierarchy are (tests read a node's through /proc/<pid>/root).
   */
  constructor(private readonly systemd: Systemd, private readonly diskPath: string, private readonly proc = '/proc',
    private readonly cgroupRoot = '/sys/fs/cgroup') {}

  async sample(units: readonly string[]): Promise<MachineLoad> {
    const unitsDone = this.sampleUnits(units);
    const [stat, mem, disk] = await Promise.all([
      readFile(`${this.proc}/stat`, 'utf8').then(parseProcStat),
      readFile(`${this.proc}/meminfo`, 'utf8').then(parseMeminfo),
      statfs(this.diskPath).then((s) => ({ free: s.bavail * s.bsize, total: s.blocks * s.bsize }), () => ({ free: 0, total: 0 })),
    ]);
    await unitsDone;
    const prev = this.lastCpu;
    this.lastCpu = { busy: stat.busy, total: stat.total };
    const dt = prev ? stat.total - prev.total : 0;
    const cpuTotalMillis = stat.cpus * 1000;
    const cpuMillis = dt > 0 ? Math.round(((stat.busy - prev!.busy) / dt) * cpuTotalMillis) : 0;
    const out: Record<string, UnitUsage> = {};
    for (const u of units) { const x = this.usage.get(u); if (x) out[u] = x; }
    return {
      at: new Date().toISOString(), cpuMillis: Math.max(0, cpuMillis), cpuTotalMillis,
      memAvailableBytes: mem.available, memTotalBytes: mem.total, diskFreeBytes: disk.free, diskTotalBytes: disk.total, units: out,
    };
  }

  /**
   * A cgroup's memory where systemd has no MemoryCurrent (no memory controller on the unified hierarchy, as
   * on hybrid hosts): memory.current if present, else the resident size of its processes (shared pages
   * counted per process, so an upper bound). Bounded by the unit's deadline; undefined when unreadable.
   */
  private async cgroupMemory(cg: string): Promise<number | undefined> {
    const dir = `${this.cgroupRoot}${cg}`;
    try {
      return Number((await readFile(`${dir}/memory.current`, 'utf8')).trim());
    } catch { /* no memory controller here */ }
    try {
      const pids = (await readFile(`${dir}/cgroup.procs`, 'utf8')).split('\n').filter(Boolean).slice(0, 1000);
      const rss = await Promise.all(pids.map((p) => readFile(`${this.proc}/${p}/statm`, 'utf8').then((t) => Number(t.split(' ')[1]) * PAGE, () => 0)));
      return rss.reduce((a, b) => a + b, 0);
    } catch {
      return undefined;
    }
  }

  /**
   * Asks the units, SAMPLE_WIDTH at a time (a unit still answering the last ask is not asked again); starts no
   * ask after one deadline (the units left keep their figures). Not all at once: the agent's D-Bus calls share
   * 64 slots (systemd-dbus.ts), and 2 calls for each of 1,000 units every 5 s queued a unit's start behind them.
   */
  private async sampleUnits(units: readonly string[]): Promise<void> {
    const want = new Set(units);
    for (const u of this.usage.keys()) if (!want.has(u)) { this.usage.delete(u); this.lastUnit.delete(u); }
    const until = performance.now() + UNIT_DEADLINE_MS;
    // each round starts where the last one stopped: on a slow systemd the units at the end still get their turn
    const first = units.length ? this.nextFirst % units.length : 0;
    const order = [...units.slice(first), ...units.slice(0, first)].filter((u) => !this.inFlight.has(u));
    let asked = 0;
    await pool(order, SAMPLE_WIDTH, async (u) => {
      if (performance.now() > until) return;
      asked++;
      this.inFlight.add(u);
      try {
        const r = await this.systemd.unitUsage(u, UNIT_DEADLINE_MS);
        const now = performance.now();
        const last = this.lastUnit.get(u);
        if (r.cpuNSec !== undefined) this.lastUnit.set(u, { ns: r.cpuNSec, at: now });
        // a rate needs two readings; a counter that went back (the unit restarted) starts over
        if (r.cpuNSec === undefined || !last || r.cpuNSec < last.ns || now <= last.at) return;
        const cpuMillis = Math.round((r.cpuNSec - last.ns) / 1e6 / (now - last.at) * 1000);
        const memoryBytes = r.memoryBytes ?? (r.controlGroup ? await this.cgroupMemory(r.controlGroup) : undefined);
        this.usage.set(u, { cpuMillis, ...(memoryBytes !== undefined ? { memoryBytes } : {}) });
      } catch {
        // no answer in time, or the unit went: its previous figure stands until the next sample
      } finally {
        this.inFlight.delete(u);
      }
    });
    this.nextFirst = asked < order.length ? first + asked : 0;
  }
}
