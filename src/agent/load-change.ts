/**
 * When a machine's load report is worth an etcd write: the "significant change" rule (docs/autoscaling.md).
 * Compared with the last report WRITTEN (not the last sample), so a slow drift is written once it adds up.
 * Two levels: a MAJOR change (a unit came or went, or use moved a lot) is written at the next sample; a
 * minor one (past LOAD_THRESHOLDS, below MAJOR_THRESHOLDS) waits until the last write is `minorEveryMs`
 * old, so noise across 100 units costs a write per half minute, not one per sample. Pure.
 */
import type { MachineLoad, UnitUsage } from '../etcd/registry';

/** Thresholds of a significant change. */
export interface LoadThresholds {
  /** Machine CPU: a change of this share of the machine's CPUs (0.1 = 10 percentage points). */
  machineCpuShare: number;
  /** Machine memory available / disk free: a change of this share of the total. */
  memShare: number;
  diskShare: number;
  /** A unit's CPU: at least this many millicores AND this share of its last written value. */
  unitCpuMillis: number;
  unitCpuShare: number;
  /** A unit's memory: at least this many bytes AND this share of its last written value. */
  unitMemBytes: number;
  unitMemShare: number;
}

/** The defaults: 10 points of machine CPU, 5 % of memory, 1 % of disk; a unit ±50m and ±20 %, ±16 MiB and ±20 %. */
export const LOAD_THRESHOLDS: LoadThresholds = {
  machineCpuShare: 0.1, memShare: 0.05, diskShare: 0.01,
  unitCpuMillis: 50, unitCpuShare: 0.2, unitMemBytes: 16 * 1024 * 1024, unitMemShare: 0.2,
};

/**
 * A major change: 25 points of machine CPU, 10 % of memory, 5 % of disk; a unit ±100m and ±50 % (a tenth of a
 * core that halves or doubles: what an autoscaler must see at once), ±64 MiB and ±50 %.
 */
export const MAJOR_THRESHOLDS: LoadThresholds = {
  machineCpuShare: 0.25, memShare: 0.1, diskShare: 0.05,
  unitCpuMillis: 100, unitCpuShare: 0.5, unitMemBytes: 64 * 1024 * 1024, unitMemShare: 0.5,
};

/** How significant a change is. */
export type LoadChange = { level: 'major' | 'minor'; why: string };

/** The change from `written` to `next`: major, minor, or null (not worth a write). */
export function loadChange(written: MachineLoad | null, next: MachineLoad): LoadChange | null {
  const major = significantChange(written, next, MAJOR_THRESHOLDS);
  if (major) return { level: 'major', why: major };
  const minor = significantChange(written, next, LOAD_THRESHOLDS);
  return minor ? { level: 'minor', why: minor } : null;
}

function moved(prev: number, next: number, abs: number, share: number): boolean {
  const d = Math.abs(next - prev);
  return d >= abs && d >= share * Math.abs(prev);
}

function unitChange(name: string, a: UnitUsage, b: UnitUsage, th: LoadThresholds): string | null {
  if (moved(a.cpuMillis, b.cpuMillis, th.unitCpuMillis, th.unitCpuShare)) return `${name} cpu ${a.cpuMillis}m → ${b.cpuMillis}m`;
  if ((a.memoryBytes === undefined) !== (b.memoryBytes === undefined)) return `${name} memory accounting changed`;
  if (a.memoryBytes !== undefined && moved(a.memoryBytes, b.memoryBytes!, th.unitMemBytes, th.unitMemShare)) {
    return `${name} memory ${a.memoryBytes} → ${b.memoryBytes} bytes`;
  }
  return null;
}

/**
 * Why `next` differs significantly from `written` (the last report in etcd), or null when it does not:
 * nothing written yet; a unit came or went; machine CPU, memory available or disk free moved past its
 * share of the total; a unit's CPU or memory moved past both its absolute and relative threshold.
 */
export function significantChange(written: MachineLoad | null, next: MachineLoad, th: LoadThresholds = LOAD_THRESHOLDS): string | null {
  if (!written) return 'first report';
  if (Math.abs(next.cpuMillis - written.cpuMillis) >= th.machineCpuShare * Math.max(1, next.cpuTotalMillis)) {
    return `machine cpu ${written.cpuMillis}m → ${next.cpuMillis}m`;
  }
  if (Math.abs(next.memAvailableBytes - written.memAvailableBytes) >= th.memShare * Math.max(1, next.memTotalBytes)) return 'memory available';
  if (Math.abs(next.diskFreeBytes - written.diskFreeBytes) >= th.diskShare * Math.max(1, next.diskTotalBytes)) return 'disk free';
  for (const name of Object.keys(next.units)) if (!(name in written.units)) return `${name} appeared`;
  for (const name of Object.keys(written.units)) {
    if (!(name in next.units)) return `${name} went`;
    const why = unitChange(name, written.units[name], next.units[name], th);
    if (why) return why;
  }
  return null;
}
