/** Entry point of bin/shoalctl. */
import { runCli } from './program';
import { processIO } from './io';

// grpc-js gives Node's TLS the endpoint's host as the server name; for an IP address (a machine's API
// with an IP SAN, as on the testbed) Node then prints DEP0123 on every run. The certificate is still
// verified against the IP (checkServerIdentity); only that one warning is dropped.
const emitWarning = process.emitWarning.bind(process) as (...a: unknown[]) => void;
process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
  const code = typeof rest[0] === 'object' && rest[0] ? (rest[0] as { code?: string }).code : rest[1];
  if (code === 'DEP0123') return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;

runCli(process.argv.slice(2), processIO()).then((code) => {
  process.exitCode = code;
});
