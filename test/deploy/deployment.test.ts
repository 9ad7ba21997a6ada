/**
 * The deployment state machine (pure), over many generated rollouts with a seed that replays a failure
 * (SEED=n to run one): never more than UpdateParallel launched instances down, every rollout ends
 * (succeeded, reverted or failed as its health says), canaries wait for promote; plus worked examples.
 */
import t from 'tap';
import { seededRandom } from '../../src/seeded-random';
import { newDeployment, step, type InstanceView } from '../../src/deploy/deployment';
import { isFinished, type Deployment } from '../../src/deploy/types';

const FROM = { hash: 'f'.repeat(40), text: 'old' };
const TO = { hash: 't'.repeat(40), text: 'new' };

interface Sim {
  n: number; parallel: number; canary: number; autoRevert: boolean; deadline: number;
  /** ms a new body takes to be healthy; Infinity when the new version is broken. */
  healthyAfter: number; launched: boolean[]; promoteAt: number;
}

/** Runs one rollout on a simulated clock; returns the end state, the most instances down at once, and the steps. */
function run(sim: Sim, r: () => number) {
  const hash = new Array(sim.n).fill(FROM.hash) as string[];
  const since = new Array(sim.n).fill(-1e9) as number[];
  const names = hash.map((_, i) => `web@${i + 1}.service`);
  const healthy = (i: number, now: number) => hash[i] === FROM.hash || now - since[i] >= sim.healthyAfter;
  const views = (now: number): InstanceView[] => names.map((name, i) => ({ name, hash: hash[i], launched: sim.launched[i], healthy: healthy(i, now) }));
  let dep: Deployment = newDeployment('web@.service', FROM, TO, { ...sim, healthyDeadlineMs: sim.deadline }, sim.launched.filter(Boolean).length, 0);
  let maxDown = 0;
  let pausedSeen = false;
  for (let now = 0; now < 3_600_000 && !isFinished(dep); now += 50 + Math.floor(r() * 200)) {
    const res = step(dep, views(now), now, now >= sim.promoteAt);
    dep = res.deployment;
    if (dep.status === 'paused') pausedSeen = true;
    for (const w of res.writes) {
      const i = names.indexOf(w.name);
      if (i >= 0 && hash[i] !== w.hash) { hash[i] = w.hash; since[i] = now; }
    }
    const down = names.filter((_, i) => sim.launched[i] && !healthy(i, now)).length;
    maxDown = Math.max(maxDown, down);
  }
  return { dep, maxDown, hash, pausedSeen };
}

function generate(seed: number): Sim {
  const r = seededRandom(seed);
  const n = 1 + Math.floor(r() * 12);
  const broken = r() < 0.35;
  const launched = Array.from({ length: n }, () => r() < 0.85);
  return {
    n, parallel: 1 + Math.floor(r() * 4), canary: r() < 0.3 ? Math.floor(r() * (n + 1)) : 0, autoRevert: r() < 0.6,
    deadline: 1000 + Math.floor(r() * 5000), healthyAfter: broken ? Infinity : Math.floor(r() * 900), launched,
    promoteAt: Math.floor(r() * 20_000),
  };
}

t.test('property: at most UpdateParallel down, every rollout ends as its health says', async (t) => {
  const seeds = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 500 }, (_, i) => i + 1);
  let checked = 0;
  for (const seed of seeds) {
    const sim = generate(seed);
    const { dep, maxDown, hash, pausedSeen } = run(sim, seededRandom(seed * 7919));
    const where = `seed ${seed} (SEED=${seed} replays it): ${JSON.stringify({ ...sim, launched: undefined })}`;
    if (maxDown > sim.parallel) t.fail(`${maxDown} instances down at once > UpdateParallel=${sim.parallel}; ${where}`);
    if (!isFinished(dep)) { t.fail(`did not finish: ${dep.status} ${dep.message}; ${where}`); continue; }
    const anyLaunched = sim.launched.some(Boolean);
    const works = sim.healthyAfter !== Infinity;
    const want = works || !anyLaunched ? 'succeeded' : sim.autoRevert ? 'reverted' : 'failed';
    if (dep.status !== want) t.fail(`ended ${dep.status} (${dep.message}), expected ${want}; ${where}`);
    if (dep.status === 'succeeded' && hash.some((h) => h !== TO.hash)) t.fail(`succeeded but an instance is not at the new version; ${where}`);
    if (dep.status === 'reverted' && hash.some((h) => h !== FROM.hash)) t.fail(`reverted but an instance is not back; ${where}`);
    const canaries = Math.min(sim.canary, sim.launched.filter(Boolean).length);
    if (works && canaries > 0 && canaries < sim.launched.filter(Boolean).length && !pausedSeen) t.fail(`canaries did not wait for promote; ${where}`);
    checked++;
  }
  t.equal(checked, seeds.length, `${checked} rollouts checked`);
});

