/** shoald's metrics: every name registered on prom-client's default register, named by convention, and the strict parser. */
import t from 'tap';
import * as m from '../../src/metrics';
import { parsePromText, sampleValue } from '../helpers/prom-text';
// a published parser of Prometheus' text format (no types of its own), beside our strict one
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parsePrometheusTextFormat = require('parse-prometheus-text-format') as (text: string) => {
  name: string; help: string; type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}[];

t.test('every metric is on the default register, parses, and follows the naming conventions', async (t) => {
  m.placements.inc({ kind: 'place' });
  m.planDuration.observe(0.003);
  m.apiRequests.inc({ method: 'ListUnits', code: 'OK' });
  m.unitsByState.inc({ active_state: 'active' });
  m.dbusJobDuration.observe({ type: 'start', result: 'done' }, 0.2);
  const fams = parsePromText(await m.register.metrics());
  const ours = [...fams.values()].filter((f) => f.name.startsWith('shoal_'));
  const want = ['shoal_engine_leader', 'shoal_engine_plan_duration_seconds', 'shoal_engine_placements_total', 'shoal_engine_unplaceable_units',
    'shoal_etcd_requests_total', 'shoal_etcd_errors_total', 'shoal_agent_reconcile_passes_total', 'shoal_agent_reconcile_duration_seconds',
    'shoal_agent_dbus_job_duration_seconds', 'shoal_agent_units', 'shoal_agent_health_checks_total', 'shoal_agent_container_operations_total',
    'shoal_api_requests_total', 'shoal_api_request_duration_seconds'];
  for (const name of want) t.ok(fams.has(name), `${name} is exposed`);
  for (const f of ours) {
    t.ok(f.help && f.help.length > 10, `${f.name} has a help text`);
    if (f.type === 'counter') t.match(f.name, /_total$/, `${f.name}: a counter ends in _total`);
    else t.notMatch(f.name, /_total$/, `${f.name}: only counters end in _total`);
    if (f.type === 'histogram') t.match(f.name, /_seconds$/, `${f.name}: durations in base units (seconds)`);
  }
  t.equal(sampleValue(fams, 'shoal_engine_placements_total', { kind: 'place' }), 1);
  t.equal(sampleValue(fams, 'shoal_engine_plan_duration_seconds_count'), 1);
  t.equal(sampleValue(fams, 'shoal_engine_plan_duration_seconds_bucket', { le: '0.005' }), 1);
  t.equal(sampleValue(fams, 'shoal_engine_plan_duration_seconds_bucket', { le: '0.001' }), 0);
  // and a published Prometheus text-format parser reads the same families, types and values
  const theirs = parsePrometheusTextFormat(await m.register.metrics());
  t.same(theirs.map((f) => f.name).sort(), [...fams.keys()].sort(), 'the same metric families');
  for (const f of theirs) t.equal(f.type.toLowerCase(), fams.get(f.name)?.type, `${f.name}: the same type`);
  const placements = theirs.find((f) => f.name === 'shoal_engine_placements_total')!;
  t.equal(placements.metrics.find((x) => x.labels?.kind === 'place')?.value, '1');
  const plan = theirs.find((f) => f.name === 'shoal_engine_plan_duration_seconds')!;
  t.equal(plan.metrics[0].count, '1');
  t.equal(plan.metrics[0].buckets?.['0.005'], '1');
});

t.test('the parser is strict', async (t) => {
  const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{k="v\\"q\\\\"} 1\n';
  t.equal(sampleValue(parsePromText(ok), 'a_total', { k: 'v"q\\' }), 1);
  const bad: [string, RegExp][] = [
    ['a_total 1', /newline/],
    ['# TYPE a counter\n# TYPE a counter\na 1\n', /twice/],
    ['# TYPE a counter\na -1\n', /negative/],
    ['a{k="v} 1\n', /unterminated/],
    ['a{k="\\t"} 1\n', /bad escape/],
    ['a{1k="v"} 1\n', /bad label name/],
    ['a 1x\n', /bad value/],
    ['9a 1\n', /bad metric name/],
    ['# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n', /outside its family/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /cumulative/],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /\+Inf/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', /!= _count/],
  ];
  for (const [text, why] of bad) t.throws(() => parsePromText(text), why, JSON.stringify(text));
});

t.test('deploy/: the Grafana dashboard and the scrape config name only metrics shoald exposes', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { readFileSync } = require('node:fs') as typeof import('node:fs');
  const root = `${__dirname}/../..`;
  const dash = JSON.parse(readFileSync(`${root}/deploy/grafana-dashboard.json`, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  const names = new Set((await m.register.getMetricsAsJSON()).map((x) => x.name));
  let n = 0;
  for (const p of dash.panels) {
    for (const tg of p.targets) {
      for (const used of tg.expr.match(/shoal_[a-z_]+/g) ?? []) {
        n++;
        t.ok(names.has(used.replace(/_(bucket|sum|count)$/, '')), `${p.title}: ${used} exists`);
      }
    }
  }
  t.ok(n >= 15, `the dashboard queries ${n} series`);
  const scrape = readFileSync(`${root}/deploy/prometheus.yml`, 'utf8');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cfg = (require('yaml') as typeof import('yaml')).parse(scrape) as { scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[] };
  t.equal(cfg.scrape_configs[0].metrics_path, '/metrics');
  t.match(scrape, /:7412'/, 'the [http] listener port');
});
