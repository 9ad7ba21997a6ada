/**
 * `npm run chaos -- --seed N --duration SECONDS [--nodes K] [--faults …]`: brings a fresh testbed
 * up (root), runs one campaign per seed on it (chaos-driver.ts), prints the table and
 * `violations: N`, tears down. Exits 1 on any violation, 2 on a usage error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCampaign, type CampaignResult } from './chaos-driver';
import { formatCampaign, parseChaosArgs, summarize } from './chaos-report';
import { Cluster } from './cluster';
import { TestbedPlatform } from './platform-testbed';

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseChaosArgs(argv);
  } catch (err) {
    console.error(`chaos: ${(err as Error).message}`);
    return 2;
  }
  const ttl = process.env.SHOAL_TTL ? Number(process.env.SHOAL_TTL) : undefined;
  // a long campaign may queue behind other testbed users for a while
  const platform = new TestbedPlatform({
    nodes: args.nodes, ttlSeconds: ttl, env: ttl ? { SHOAL_TTL: String(ttl) } : undefined, lockTimeoutMs: 45 * 60_000,
  });
  const t0 = Date.now();
  const log = (l: string) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${l}`);
  const stop = () => { void platform.down().finally(() => process.exit(130)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const results: CampaignResult[] = [];
  // shoald's logs of the rounds with violations outlive the testbed (its nodes' journals do not)
  const logDir = join(__dirname, '..', '..', 'testbed', 'logs', 'chaos');
  const saveLog = (name: string, text: string) => {
    mkdirSync(logDir, { recursive: true });
    writeFileSync(join(logDir, name), text);
    log(`  kept ${join(logDir, name)}`);
  };
  try {
    log(`bringing up the testbed: ${args.nodes} nodes + ${platform.spare} to join; faults: ${args.kinds.join(',')}`);
    await platform.up();
    const cluster = new Cluster(platform, (m) => log(`  ${m}`));
    try {
      for (const seed of args.seeds) {
        log(`seed ${seed}: ${args.durationS} s`);
        results.push(await runCampaign(platform, cluster, { seed, durationMs: args.durationS * 1000, kinds: args.kinds, log, saveLog }));
      }
    } finally {
      cluster.close();
    }
  } catch (err) {
    console.error(`chaos: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await platform.down().catch((err) => console.error(`chaos: teardown failed: ${(err as Error).message}`));
  }
  for (const r of results) console.log(formatCampaign(r));
  console.log(summarize(results));
  const n = results.reduce((s, r) => s + r.violations, 0);
  console.log(`violations: ${n}`);
  return n === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
