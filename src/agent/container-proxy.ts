/**
 * TCP forwarding from this machine's ports to a container on a shared Docker engine (the testbed:
 * the engine runs on the host, outside the node's network namespace), so `Port=8080:80` answers at
 * the machine's own address, as it would with a per-machine engine.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { UnavailableError } from '../errors';

/** One listening forwarder; close() stops listening and drops open connections. */
export interface TcpForward {
  port: number;
  close(): Promise<void>;
}

/** Listens on 0.0.0.0:`listenPort` and pipes every connection to `host`:`targetPort`. */
export async function forwardTcp(listenPort: number, host: string, targetPort: number): Promise<TcpForward> {
  const open = new Set<import('node:net').Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host, port: targetPort });
    open.add(client).add(upstream);
    const done = () => { client.destroy(); upstream.destroy(); open.delete(client); open.delete(upstream); };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new UnavailableError('container.port-busy',
      `cannot listen on port ${listenPort}: ${(err as Error).message}`, err)));
    server.listen(listenPort, '0.0.0.0', () => resolve());
  });
  return {
    port: listenPort,
    close: () => new Promise((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
}
