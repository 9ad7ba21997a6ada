/** The platform named by SHOAL_PLATFORM: `testbed` (default) or `vagrant`. */
import type { Platform } from './platform';
import { TestbedPlatform } from './platform-testbed';
import { VagrantPlatform } from './platform-vagrant';

/** A platform by name; throws naming the known ones. SHOAL_TTL sets the TTL the cluster runs with; etcdMembers: the testbed's (1 or 3). */
export function createPlatform(name: string, etcdMembers: 1 | 3 = 1): Platform {
  const ttl = process.env.SHOAL_TTL ? Number(process.env.SHOAL_TTL) : undefined;
  switch (name) {
    case 'testbed': return new TestbedPlatform({ ttlSeconds: ttl, env: ttl ? { SHOAL_TTL: String(ttl) } : undefined, etcdMembers });
    case 'vagrant': return new VagrantPlatform({ ttlSeconds: ttl });
    default: throw new Error(`unknown SHOAL_PLATFORM '${name}': use testbed or vagrant`);
  }
}
