/**
 * ApiClient: the typed client of shoal's gRPC API (shoalctl's only way to the cluster, and how one
 * shoald forwards status/journal to another). gRPC errors come back as typed ShoalErrors.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { TargetState } from '../units/types';
import { shoalService } from './proto';
import { fromServiceError } from './grpc-errors';
import { UnavailableError } from '../errors';
import { toWireState, type BadKeyMsg, type CordonResponseMsg, type DrainStatusMsg, type BatchProgressMsg, type DeploymentMsg, type JobMsg, type UnitVersionMsg, type BatchUnitResultMsg, type WireBatchAction, type ExplainMsg, type MachineMsg, type MachineStatusMsg, type UnitFileInfo, type ClusterEventMsg, type UnitStateEventMsg, type UnitStateMsg } from './messages';

import { DEFAULT_ENDPOINT } from './endpoint';

export { DEFAULT_ENDPOINT };

/** How to reach and authenticate to a shoald. */
export interface ClientOptions {
  /** `unix:///path`, `/path` (a unix socket), or `host:port`. Default DEFAULT_ENDPOINT. */
  endpoint?: string;
  /** Bearer token sent as `authorization: Bearer TOKEN`. */
  token?: string;
  /** PEM files for TLS: the CA that signed the server's certificate; cert+key to present a client certificate. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Deadline of one unary call in ms (default 10000). */
  timeoutMs?: number;
  /**
   * Ping the server this often (ms) while a call is open; no answer within 5 s fails the call with
   * UNAVAILABLE. For long streams (events -f): a machine that died without closing the connection is noticed.
   */
  keepaliveMs?: number;
}

/** `/path` → `unix:///path`; anything else unchanged. */
export function normalizeEndpoint(endpoint: string): string {
  return endpoint.startsWith('/') ? `unix://${endpoint}` : endpoint;
}

