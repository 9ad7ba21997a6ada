/** shoalctl's connection to shoald: global options and SHOAL_* variables → an ApiClient (gRPC loaded only when a verb connects). */
import type { Command } from 'commander';
import type { ApiClient } from '../api/client';
import { DEFAULT_ENDPOINT } from '../api/endpoint';
import type { CliIO } from './io';

/** The global options every API verb accepts (declared on the program by addClientOptions). */
export interface ClientFlags {
  endpoint?: string;
  token?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Adds --endpoint, --token, --ca-file, --cert-file, --key-file to the program. */
export function addClientOptions(program: Command): void {
  program
    .option('--endpoint <url>', `shoald API: unix:///path, /path or host:port (env SHOAL_ENDPOINT; default ${DEFAULT_ENDPOINT})`)
    .option('--token <token>', 'bearer token for a non-loopback endpoint (env SHOAL_TOKEN)')
    .option('--ca-file <pem>', 'CA certificate that signed shoald\'s TLS certificate (env SHOAL_CA_FILE)')
    .option('--cert-file <pem>', 'client certificate for mutual TLS (env SHOAL_CERT_FILE)')
    .option('--key-file <pem>', 'client key for mutual TLS (env SHOAL_KEY_FILE)');
}

/** An ApiClient for the command being run: flags win over the environment. */
export function connect(cmd: Command, io: CliIO, extra: { keepaliveMs?: number } = {}): ApiClient {
  const f = cmd.optsWithGlobals() as ClientFlags;
  // required here, not at the top: gRPC is most of shoalctl's load time, and version/help/verify/plan never use it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ApiClient } = require('../api/client') as typeof import('../api/client');
  const env = io.env;
  return new ApiClient({
    endpoint: f.endpoint ?? env.SHOAL_ENDPOINT ?? DEFAULT_ENDPOINT,
    token: f.token ?? env.SHOAL_TOKEN,
    caFile: f.caFile ?? env.SHOAL_CA_FILE,
    certFile: f.certFile ?? env.SHOAL_CERT_FILE,
    keyFile: f.keyFile ?? env.SHOAL_KEY_FILE,
    ...extra,
  });
}

/** Runs `fn` with a client for `cmd`, closing it afterwards. */
export async function withClient<T>(cmd: Command, io: CliIO, fn: (c: ApiClient) => Promise<T>): Promise<T> {
  const c = connect(cmd, io);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}
