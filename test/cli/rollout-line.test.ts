/** `rollout status` lines: the version instances move away from and the one they move to, also while reverting. */
import t from 'tap';
import { line } from '../../src/cli/commands/rollout';
import type { DeploymentMsg } from '../../src/api/messages';

const dep = (over: Partial<DeploymentMsg>): DeploymentMsg => ({
  unit: 'web@.service', id: 'x', fromHash: 'aaaaaaa1', toHash: 'bbbbbbb2', target: 'bbbbbbb2', status: 'running',
  step: 1, steps: 3, healthy: 1, total: 3, message: '', ...over,
} as DeploymentMsg);

t.test('rolling forward: from -> to', async (t) => {
  t.match(line(dep({})), /^web@\.service aaaaaaa -> bbbbbbb: running, step 1\/3, 1\/3 healthy$/);
});

t.test('reverting: to -> from (a newcomer saw "b639228 -> b639228: reverting")', async (t) => {
  t.match(line(dep({ status: 'reverting', target: 'aaaaaaa1' })), /^web@\.service bbbbbbb -> aaaaaaa: reverting/);
  t.match(line(dep({ status: 'reverted', target: 'aaaaaaa1' })), /bbbbbbb -> aaaaaaa: reverted/);
});

t.test('a first version: nothing to move away from', async (t) => {
  t.match(line(dep({ fromHash: '' })), /^web@\.service - -> bbbbbbb/);
});
