/**
 * shoald's Prometheus metrics, on prom-client's default `register` (the web listener serves it at
 * /metrics: src/web/server.ts). Defined once here so each name is registered once per process; modules
 * import the ones they move. Names follow Prometheus conventions: `shoal_<area>_…_total` for counters,
 * base units (`_seconds`, `_bytes`). See docs/observability.md for each one.
 */
import { Counter, Gauge, Histogram, register } from 'prom-client';

export { register };

/** Gets a metric already registered under `name` (a second import of this module in one process, e.g. tests) or makes it. */
function once<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// engine
export const engineLeader = once('shoal_engine_leader', () => new Gauge({ name: 'shoal_engine_leader', help: '1 while this engine is the leader, else 0' }));
export const engineTerms = once('shoal_engine_leader_terms_total', () => new Counter({ name: 'shoal_engine_leader_terms_total', help: 'Times this engine won the leader election' }));
export const planDuration = once('shoal_engine_plan_duration_seconds', () => new Histogram({ name: 'shoal_engine_plan_duration_seconds', help: 'Time to compute one plan (placement pass), seconds', buckets: SECONDS }));
export const placements = once('shoal_engine_placements_total', () => new Counter({ name: 'shoal_engine_placements_total', help: 'Schedule decisions written to etcd, by kind (place, move, unschedule)', labelNames: ['kind'] }));
export const unplaceable = once('shoal_engine_unplaceable_units', () => new Gauge({ name: 'shoal_engine_unplaceable_units', help: 'Units the last plan could not place' }));

// etcd (every shoald role)
export const etcdRequests = once('shoal_etcd_requests_total', () => new Counter({ name: 'shoal_etcd_requests_total', help: 'etcd calls, by operation', labelNames: ['op'] }));
export const etcdErrors = once('shoal_etcd_errors_total', () => new Counter({ name: 'shoal_etcd_errors_total', help: 'etcd calls that failed, by operation', labelNames: ['op'] }));

// agent
export const reconcilePasses = once('shoal_agent_reconcile_passes_total', () => new Counter({ name: 'shoal_agent_reconcile_passes_total', help: 'Agent reconcile passes' }));
export const reconcileDuration = once('shoal_agent_reconcile_duration_seconds', () => new Histogram({ name: 'shoal_agent_reconcile_duration_seconds', help: 'Time of one agent reconcile pass, seconds', buckets: SECONDS }));
export const dbusJobDuration = once('shoal_agent_dbus_job_duration_seconds', () => new Histogram({ name: 'shoal_agent_dbus_job_duration_seconds', help: 'systemd job durations (queued to settled), by job type and result', labelNames: ['type', 'result'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 90] }));
export const unitsByState = once('shoal_agent_units', () => new Gauge({ name: 'shoal_agent_units', help: 'Units this agent runs, by systemd active state', labelNames: ['active_state'] }));
export const healthChecks = once('shoal_agent_health_checks_total', () => new Counter({ name: 'shoal_agent_health_checks_total', help: 'Health check results, by result (healthy, unhealthy)', labelNames: ['result'] }));
export const containerOps = once('shoal_agent_container_operations_total', () => new Counter({ name: 'shoal_agent_container_operations_total', help: 'Docker operations by the agent, by operation and result (ok, error)', labelNames: ['op', 'result'] }));

// API
export const apiRequests = once('shoal_api_requests_total', () => new Counter({ name: 'shoal_api_requests_total', help: 'gRPC API calls, by method and status code name', labelNames: ['method', 'code'] }));
export const apiDuration = once('shoal_api_request_duration_seconds', () => new Histogram({ name: 'shoal_api_request_duration_seconds', help: 'gRPC unary API call durations, seconds', labelNames: ['method'], buckets: SECONDS }));

// events
export const eventsStored = once('shoal_events_stored_total', () => new Counter({ name: 'shoal_events_stored_total', help: 'Cluster events stored by this process (derived by the recorder or emitted)', labelNames: ['source'] }));
