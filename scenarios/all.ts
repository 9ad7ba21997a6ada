/** Every scenario, in the order the suite runs them, and lookup by name. */
import type { Scenario } from './scenario';
import { controlScenarios } from './scenarios-control';
import { nodeScenarios } from './scenarios-node';
import { placementScenarios } from './scenarios-placement';
import { shoaldScenarios } from './scenarios-shoald';
import { unitScenarios } from './scenarios-units';
import { groupScenarios } from './scenarios-groups';
import { drainScenarios } from './scenarios-drain';
import { autoscaleScenarios } from './scenarios-autoscale';
import { jobScenarios } from './scenarios-jobs';
import { etcdClusterScenarios } from './scenarios-etcd-cluster';
import { composeScenarios } from './scenarios-compose';

export { etcdClusterScenarios };

/** The whole suite. */
export const allScenarios: Scenario[] = [...nodeScenarios, ...controlScenarios, ...placementScenarios, ...unitScenarios, ...shoaldScenarios, ...groupScenarios, ...drainScenarios, ...autoscaleScenarios, ...jobScenarios, ...composeScenarios];

/** The scenarios named in `names` (all when empty); throws naming the unknown ones and the known ones. */
export function selectScenarios(names: string[]): Scenario[] {
  if (names.length === 0) return allScenarios;
  const unknown = names.filter((n) => !allScenarios.some((s) => s.name === n));
  if (unknown.length) {
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${allScenarios.map((s) => s.name).join(' ')}`);
  }
  return allScenarios.filter((s) => names.includes(s.name));
}