t.test('rolling 6 with UpdateParallel=2: three steps, each after the previous is healthy', async (t) => {
  const names = Array.from({ length: 6 }, (_, i) => `web@${i + 1}.service`);
  let hash = names.map(() => FROM.hash);
  const v = (healthy: boolean[]) => names.map((name, i) => ({ name, hash: hash[i], launched: true, healthy: healthy[i] }));
  let d = newDeployment('web@.service', FROM, TO, { parallel: 2, canary: 0, autoRevert: true, healthyDeadlineMs: 10_000 }, 6, 0);
  t.equal(d.steps, 3);
  let r = step(d, v(names.map(() => true)), 1, false);
  t.same(r.writes.map((w) => w.name), ['web@1.service', 'web@2.service']);
  d = r.deployment;
  hash = hash.map((h, i) => (i < 2 ? TO.hash : h));
  r = step(d, v([false, true, true, true, true, true]), 2, false);
  t.same(r.writes, [], 'waits while web@1 is not healthy');
  r = step(r.deployment, v(names.map(() => true)), 3, false);
  t.same(r.writes.map((w) => w.name), ['web@3.service', 'web@4.service'], 'next step once healthy');
  t.match(r.deployment, { step: 2, steps: 3, healthy: 2 });
});

t.test('a step past its deadline reverts the broken ones first, template included', async (t) => {
  const names = ['web@1.service', 'web@2.service', 'web@3.service'];
  const hash = [TO.hash, FROM.hash, FROM.hash];
  const d0 = newDeployment('web@.service', FROM, TO, { parallel: 1, canary: 0, autoRevert: true, healthyDeadlineMs: 1000 }, 3, 0);
  const d1 = { ...d0, step: 1, inFlight: ['web@1.service'], stepStartedAt: 0 };
  const v = names.map((name, i) => ({ name, hash: hash[i], launched: true, healthy: i > 0 }));
  t.same(step(d1, v, 999, false).writes, [], 'within the deadline: wait');
  const r = step(d1, v, 1001, false);
  t.equal(r.deployment.status, 'reverting');
  t.same(r.writes, [{ name: 'web@.service', hash: FROM.hash }, { name: 'web@1.service', hash: FROM.hash }]);
  t.match(r.deployment.message, /web@1.service not healthy within 1s: reverting/);
});

t.test('a single unit: already replaced, gated on health, reverted to its previous body', async (t) => {
  const d = newDeployment('api.service', FROM, TO, { parallel: 1, canary: 0, autoRevert: true, healthyDeadlineMs: 1000 }, 1, 0, true);
  t.same(d.inFlight, ['api.service']);
  const sick = [{ name: 'api.service', hash: TO.hash, launched: true, healthy: false }];
  const r = step(d, sick, 2000, false);
  t.same(r.writes, [{ name: 'api.service', hash: FROM.hash }], 'one write of the old body');
  t.same(r.deployment.inFlight, ['api.service'], 'the revert is gated too');
  const back = step(r.deployment, [{ name: 'api.service', hash: FROM.hash, launched: true, healthy: true }], 2100, false);
  t.equal(back.deployment.status, 'reverted');
  const ok = step(d, [{ name: 'api.service', hash: TO.hash, launched: true, healthy: true }], 500, false);
  t.equal(ok.deployment.status, 'succeeded');
});
