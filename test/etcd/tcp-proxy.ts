/** A loopback TCP proxy the tests can cut and heal, to disconnect one client from etcd while others write. */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from '../helpers/etcd-server';

export interface TcpProxy {
  /** URL to give the client under test, e.g. `http://127.0.0.1:40123`. */
  endpoint: string;
  /** Drops every connection and refuses new ones. */
  cut(): Promise<void>;
  /** Accepts connections again. */
  heal(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy to `target` (`http://host:port`). */
export async function startProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const listenPort = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = () => new Promise<void>((resolve, reject) => {
    const srv = createServer((client) => {
      const upstream = connect(Number(port), hostname);
      sockets.add(client); sockets.add(upstream);
      const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
      client.on('error', drop); upstream.on('error', drop); client.on('close', drop); upstream.on('close', drop);
      client.pipe(upstream); upstream.pipe(client);
    });
    srv.once('error', reject);
    srv.listen(listenPort, '127.0.0.1', () => { server = srv; resolve(); });
  });
  const cut = async () => {
    const srv = server;
    server = null;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  };
  await listen();
  return { endpoint: `http://127.0.0.1:${listenPort}`, cut, heal: listen, close: cut };
}
