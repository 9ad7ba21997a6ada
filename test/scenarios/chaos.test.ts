/**
 * A bounded chaos campaign on the testbed (real systemd nodes, real etcd, real Docker, shoald in
 * every node): fixed seeds, a few minutes, every violation fails the test with its seed and round.
 * SHOAL_CHAOS_SEEDS="1 2", SHOAL_CHAOS_DURATION_S and SHOAL_CHAOS_FAULTS (as --faults) override.
 * Needs root and the testbed's packages (it fails, never skips, without them).
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runCampaign } from '../../scenarios/chaos-driver';
import { FAULT_KINDS, parseFaultKinds } from '../../scenarios/chaos-nemesis';
import { formatCampaign } from '../../scenarios/chaos-report';
import { Cluster } from '../../scenarios/cluster';
import { TestbedPlatform } from '../../scenarios/platform-testbed';

const seeds = (process.env.SHOAL_CHAOS_SEEDS ?? '1 2').split(/\s+/).filter(Boolean).map(Number);
const LOGS = resolve('testbed/logs/chaos');
const durationMs = Number(process.env.SHOAL_CHAOS_DURATION_S ?? 60) * 1000;
const kinds = process.env.SHOAL_CHAOS_FAULTS ? parseFaultKinds(process.env.SHOAL_CHAOS_FAULTS) : FAULT_KINDS;

t.test(`chaos campaign on the testbed, seeds ${seeds.join(' ')}`, { timeout: 900_000 }, async (t) => {
  const platform = new TestbedPlatform();
  t.teardown(() => platform.down());
  await platform.up();
  const cluster = new Cluster(platform, (m) => t.comment(m));
  t.teardown(() => cluster.close());
  for (const seed of seeds) {
    // a round with violations keeps every node's shoald journal (testbed/logs/chaos) and shows its key lines here
    const saveLog = (name: string, text: string) => {
      mkdirSync(LOGS, { recursive: true });
      writeFileSync(join(LOGS, name), text);
      const key = text.split('\n').filter((l) => /regist|lease|etcd|absent|elected|leadership|grace|unschedul|moved|stopping|starting/i.test(l));
      t.comment(`${name} (${join(LOGS, name)}), last key lines:\n${key.slice(-25).join('\n')}`);
    };
    const r = await runCampaign(platform, cluster, { seed, durationMs, kinds, log: (l) => t.comment(l), saveLog });
    t.comment(`\n${formatCampaign(r)}`);
    t.ok(r.rounds.length >= 2, `seed ${seed}: ${r.rounds.length} faults injected`);
    t.same(r.initial, [], `seed ${seed}: the initial workload settled without violations`);
    for (const x of r.rounds) {
      t.same(x.violations, [], `seed ${seed} round ${x.round}: ${x.faults.map((f, i) => `${f.kind}${x.nodes[i] ? ` on ${x.nodes[i]}` : ''}`).join(' + ')}`);
    }
  }
});
