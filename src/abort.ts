/**
 * Abort and deadline helpers that do not leak: every listener added to a long-lived signal is removed
 * when its wait ends. (`AbortSignal.any` over a process-long signal keeps a dependant per call: do not
 * use it in loops.)
 */
import { UnavailableError } from './errors';

/** Resolves after `ms`, or early (without error) when `signal` aborts. The abort listener is removed either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves when any of `signals` aborts; the listeners are removed then (or by `dispose`). */
export function anyAborted(signals: readonly AbortSignal[]): { done: Promise<void>; dispose(): void } {
  let dispose = () => {};
  const done = new Promise<void>((resolve) => {
    if (signals.some((s) => s.aborted)) return resolve();
    const fire = () => { dispose(); resolve(); };
    dispose = () => { for (const s of signals) s.removeEventListener('abort', fire); };
    for (const s of signals) s.addEventListener('abort', fire, { once: true });
  });
  return { done, dispose: () => dispose() };
}

/**
 * A child controller aborted when `parent` aborts (or by its own `abort`). Call `dispose()` when the child
 * is done with: it removes the listener from the parent, so a long-lived parent does not collect one per child.
 */
export function childController(parent: AbortSignal): { controller: AbortController; signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const relay = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', relay, { once: true });
  return { controller, signal: controller.signal, dispose: () => parent.removeEventListener('abort', relay) };
}

/**
 * `p`, or an UnavailableError `code` after `ms` (the operation itself may go on in the background: use it
 * only where the callee has no deadline of its own, and say what the operation was in `what`).
 */
export function withDeadline<T>(p: Promise<T>, ms: number, code: string, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new UnavailableError(code, `${what}: no answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (err) => { clearTimeout(t); reject(err); });
  });
}
