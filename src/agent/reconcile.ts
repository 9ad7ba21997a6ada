/**
 * The agent's reconcile diff: desired units (from etcd) against actual units (from systemd and the
 * runtime dir) → ordered tasks. Pure: no I/O, no clock. The executor is `executeTasks`: it isolates
 * units, so one unit's failure or slowness never holds another unit back.
 */

/** A unit this machine should have, with the exact file text the agent installs. */
export interface DesiredUnit {
  name: string;
  /** Hash of the installed file text (not the user's hash: container units install generated text). */
  fileHash: string;
  target: 'loaded' | 'launched';
  /** A batch unit (Kind=batch): started once per load; a run that ended is never started again here. */
  once?: boolean;
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
  /** True while an operation on the unit is still in flight (an unload waiting for its stop job): no task touches it. */
  busy?: boolean;
  /** True once its main process ran since it was loaded (started by the agent, or found ended at adoption). */
  ran?: boolean;
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
 * name within a kind. A changed file is an unload only: the unit is busy until its stop job ended, and
 * the pass after that finds it absent and loads (and starts) the new text.
 * A launched unit that failed after the agent started it is left to systemd's `Restart=`. A `busy` unit
 * gets no task. `linksPending` (links or unlinks queued by earlier passes, e.g. an unload that finished
 * after its pass) asks for a reload even when this pass loads nothing; unloads alone never do (their
 * unlink is queued when their stop job ends, and the pass that follows reloads).
 */
export function computeTasks(desired: readonly DesiredUnit[], actual: readonly ActualUnit[], opts: { linksPending?: boolean } = {}): Task[] {
  const want = new Map(desired.map((d) => [d.name, d]));
  const have = new Map(actual.map((a) => [a.name, a]));
  const names = [...new Set([...want.keys(), ...have.keys()])].sort();
  const by: Record<TaskKind, Task[]> = { unload: [], load: [], reload: [], stop: [], start: [] };

  for (const name of names) {
    const d = want.get(name);
    const a = have.get(name);
    if (a?.busy) continue; // its own operation is in flight; the next pass after it ends takes it from there
    if (!d) {
      by.unload.push({ kind: 'unload', unit: name, reason: 'no longer desired on this machine' });
      continue;
    }
    let fresh = false;
    if (!a) {
      by.load.push({ kind: 'load', unit: name, reason: 'desired but not loaded' });
      fresh = true;
    } else if (a.fileHash !== d.fileHash) {
      // Only the unload now: the new text is loaded (and started) by the pass after its stop job ended.
      // Loaded in this pass, its start would replace the running stop job (the old process keeps
      // running, or the unload's cleanup removes the new file under the start job).
      by.unload.push({ kind: 'unload', unit: name, reason: `unit file changed (${short(a.fileHash)} → ${short(d.fileHash)})` });
      continue;
    }
    if (d.target === 'launched') {
      if (fresh || (!a!.started && !(d.once && a!.ran))) {
        by.start.push({ kind: 'start', unit: name, reason: fresh ? 'desired launched, just loaded' : 'desired launched, not started' });
      }
    } else if (!fresh && a!.started) {
      // only what the agent started: systemd itself may start a loaded unit (a socket's service, a
      // WantedBy= of an enabled unit), as it did under fleet
      by.stop.push({ kind: 'stop', unit: name, reason: 'desired loaded, but running' });
    }
  }
  // Not for unloads: theirs queue an unlink only once their stop job ended, after this pass; a
  // daemon-reload now would apply nothing and hold the next pass (a changed unit's load) for 0.2-0.4 s.
  if (by.load.length > 0 || opts.linksPending) {
    by.reload.push({ kind: 'reload', unit: '', reason: `${by.load.length} loaded${opts.linksPending ? ', links pending' : ''}` });
  }
  return TASK_ORDER.flatMap((k) => by[k]);
}

/** Runs one task. Throws to fail the task's unit (or, for `reload`, see UnitFailures). */
export type TaskRunner = (task: Task) => Promise<void>;

/**
 * Thrown by a task shared by many units (`reload`) when only some of them failed (e.g. one unit file
 * systemd refuses to link): those units fail, every other unit goes on.
 */
export class UnitFailures extends Error {
  constructor(readonly failures: ReadonlyMap<string, unknown>) {
    super(`${failures.size} unit(s) failed: ${[...failures.keys()].join(', ')}`);
  }
}

/** One unit that failed in a pass, with the task that failed and why. */
export interface FailedTask {
  task: Task;
  error: unknown;
}

/** What an executor pass did. */
export interface ExecuteResult {
  /** Tasks that ran to completion. */
  done: number;
  /** One entry per unit that failed (its later tasks were skipped). */
  failed: FailedTask[];
  /** Tasks not run because their unit failed earlier in the pass. */
  skipped: Task[];
  /** Wall time of each kind that ran (ms): where a pass spends its time, for the pass's log line. */
  ms: Partial<Record<TaskKind, number>>;
}

/** Options of `executeTasks`. */
export interface ExecuteOptions {
  /** Tasks of one kind run at once, at most this many (default 64). */
  concurrency?: number;
  /** Stops starting new tasks when aborted. */
  signal?: AbortSignal;
}

/**
 * Runs tasks kind by kind in TASK_ORDER; the tasks of one kind (one per unit) run concurrently. A failed
 * task fails its unit only: that unit's later tasks are skipped, every other unit goes on (the caller
 * records the failure as the unit's state and retries it with backoff). A `reload` that fails as a whole
 * fails the units loaded or unloaded in this pass; the stops and starts of other units still run.
 */
export async function executeTasks(tasks: readonly Task[], run: TaskRunner, opts: ExecuteOptions = {}): Promise<ExecuteResult> {
  const res: ExecuteResult = { done: 0, failed: [], skipped: [], ms: {} };
  const failedUnits = new Set<string>();
  const fail = (task: Task, error: unknown) => {
    failedUnits.add(task.unit);
    res.failed.push({ task, error });
  };
  for (const kind of TASK_ORDER) {
    if (opts.signal?.aborted) break;
    const batch = tasks.filter((t) => t.kind === kind);
    const runnable = batch.filter((t) => t.unit === '' || !failedUnits.has(t.unit));
    for (const t of batch) if (t.unit !== '' && failedUnits.has(t.unit)) res.skipped.push(t);
    if (runnable.length === 0) continue;
    const t0 = performance.now();
    await pool(runnable, opts.concurrency ?? 64, async (task) => {
      if (opts.signal?.aborted) return;
      try {
        await run(task);
        res.done++;
      } catch (error) {
        if (error instanceof UnitFailures) {
          for (const [unit, e] of error.failures) if (!failedUnits.has(unit)) fail({ ...task, unit }, e);
          res.done++;
        } else if (task.unit === '') {
          // a shared step failed as a whole: every unit that needed it fails with its error
          for (const t of tasks) if ((t.kind === 'load' || t.kind === 'unload') && !failedUnits.has(t.unit)) fail({ ...task, unit: t.unit }, error);
        } else fail(task, error);
      }
    });
    res.ms[kind] = Math.round(performance.now() - t0);
  }
  return res;
}

/** Calls `fn` on every item, at most `n` at a time; rejects with the first failure (the others still run to their end). */
export async function pool<T>(items: readonly T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

function short(hash: string): string {
  return hash.slice(0, 7);
}
