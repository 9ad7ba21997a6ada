/**
 * The gRPC handlers of `shoal.v1.Shoal`: decode a request, call the pure-ish operations
 * (unit-ops, views, explain, routing), map errors to gRPC statuses at this boundary.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log';
import { ValidationError } from '../errors';
import { metadataProblem, parseUnitName } from '../units';
import type { TargetState } from '../units/types';
import { fromWireState } from './messages';
import { ConflictError, grpcStatusOf, PermissionError, toServiceError } from './grpc-errors';
import { apiDuration, apiRequests } from '../metrics';
import { emitEvent } from '../events/emit';
import { allowed, READ_METHODS, type Identity, type PeerInfo } from './listeners';
import { destroyUnit, setDesiredStates, submitUnit } from './unit-ops';
import { applyBatch, type BatchAction } from './batch-ops';
import { getUnitFile, listMachines, listUnitFiles, listUnitStates, resolveMachine, stateMsg, type BadCollector } from './views';
import type { PlacementStrategy } from '../units/types';
import { listDeployments, promote, rollback, scaleGroup, unitHistory } from './group-ops';
import { listJobs } from './job-ops';
import { unitJournal, unitStatus, type RoutingDeps } from './routing';
import type { EventStore } from '../events/store';
import type { ClusterEvent, EventFilter } from '../events/types';
import { cordonMachine, DEFAULT_DRAIN_DEADLINE_MS, drainMachine, drainStatusMsg, uncordonMachine, type CordonResult } from './drain-ops';

function cordonMsg(r: CordonResult) {
  return { machine: r.machine, changed: r.changed, drainId: r.drainId ?? '', message: r.message };
}

/** Everything the handlers use. */
export interface ServiceDeps extends RoutingDeps {
  log: Logger;
  /** The cluster's events (src/events); WatchEvents answers FAILED_PRECONDITION without it. */
  events?: Pick<EventStore, 'follow' | 'list'>;
  /** The cluster's default placement strategy (this shoald's engine config), for explain. */
  strategy?: () => PlacementStrategy | undefined;
}

/** Checks a call's credentials and says who calls; throws AuthError when refused. */
export type CallGuard = (md: grpc.Metadata, peer?: PeerInfo) => Identity | void;

/** The caller of one call, its role checked against the method (PermissionError when it may not). */
function authorize(guard: CallGuard, call: { metadata: grpc.Metadata } & PeerInfo, method: string): Identity {
  const id = guard(call.metadata, call) ?? { name: 'local', role: 'operator' as const };
  if (!allowed(id, method)) {
    throw new PermissionError(`${method} needs the operator role; this caller (${id.name}) is read-only`);
  }
  return id;
}

type Req = Record<string, unknown>;
type UnaryFn = (req: Req, who: Identity) => Promise<unknown>;

function str(req: Req, key: string): string {
  const v = req[key];
  return typeof v === 'string' ? v : '';
}

function desired(req: Req, key: string, required: boolean): TargetState | undefined {
  const s = fromWireState(req[key]);
  if (s === undefined && required) throw new ValidationError('api.bad-state', 'a target state is required: inactive, loaded or launched');
  return s;
}

/**
 * Who called: the identity the guard established (local, token:operator, token:read, cert:CN) and the
 * peer address. Every call outside READ_METHODS is a write: each success is an `api.write` event naming it.
 */
function identity(call: { metadata: grpc.Metadata; getPeer(): string }, who?: Identity): string {
  const how = who?.name ?? (call.metadata.get('authorization').length ? 'token' : 'local');
  return `api:${how}@${call.getPeer()}`;
}

/** What a write touched, for its event: the unit(s) named in the request (first 5). */
function writeSubject(req: Req): { unit?: string; message: string } {
  const names = [str(req, 'name'), ...((req.names as string[]) ?? []), ...(((req.units as { name?: string }[]) ?? []).map((u) => u.name ?? ''))].filter(Boolean);
  const extra = names.length > 5 ? ` and ${names.length - 5} more` : '';
  return { unit: names.length === 1 ? names[0] : undefined, message: `${names.slice(0, 5).join(', ')}${extra}` };
}

function record(method: string, err: unknown, started: number, call: { metadata: grpc.Metadata; getPeer(): string; request: Req }, unary: boolean, who?: Identity): void {
  const code = err === undefined ? 'OK' : grpc.status[grpcStatusOf(err)] ?? 'UNKNOWN';
  apiRequests.inc({ method, code });
  if (unary) apiDuration.observe({ method }, (Date.now() - started) / 1000);
  if (err === undefined && !READ_METHODS.has(method)) {
    const s = writeSubject(call.request);
    emitEvent({ kind: 'api.write', unit: s.unit, machine: str(call.request, 'machine') || undefined, message: `${method} ${s.message}`.trim(), actor: identity(call, who), fields: { method } });
  }
}

