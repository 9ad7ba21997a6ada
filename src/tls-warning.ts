/**
 * grpc-js gives Node's TLS the endpoint's host as the server name; for an IP address (an etcd member or a
 * machine's API with an IP SAN, as on the testbed and the Vagrant VMs) Node then prints DEP0123 once per
 * process. The certificate is still verified against the IP (checkServerIdentity); only that warning goes.
 */
let dropped = false;

/** Idempotent: shoald's main() and shoalctl's entry both call it. */
export function dropIpServerNameWarning(): void {
  if (dropped) return;
  dropped = true;
  const emitWarning = process.emitWarning.bind(process) as (...a: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] ? (rest[0] as { code?: string }).code : rest[1];
    if (code === 'DEP0123') return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}
