/** Runs the real etcdctl against a test etcd, to look at raw keys without going through the registry. */
import { execFileSync } from 'node:child_process';

/** A plain-http endpoint, or a test etcd (startEtcd) whose own etcdctl carries its TLS files and root login. */
export type EtcdTarget = string | { etcdctl(...args: string[]): string };

/** etcdctl output (v3 API) as a string. */
export function etcdctl(endpoint: EtcdTarget, ...args: string[]): string {
  if (typeof endpoint !== 'string') return endpoint.etcdctl(...args);
  return execFileSync('etcdctl', ['--endpoints', endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } }).toString();
}

/** Every key/value under `prefix`, as a plain object. */
export function dump(endpoint: EtcdTarget, prefix: string): Record<string, string> {
  const out = etcdctl(endpoint, 'get', '--prefix', prefix, '-w', 'json');
  const res = JSON.parse(out) as { kvs?: { key: string; value?: string }[] };
  const obj: Record<string, string> = {};
  for (const kv of res.kvs ?? []) obj[Buffer.from(kv.key, 'base64').toString()] = Buffer.from(kv.value ?? '', 'base64').toString();
  return obj;
}

/** The store's current revision. */
export function revision(endpoint: EtcdTarget): number {
  const res = JSON.parse(etcdctl(endpoint, 'get', 'x', '-w', 'json')) as { header: { revision: number } };
  return Number(res.header.revision);
}