function unary(fn: UnaryFn, guard: CallGuard, log: Logger, method: string): grpc.handleUnaryCall<Req, unknown> {
  return (call, cb) => {
    const started = Date.now();
    let who: Identity | undefined;
    Promise.resolve()
      .then(() => { who = authorize(guard, call, method); })
      .then(() => fn(call.request, who!))
      .then((res) => { record(method, undefined, started, call, true, who); cb(null, res); })
      .catch((err) => {
        record(method, err, started, call, true);
        log.debug('api call failed', { method, error: err instanceof Error ? err.message : String(err) });
        cb(toServiceError(err));
      });
  };
}

function streaming(fn: (req: Req, signal: AbortSignal) => AsyncIterable<unknown>, guard: CallGuard, method: string): grpc.handleServerStreamingCall<Req, unknown> {
  return (call) => {
    const ctl = new AbortController();
    const started = Date.now();
    let who: Identity | undefined;
    call.on('cancelled', () => ctl.abort());
    (async () => {
      who = authorize(guard, call, method);
      for await (const msg of fn(call.request, ctl.signal)) {
        if (ctl.signal.aborted) break;
        // a cancelled call never drains: wait for the drain or the cancel, so the generator (and its etcd
        // watchers) is closed by the break below instead of waiting forever
        if (!call.write(msg)) await drainOrAbort(call, ctl.signal);
      }
      call.end();
      record(method, undefined, started, call, false, who);
    })().catch((err) => {
      // grpc-js sends a server stream's error status on an 'error' event (destroy() would leave the client hanging)
      if (!ctl.signal.aborted) { record(method, err, started, call, false); call.emit('error', toServiceError(err)); }
      else record(method, undefined, started, call, false);
    }).finally(() => ctl.abort());
  };
}

