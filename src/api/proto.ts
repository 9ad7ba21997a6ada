/** Loads shoal.proto (from src/api, also when running from dist/) into a grpc-js service definition. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * Where shoal.proto lives: next to this file in src/, back in src/api when this runs from dist/src/api,
 * or from dist/ itself (the bundled shoalctl, dist/shoalctl.js).
 */
function protoPath(): string {
  const candidates = [join(__dirname, 'shoal.proto'), resolve(__dirname, '..', '..', '..', 'src', 'api', 'shoal.proto'), resolve(__dirname, '..', 'src', 'api', 'shoal.proto')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`shoal.proto not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Message fields are camelCase; enums are their names; int64 become numbers; unset fields get defaults. */
const LOAD_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

let cached: grpc.ServiceClientConstructor | undefined;

/** The `shoal.v1.Shoal` client constructor (its `.service` is the server-side definition). */
export function shoalService(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoPath(), LOAD_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { shoal: { v1: { Shoal: grpc.ServiceClientConstructor } } };
  cached = pkg.shoal.v1.Shoal;
  return cached;
}
