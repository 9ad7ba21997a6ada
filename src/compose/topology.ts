/**
 * Where a project's services run relative to each other (docs/compose.md, "What crosses machines"):
 * services that share a network or depend on each other form a group that runs on one machine
 * (`MachineOf=` the group's first unreplicated service), because a per-project Docker network exists on
 * each machine separately. `--spread` lifts that: each service is placed on its own, and talks to others
 * only through published ports. `depends_on` becomes `After=` + `Requires=` (`Wants=` when not required)
 * and, for `condition: service_healthy`, `WaitHealthy=` (the container starts once its dependency's Docker
 * health is healthy). Pure; problems go to `ctx.problems`.
 */
import { addLine } from './render';
import type { ServiceContext, ServiceModel } from './service';

function unitNames(m: ServiceModel): string[] {
  if (m.replicas <= 1) return [m.draft.name];
  return Array.from({ length: m.replicas }, (_, i) => m.draft.name.replace('@.', `@${i + 1}.`));
}

/** Services in dependency order (dependencies first, else file order); undefined after reporting a cycle. */
function ordered(ctx: ServiceContext, models: ServiceModel[]): ServiceModel[] | undefined {
  const by = new Map(models.map((m) => [m.service, m]));
  const out: ServiceModel[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (m: ServiceModel, chain: string[]): boolean => {
    if (state.get(m.service) === 'done') return true;
    if (state.get(m.service) === 'visiting') {
      ctx.problems.push(m.node.get('depends_on').problem(`depends_on makes a cycle: ${[...chain, m.service].join(' -> ')}`));
      return false;
    }
    state.set(m.service, 'visiting');
    for (const d of m.dependsOn) if (!visit(by.get(d.service) as ServiceModel, [...chain, m.service])) return false;
    state.set(m.service, 'done');
    out.push(m);
    return true;
  };
  for (const m of models) if (!visit(m, [])) return undefined;
  return out;
}

/** Adds dependency and co-location lines to every draft. */
export function placeServices(ctx: ServiceContext, models: ServiceModel[], spread: boolean): void {
  const by = new Map(models.map((m) => [m.service, m]));
  for (const m of models) {
    for (const d of m.dependsOn) {
      if (!by.has(d.service)) ctx.problems.push(d.node.problem(`depends on ${d.service}, which is not a service of this file`));
      else if (d.service === m.service) ctx.problems.push(d.node.problem('a service cannot depend on itself'));
    }
  }
  if (ctx.problems.length) return;
  const order = ordered(ctx, models);
  if (!order) return;

  // groups: union of shared networks and depends_on edges (globals run everywhere: no group needed)
  const parent = new Map(models.map((m) => [m.service, m.service]));
  const find = (s: string): string => (parent.get(s) === s ? s : find(parent.get(s) as string));
  const union = (a: string, b: string) => parent.set(find(a), find(b));
  if (!spread) {
    const byNet = new Map<string, string>();
    for (const m of models) {
      if (m.global) continue;
      for (const n of m.networks) { const first = byNet.get(n); if (first) union(first, m.service); else byNet.set(n, m.service); }
      for (const d of m.dependsOn) if (!(by.get(d.service) as ServiceModel).global) union(m.service, d.service);
    }
  }
  const groups = new Map<string, ServiceModel[]>();
  for (const m of order) if (!m.global) (groups.get(find(m.service)) ?? groups.set(find(m.service), []).get(find(m.service)) as ServiceModel[]).push(m);

  for (const members of groups.values()) {
    const together = members.length > 1;
    const anchor = members.find((m) => m.replicas <= 1);
    if (together && !anchor) {
      ctx.problems.push(members[0].deployNode.problem(`services ${members.map((m) => m.service).join(', ')} share a network or depend on each other, so shoal runs them on one machine through an unreplicated one, and all are replicated; give --spread (they then reach each other only through published ports)`, `services.${members[0].service}.deploy.replicas`));
      continue;
    }
    for (const m of members) {
      if (m.replicas > 1 && m.ports.length > 0) {
        if (together) {
          ctx.problems.push(m.deployNode.get('replicas').problem(`${m.replicas} replicas publishing port ${m.ports[0].host} would collide on the one machine this project's group runs on; give --spread (instances then run on distinct machines) or drop the published port`));
          continue;
        }
        addLine(m.draft, 'X-Fleet', 'Conflicts', m.draft.name.replace('@.', '@*.'), `services.${m.service}.ports (instances publish the same port: one per machine)`);
      }
      if (together && m !== anchor) {
        const why = spreadWhy(m, anchor as ServiceModel);
        addLine(m.draft, 'X-Fleet', 'MachineOf', (anchor as ServiceModel).draft.name, why);
      }
    }
    if (together) (anchor as ServiceModel).draft.notes.push(`runs on one machine with ${members.filter((m) => m !== anchor).map((m) => m.draft.name).join(', ')} (they share a network or depend on each other)`);
  }

  for (const m of models) {
    for (const d of m.dependsOn) {
      const target = by.get(d.service) as ServiceModel;
      const names = unitNames(target);
      const from = `services.${m.service}.depends_on.${d.service}`;
      if (spread && !target.global) {
        if (d.condition === 'service_healthy') ctx.problems.push(d.node.problem('condition: service_healthy needs the two services on one machine; drop --spread'));
        else m.draft.notes.push(`${from}: with --spread the services may run on different machines, so systemd cannot order them; ${m.service} must retry until ${d.service} answers`);
        continue;
      }
      addLine(m.draft, 'Unit', 'After', names.join(' '), from);
      addLine(m.draft, 'Unit', d.required ? 'Requires' : 'Wants', names.join(' '), from);
      if (d.condition === 'service_healthy') addLine(m.draft, 'X-Container', 'WaitHealthy', names.join(' '), `${from}.condition: service_healthy`);
    }
  }
}

function spreadWhy(m: ServiceModel, anchor: ServiceModel): string {
  const dep = m.dependsOn.some((d) => d.service === anchor.service);
  const net = m.networks.find((n) => anchor.networks.includes(n));
  return `co-located with ${anchor.service}: ${dep ? `depends_on ${anchor.service}` : net ? `network ${net} is per machine` : 'same group (shared networks, depends_on)'}`;
}