function drainOrAbort(call: grpc.ServerWritableStream<Req, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { call.off('drain', done); signal.removeEventListener('abort', done); resolve(); };
    if (signal.aborted) return resolve();
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

async function* watchStates(d: ServiceDeps, req: Req, signal: AbortSignal): AsyncIterable<unknown> {
  const names = ((req.names as string[]) ?? []);
  for (const n of names) parseUnitName(n);
  const want = new Set(names);
  const live = new Map((await d.registry.listMachines()).value.map((m) => [m.id, m]));
  const first = await d.registry.listStates();
  if (req.initial) {
    for (const e of first.value) if (want.size === 0 || want.has(e.unit)) yield { state: stateMsg(e, live), deleted: false };
    if (req.synced) yield { synced: true, deleted: false };
  }
  for await (const batch of d.registry.watch([{ kind: 'states' }, { kind: 'machines' }], { fromRevision: first.revision, signal })) {
    for (const ev of batch.events) {
      if (ev.type === 'machine') {
        if (ev.value) live.set(ev.machine, ev.value); else live.delete(ev.machine);
      }
      if (ev.type !== 'state' || (want.size > 0 && !want.has(ev.unit))) continue;
      const state = ev.value ?? { loadState: '', activeState: '', subState: '', hash: '', since: '' };
      yield { state: stateMsg({ unit: ev.unit, machine: ev.machine, state }, live), deleted: ev.value === null };
    }
  }
}

/** A stored event as its wire message. */
export function eventMsg(e: ClusterEvent): unknown {
  return { id: e.id, revision: e.revision, time: e.time, kind: e.kind, unit: e.unit ?? '', machine: e.machine ?? '', message: e.message ?? '', actor: e.actor ?? '', fields: e.fields ?? {} };
}

/** WatchEvents: stored events passing the filter, then (follow) new ones. */
async function* watchEvents(d: ServiceDeps, r: Req, signal: AbortSignal): AsyncIterable<unknown> {
  if (!d.events) throw new ConflictError('events.unavailable', 'this API server has no events store');
  const filter: EventFilter = { unit: str(r, 'unit') || undefined, machine: str(r, 'machine') || undefined, kinds: (r.kinds as string[]) ?? [] };
  const since = Number(r.since ?? 0);
  if (since > 0) filter.since = since;
  const fromRevision = Number(r.fromRevision ?? 0);
  if (fromRevision > 0) filter.fromRevision = fromRevision;
  const limit = Number(r.limit ?? 0) || undefined;
  if (!r.follow) {
    for (const e of (await d.events.list(filter, limit)).events) yield eventMsg(e);
    return;
  }
  for await (const e of d.events.follow(filter, { signal, limit, initial: !r.live })) yield eventMsg(e);
}

const ACTIONS: Record<string, BatchAction> = { SUBMIT: 'submit', SET_STATE: 'set-state', DESTROY: 'destroy', 1: 'submit', 2: 'set-state', 3: 'destroy' };

/** ApplyBatch: the total once the batch is checked, then each chunk's results as it is committed. */
async function* batchStream(d: ServiceDeps, r: Req, signal: AbortSignal): AsyncIterable<unknown> {
  const queue: unknown[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failed: unknown;
  const units = ((r.units as { name?: string; text?: string }[]) ?? []).map((u) => ({ name: u.name ?? '', text: u.text ?? '' }));
  const skipFrom = ((r.skipFrom as unknown[]) ?? []).map((x) => fromWireState(x)).filter((x): x is TargetState => x !== undefined);
  applyBatch(d.registry, {
    action: ACTIONS[String(r.action)] ?? (String(r.action) as BatchAction),
    units, replace: !!r.replace, state: desired(r, 'state', false), skipFrom,
  }, (p) => {
    queue.push({ total: p.total, results: p.results.map((x) => ({ name: x.name, outcome: x.outcome, previous: x.previous ?? '', hash: x.hash, global: x.global, batch: x.batch })) });
    wake?.();
  }).catch((err) => { failed = err; }).finally(() => { finished = true; wake?.(); });
  while (!signal.aborted) {
    if (queue.length > 0) { yield queue.shift(); continue; }
    if (finished) break;
    await new Promise<void>((res) => { wake = res; });
    wake = undefined;
  }
  if (failed) throw failed;
}

/** The service implementation, every call checked by `guard`. */
export function shoalHandlers(d: ServiceDeps, guard: CallGuard): grpc.UntypedServiceImplementation {
  const reg = d.registry;
  const u = (name: string, fn: UnaryFn) => unary(fn, guard, d.log, name);
  return {
    SubmitUnit: u('SubmitUnit', (r) => submitUnit(reg, str(r, 'name'), str(r, 'text'), { replace: !!r.replace, desired: desired(r, 'desired', false) })),
    GetUnit: u('GetUnit', (r) => getUnitFile(reg, str(r, 'name'))),
    ListUnitFiles: u('ListUnitFiles', async () => { const bad: BadCollector = []; return { units: await listUnitFiles(reg, undefined, bad), badKeys: bad }; }),
    DestroyUnit: u('DestroyUnit', async (r) => ({ existed: await destroyUnit(reg, str(r, 'name')) })),
    SetDesiredState: u('SetDesiredState', async (r) => ({ created: await setDesiredStates(reg, (r.names as string[]) ?? [], desired(r, 'state', true)!) })),
    ListUnits: u('ListUnits', async (r) => { const bad: BadCollector = []; return { states: await listUnitStates(reg, (r.names as string[]) ?? [], bad), badKeys: bad }; }),
    ListMachines: u('ListMachines', async () => { const bad: BadCollector = []; return { machines: await listMachines(reg, bad), badKeys: bad }; }),
    SetMetadata: u('SetMetadata', async (r) => {
      const key = str(r, 'key');
      const value = str(r, 'value');
      const problem = metadataProblem(key, value);
      if (problem) throw new ValidationError('metadata.bad-value', problem);
      const m = await resolveMachine(reg, str(r, 'machine'));
      await reg.setMetadata(m.id, key, value);
      return { machine: m.id };
    }),
    DeleteMetadata: u('DeleteMetadata', async (r) => {
      const m = await resolveMachine(reg, str(r, 'machine'));
      return { machine: m.id, existed: await reg.deleteMetadata(m.id, str(r, 'key')) };
    }),
    // the planner (engine code) loads with the first Explain: an agent-only shoald may never need it
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Explain: u('Explain', (r) => (require('./explain') as typeof import('./explain')).explainUnit(reg, str(r, 'name'), d.strategy?.())),
    UnitStatus: u('UnitStatus', async (r) => ({ statuses: await unitStatus(d, str(r, 'name'), str(r, 'machine'), !!r.local) })),
    WatchUnitStates: streaming((r, signal) => watchStates(d, r, signal), guard, 'WatchUnitStates'),
    ApplyBatch: streaming((r, signal) => batchStream(d, r, signal), guard, 'ApplyBatch'),
    ScaleGroup: u('ScaleGroup', (r) => scaleGroup(reg, str(r, 'name'), Number(r.count))),
    UnitHistory: u('UnitHistory', async (r) => ({ versions: await unitHistory(reg, str(r, 'name')) })),
    Rollback: u('Rollback', (r) => rollback(reg, str(r, 'name'), str(r, 'to'))),
    ListDeployments: u('ListDeployments', async (r) => ({ deployments: await listDeployments(reg, str(r, 'name')) })),
    ListJobs: u('ListJobs', async (r) => ({ jobs: await listJobs(reg, str(r, 'name')) })),
    Promote: u('Promote', async (r) => ({ id: await promote(reg, str(r, 'name')) })),
    WatchEvents: streaming((r, signal) => watchEvents(d, r, signal), guard, 'WatchEvents'),
    CordonMachine: u('CordonMachine', async (r, who) => cordonMsg(await cordonMachine(reg, str(r, 'machine'), who.name))),
    DrainMachine: u('DrainMachine', async (r, who) => cordonMsg(await drainMachine(reg, str(r, 'machine'), Number(r.deadlineMs) || DEFAULT_DRAIN_DEADLINE_MS, who.name))),
    UncordonMachine: u('UncordonMachine', async (r) => cordonMsg(await uncordonMachine(reg, str(r, 'machine')))),
    DrainStatus: u('DrainStatus', (r) => drainStatusMsg(reg, str(r, 'machine'))),
    Journal: streaming(async function* (r, signal) {
      const opts = { machine: str(r, 'machine'), lines: Number(r.lines) || 0, follow: !!r.follow, local: !!r.local, signal };
      for await (const data of unitJournal(d, str(r, 'name'), opts)) yield { data };
    }, guard, 'Journal'),
  };
}
