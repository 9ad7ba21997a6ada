/**
 * How the host reaches the testbed's etcd (testbed/up): every member over TLS with the client
 * certificate testbed/certs made in testbed/run/pki. For test helpers, scenarios and benches.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdConnection } from '../etcd/client';

/** Client port of member i (1-based), as testbed/lib.sh numbers them. */
export function testbedEtcdPort(member: number): number {
  return 2379 + 10_000 * (member - 1);
}

/** Number of etcd members of the running testbed (1 unless `testbed/up --etcd 3`). */
export function testbedEtcdMembers(tbDir: string): number {
  const f = join(tbDir, 'run', 'etcd-members');
  return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) || 1 : 1;
}

/** The testbed's etcd as seen from the host (127.0.0.1), with its CA and client certificate. */
export function testbedEtcd(tbDir: string, host = '127.0.0.1'): EtcdConnection {
  const pki = join(tbDir, 'run', 'pki');
  const n = testbedEtcdMembers(tbDir);
  return {
    endpoints: Array.from({ length: n }, (_, i) => `https://${host}:${testbedEtcdPort(i + 1)}`),
    tls: { ca: join(pki, 'ca.pem'), cert: join(pki, 'client.pem'), key: join(pki, 'client-key.pem') },
  };
}

/** Plain-http /health of member i on 127.0.0.1 (etcd's --listen-metrics-urls: no certificate needed). */
export function testbedEtcdHealthUrl(member = 1): string {
  return `http://127.0.0.1:${testbedEtcdPort(member) + 11}/health`;
}
