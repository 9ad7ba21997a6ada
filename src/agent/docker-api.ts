/**
 * The few Docker Engine API calls shoald's agent makes (list, inspect and remove containers and networks),
 * as plain JSON over HTTP on Docker's unix socket. dockerode (with docker-modem, ssh2 and their native
 * parts) costs shoald ~10 MiB RSS and ~100 ms of start-up for these five calls (docs/performance.md); the
 * container runner, which creates, attaches to and pulls, keeps dockerode.
 */
import { request } from 'node:http';

/** The calls the agent's container driver needs; dockerode's equivalents are adapted in container-driver.ts. */
export interface DockerOps {
  /** GET /containers/json: containers matching `filters` (Docker's filter map), stopped ones too when `all`. */
  listContainers(filters: Record<string, string[]>, all: boolean, signal: AbortSignal): Promise<DockerContainerSummary[]>;
  /** DELETE /containers/{id}?force=1&v=1 (kills it if it runs; its anonymous volumes too). */
  removeContainer(id: string, signal: AbortSignal): Promise<void>;
  /** GET /networks with `filters`. */
  listNetworks(filters: Record<string, string[]>, signal: AbortSignal): Promise<Array<{ Id: string; Name: string; Created?: string }>>;
  /** GET /networks/{id}. */
  inspectNetwork(id: string, signal: AbortSignal): Promise<{ Containers?: Record<string, unknown> }>;
  /** DELETE /networks/{id}. */
  removeNetwork(id: string, signal: AbortSignal): Promise<void>;
}

/** A container as GET /containers/json lists it (the fields shoal reads). */
export interface DockerContainerSummary {
  Id: string;
  Names: string[];
  Labels: Record<string, string>;
  State: string;
  Status: string;
}

/**
 * Docker's unix socket as dockerode finds it: DOCKER_HOST=unix://PATH, else /var/run/docker.sock.
 * Undefined when DOCKER_HOST names another transport (tcp, ssh, TLS): then the driver uses dockerode.
 */
export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  if (host.startsWith('unix://')) return host.slice('unix://'.length) || '/var/run/docker.sock';
  return undefined;
}

/** An error of the Engine API: `statusCode` as docker-modem sets it (404 gone, 409 conflict ...). */
export class DockerApiError extends Error {
  constructor(message: string, readonly statusCode: number) {
    super(message);
    this.name = 'DockerApiError';
  }
}

/** The Engine API over a unix socket. Every call ends by its `signal` (the caller's deadline). */
export class DockerSocketApi implements DockerOps {
  constructor(private readonly socketPath: string) {}

  /** One request; resolves with the parsed JSON body (undefined for an empty one), rejects on a status ≥ 300. */
  private call<T>(method: string, path: string, signal: AbortSignal): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path, signal, headers: { Host: 'docker' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 300) {
            let message = text.trim();
            try { message = (JSON.parse(text) as { message?: string }).message ?? message; } catch { /* not JSON */ }
            reject(new DockerApiError(`(HTTP code ${status}) ${method} ${path}: ${message}`, status));
            return;
          }
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch (err) {
            reject(err);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  listContainers(filters: Record<string, string[]>, all: boolean, signal: AbortSignal): Promise<DockerContainerSummary[]> {
    return this.call('GET', `/containers/json?all=${all ? 1 : 0}&filters=${encodeURIComponent(JSON.stringify(filters))}`, signal);
  }

  removeContainer(id: string, signal: AbortSignal): Promise<void> {
    return this.call('DELETE', `/containers/${encodeURIComponent(id)}?force=1&v=1`, signal);
  }

  listNetworks(filters: Record<string, string[]>, signal: AbortSignal): Promise<Array<{ Id: string; Name: string; Created?: string }>> {
    return this.call('GET', `/networks?filters=${encodeURIComponent(JSON.stringify(filters))}`, signal);
  }

  inspectNetwork(id: string, signal: AbortSignal): Promise<{ Containers?: Record<string, unknown> }> {
    return this.call('GET', `/networks/${encodeURIComponent(id)}`, signal);
  }

  removeNetwork(id: string, signal: AbortSignal): Promise<void> {
    return this.call('DELETE', `/networks/${encodeURIComponent(id)}`, signal);
  }
}
