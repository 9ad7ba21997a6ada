/**
 * The agent's reconcile diff: desired units (from etcd) against actual units (from systemd and the
 * runtime dir) → ordered tasks. Pure: no I/O, no clock. The executor is `executeTasks`.
 */

/** A unit this machine should have, with the exact file text the agent installs. */
export interface DesiredUnit {
  name: string;
  /** Hash of the installed file text (not the user's hash: container units install generated text). */
  fileHash: string;
  target: 'loaded' | 'launched';
}

/** A unit the agent manages now (its file is in the runtime dir). */
export interface ActualUnit {
  name: string;
  /** Hash of the file in the runtime dir. */
  fileHash: string;
  /** True once the agent started it (or adopted it running) and has not stopped it since. */
  started: boolean;
  /** systemd's ActiveState. */
  activeState: string;
}

/** Task kinds, in the order they run. */
export type TaskKind = 'unload' | 'load' | 'reload' | 'stop' | 'start';
export const TASK_ORDER: readonly TaskKind[] = ['unload', 'load', 'reload', 'stop', 'start'];

/** One step of a reconcile pass. `unit` is '' for `reload`. */
export interface Task {
  kind: TaskKind;
  unit: string;
  reason: string;
}

/**
 * Tasks that take `actual` to `desired`, in fixed order: unload, load, reload, stop, start; units by
 * name within a kind. A changed file is unload + load (+ start when launched): the new text takes effect.
 * A launched unit that failed after the agent started it is left to systemd's `Restart=`.
 */
export function computeTasks(desired: readonly DesiredUnit[], actual: readonly ActualUnit[]): Task[] {
  const want = new Map(desired.map((d) => [d.name, d]));
  const have = new Map(actual.map((a) => [a.name, a]));
  const names = [...new Set([...want.keys(), ...have.keys()])].sort();
  const by: Record<TaskKind, Task[]> = { unload: [], load: [], reload: [], stop: [], start: [] };

  for (const name of names) {
    const d = want.get(name);
    const a = have.get(name);
    if (!d) {
      by.unload.push({ kind: 'unload', unit: name, reason: 'no longer desired on this machine' });
      continue;
    }
    let fresh = false;
    if (!a) {
      by.load.push({ kind: 'load', unit: name, reason: 'desired but not loaded' });
      fresh = true;
    } else if (a.fileHash !== d.fileHash) {
      by.unload.push({ kind: 'unload', unit: name, reason: `unit file changed (${short(a.fileHash)} → ${short(d.fileHash)})` });
      by.load.push({ kind: 'load', unit: name, reason: 'unit file changed' });
      fresh = true;
    }
    if (d.target === 'launched') {
      if (fresh || !a!.started) {
        by.start.push({ kind: 'start', unit: name, reason: fresh ? 'desired launched, just loaded' : 'desired launched, not started' });
      }
    } else if (!fresh && a!.started) {
      // only what the agent started: systemd itself may start a loaded unit (a socket's service, a
      // WantedBy= of an enabled unit), as it did under fleet
      by.stop.push({ kind: 'stop', unit: name, reason: 'desired loaded, but running' });
    }
  }
  if (by.unload.length > 0 || by.load.length > 0) {
    by.reload.push({ kind: 'reload', unit: '', reason: `${by.unload.length} unloaded, ${by.load.length} loaded` });
  }
  return TASK_ORDER.flatMap((k) => by[k]);
}

/** Runs one task. Throws to stop the pass. */
export type TaskRunner = (task: Task) => Promise<void>;

/** What an executor pass did: how many tasks ran, and the failure that stopped it (if any). */
export interface ExecuteResult {
  done: number;
  failed?: { task: Task; error: unknown };
}

/** Runs tasks in order and stops at the first failure (the next pass starts again from a fresh diff). */
export async function executeTasks(tasks: readonly Task[], run: TaskRunner, signal?: AbortSignal): Promise<ExecuteResult> {
  let done = 0;
  for (const task of tasks) {
    if (signal?.aborted) break;
    try {
      await run(task);
    } catch (error) {
      return { done, failed: { task, error } };
    }
    done++;
  }
  return { done };
}

function short(hash: string): string {
  return hash.slice(0, 7);
}