function credentials(o: ClientOptions): grpc.ChannelCredentials {
  if (!o.caFile && !o.certFile && !o.keyFile) return grpc.credentials.createInsecure();
  const read = (f?: string) => (f ? readFileSync(f) : null);
  return grpc.credentials.createSsl(read(o.caFile), read(o.keyFile), read(o.certFile));
}

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => grpc.ClientUnaryCall;
type Streaming = (req: unknown, md: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

/** A connection to one shoald. `close()` it when done. */
export class ApiClient {
  readonly endpoint: string;
  private readonly client: grpc.Client;
  private readonly token?: string;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions = {}) {
    this.endpoint = normalizeEndpoint(opts.endpoint ?? DEFAULT_ENDPOINT);
    const Ctor = shoalService();
    const keepalive = opts.keepaliveMs ? { 'grpc.keepalive_time_ms': opts.keepaliveMs, 'grpc.keepalive_timeout_ms': 5000 } : {};
    this.client = new Ctor(this.endpoint, credentials(opts), keepalive);
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  private unary<T>(method: string, req: unknown): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method].bind(this.client);
    return new Promise((resolve, reject) => {
      fn(req, this.metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(fromServiceError(err, this.endpoint));
        else resolve(res as T);
      });
    });
  }

  private async *stream<T>(method: string, req: unknown, signal?: AbortSignal): AsyncIterable<T> {
    const fn = (this.client as unknown as Record<string, Streaming>)[method].bind(this.client);
    const call = fn(req, this.metadata());
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const msg of call) yield msg as T;
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.CANCELLED && signal?.aborted) return;
      throw fromServiceError(err, this.endpoint);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  /** Validates and stores a unit file. */
  submitUnit(name: string, text: string, opts: { replace?: boolean; desired?: TargetState } = {}): Promise<{ outcome: string; hash: string }> {
    return this.unary('submitUnit', { name, text, replace: !!opts.replace, desired: toWireState(opts.desired) });
  }

  /** One unit file with its states. */
  getUnit(name: string): Promise<UnitFileInfo> {
    return this.unary('getUnit', { name });
  }

  /** Every unit file, sorted by name; `onBad` gets the keys the server skipped for a bad value. */
  async listUnitFiles(onBad?: (bad: BadKeyMsg[]) => void): Promise<UnitFileInfo[]> {
    const r = await this.unary<{ units: UnitFileInfo[]; badKeys?: BadKeyMsg[] }>('listUnitFiles', {});
    if (r.badKeys?.length) onBad?.(r.badKeys);
    return r.units;
  }

  /** Deletes a unit; false when it did not exist. */
  async destroyUnit(name: string): Promise<boolean> {
    return (await this.unary<{ existed: boolean }>('destroyUnit', { name })).existed;
  }

  /** Sets the desired state of units; returns the instances created from templates. */
  async setDesiredState(names: string[], state: TargetState): Promise<string[]> {
    return (await this.unary<{ created: string[] }>('setDesiredState', { names, state: toWireState(state) })).created;
  }

  /** Reported states (of `names` when given); `onBad` gets the keys the server skipped for a bad value. */
  async listUnits(names: string[] = [], onBad?: (bad: BadKeyMsg[]) => void): Promise<UnitStateMsg[]> {
    const r = await this.unary<{ states: UnitStateMsg[]; badKeys?: BadKeyMsg[] }>('listUnits', { names });
    if (r.badKeys?.length) onBad?.(r.badKeys);
    // an unset `exit` comes as null on the wire: absent, as the server sent it (listings print states as they are)
    return r.states.map(({ exit, ...s }) => (exit ? { ...s, exit } : s));
  }

  /** Live machines with merged metadata; `onBad` gets the keys the server skipped for a bad value. */
  async listMachines(onBad?: (bad: BadKeyMsg[]) => void): Promise<MachineMsg[]> {
    const r = await this.unary<{ machines: MachineMsg[]; badKeys?: BadKeyMsg[] }>('listMachines', {});
    if (r.badKeys?.length) onBad?.(r.badKeys);
    return r.machines;
  }

  /** Sets dynamic metadata; returns the full machine id. */
  async setMetadata(machine: string, key: string, value: string): Promise<string> {
    return (await this.unary<{ machine: string }>('setMetadata', { machine, key, value })).machine;
  }

  /** Deletes dynamic metadata. */
  deleteMetadata(machine: string, key: string): Promise<{ machine: string; existed: boolean }> {
    return this.unary('deleteMetadata', { machine, key });
  }

  /** Follows reported state changes until `signal` aborts. */
  /** Cluster events passing the filter (the last `limit` stored, oldest first), then new ones while `follow`. */
  watchEvents(req: { unit?: string; machine?: string; since?: number; kinds?: string[]; follow?: boolean; limit?: number; live?: boolean; fromRevision?: number }, signal?: AbortSignal): AsyncIterable<ClusterEventMsg> {
    return this.stream('watchEvents', { unit: req.unit ?? '', machine: req.machine ?? '', since: req.since ?? 0, kinds: req.kinds ?? [], follow: !!req.follow, limit: req.limit ?? 0, live: !!req.live, fromRevision: req.fromRevision ?? 0 }, signal);
  }

  /** Reported state changes of `names` (all when empty); the current ones first with `initial`, then a `synced` marker with `synced`. */
  watchUnitStates(names: string[], opts: { initial?: boolean; synced?: boolean; signal?: AbortSignal } = {}): AsyncIterable<UnitStateEventMsg> {
    return this.stream('watchUnitStates', { names, initial: !!opts.initial, synced: !!opts.synced }, opts.signal);
  }

  /** Why a unit is placed where it is, or not. */
  explain(name: string): Promise<ExplainMsg> {
    return this.unary('explain', { name });
  }

  /** `systemctl status` of a unit from each machine running it (`local`: only this shoald's machine). */
  async unitStatus(name: string, opts: { machine?: string; local?: boolean } = {}): Promise<MachineStatusMsg[]> {
    return (await this.unary<{ statuses: MachineStatusMsg[] }>('unitStatus', { name, machine: opts.machine ?? '', local: !!opts.local })).statuses;
  }

  /** Journal output of a unit, as chunks of text, until the end (or `signal` with follow). */
  async *journal(name: string, opts: { machine?: string; lines?: number; follow?: boolean; local?: boolean; signal?: AbortSignal } = {}): AsyncIterable<string> {
    const req = { name, machine: opts.machine ?? '', lines: opts.lines ?? 10, follow: !!opts.follow, local: !!opts.local };
    for await (const c of this.stream<{ data: string }>('journal', req, opts.signal)) yield c.data;
  }

  /**
   * Runs a batch (see ApplyBatch in shoal.proto) and returns every unit's result. No deadline on the
   * whole call: it fails only when shoald sends nothing for `idleMs` (default: the unary deadline), so
   * a batch of any size finishes. `onProgress` gets (units done, total) after each chunk.
   */
  async applyBatch(
    req: { action: WireBatchAction; units: { name: string; text?: string }[]; replace?: boolean; state?: TargetState; skipFrom?: TargetState[] },
    opts: { onProgress?: (done: number, total: number) => void; idleMs?: number } = {},
  ): Promise<BatchUnitResultMsg[]> {
    const wire = {
      action: req.action, units: req.units.map((u) => ({ name: u.name, text: u.text ?? '' })), replace: !!req.replace,
      state: toWireState(req.state), skipFrom: (req.skipFrom ?? []).map((x) => toWireState(x)),
    };
    const idle = new AbortController();
    const idleMs = opts.idleMs ?? this.timeoutMs;
    let timer = setTimeout(() => idle.abort(), idleMs);
    const out: BatchUnitResultMsg[] = [];
    try {
      for await (const p of this.stream<BatchProgressMsg>('applyBatch', wire, idle.signal)) {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), idleMs);
        out.push(...p.results);
        opts.onProgress?.(out.length, p.total);
      }
    } finally {
      clearTimeout(timer);
    }
    if (idle.signal.aborted) {
      throw new UnavailableError('api.idle', `shoald at ${this.endpoint} sent no progress for ${(idleMs / 1000).toFixed(1)} s in a batch (${out.length} units done): see its log`);
    }
    return out;
  }

  /** Sets a group's instance count; returns the previous and new count. */
  scaleGroup(name: string, count: number): Promise<{ previous: number; count: number }> {
    return this.unary('scaleGroup', { name, count });
  }

  /** The stored versions of a unit, oldest first. */
  async unitHistory(name: string): Promise<UnitVersionMsg[]> {
    return (await this.unary<{ versions: UnitVersionMsg[] }>('unitHistory', { name })).versions;
  }

  /** Stores an older version again (`to`: hash or prefix; '' = the previous one). */
  rollback(name: string, to = ''): Promise<{ from: string; to: string }> {
    return this.unary('rollback', { name, to });
  }

  /** The latest deployment of every unit, or of `name`. */
  /** Batch job records (all, or of one unit / a template and its instances). */
  async listJobs(name = ''): Promise<JobMsg[]> {
    return (await this.unary<{ jobs: JobMsg[] }>('listJobs', { name })).jobs;
  }

  async listDeployments(name = ''): Promise<DeploymentMsg[]> {
    return (await this.unary<{ deployments: DeploymentMsg[] }>('listDeployments', { name })).deployments;
  }

  /** Releases a deployment paused after its canaries; returns its id. */
  async promote(name: string): Promise<string> {
    return (await this.unary<{ id: string }>('promote', { name })).id;
  }

  /** Cordons a machine (id or unique prefix): no new units. */
  cordonMachine(machine: string): Promise<CordonResponseMsg> {
    return this.unary('cordonMachine', { machine });
  }

  /** Cordons a machine and asks the leader to drain it within `deadlineMs` (0: the default). */
  drainMachine(machine: string, deadlineMs: number): Promise<CordonResponseMsg> {
    return this.unary('drainMachine', { machine, deadlineMs });
  }

  /** Lifts a cordon (and ends a drain). */
  uncordonMachine(machine: string): Promise<CordonResponseMsg> {
    return this.unary('uncordonMachine', { machine });
  }

  /** A machine's cordon and drain progress. */
  drainStatus(machine: string): Promise<DrainStatusMsg> {
    return this.unary('drainStatus', { machine });
  }

  /** Closes the channel. Idempotent. */
  close(): void {
    this.client.close();
  }
}
