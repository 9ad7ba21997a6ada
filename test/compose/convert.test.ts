/**
 * `shoalctl compose convert` on compose files of the kinds people publish (test/compose/fixtures/): each
 * converts, every generated unit passes `shoalctl verify`, and carries the lines the mapping promises
 * (docs/compose.md). Then bad input: every problem named by file, line and key, and nothing written.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { shoalctl } from '../helpers/cli';
import { parseUnit } from '../../src/units';

const FIX = resolve('test/compose/fixtures');
const out = mkdtempSync(join(tmpdir(), 'shoal-compose-'));

interface Case {
  fixture: string;
  args?: string[];
  env?: Record<string, string>;
  /** unit name → lines (regexps over the whole unit text) it must hold */
  expect: Record<string, RegExp[]>;
  /** lines no unit may hold */
  absent?: RegExp[];
}

const cases: Case[] = [
  {
    fixture: 'webapp',
    expect: {
      'webapp-web.service': [/^Image=ghcr\.io\/example\/shop-web:2\.3\.1$/m, /^Port=8000:5000$/m, /^Environment=REDIS_URL=redis:\/\/cache:6379\/0$/m,
        /^After=webapp-db\.service$/m, /^Requires=webapp-cache\.service$/m, /^Restart=always$/m, /^MachineOf=webapp-db\.service$/m, /^# services\.web\.ports$/m],
      'webapp-db.service': [/^Volume=webapp_pgdata:\/var\/lib\/postgresql\/data$/m, /^Environment=POSTGRES_DB=shop$/m, /^NetworkAlias=db$/m, /^Network=webapp_default$/m],
      'webapp-cache.service': [/^Command=redis-server --appendonly yes$/m, /^MachineOf=webapp-db\.service$/m],
    },
  },
  {
    fixture: 'proxy',
    expect: {
      'edge-proxy.service': [/^Port=80:80$/m, /^Port=443:443$/m, new RegExp(`^Volume=${FIX}/proxy/nginx\\.conf:/etc/nginx/nginx\\.conf:ro$`, 'm'),
        /^Requires=edge-api\.service$/m, /^Requires=edge-app\.service$/m, /^MachineOf=edge-api\.service$/m],
      'edge-api.service': [/^# shoal-compose: project=edge service=api$/m, /expose/],
      'edge-app.service': [/^MachineOf=edge-api\.service$/m],
    },
  },
  {
    fixture: 'health',
    expect: {
      'health-app.service': [/^HealthCmd=\/bin\/sh -c "curl -fsS http:\/\/localhost:8080\/health \|\| exit 1"$/m, /^HealthInterval=30s$/m,
        /^HealthStartPeriod=1min$/m, /^HealthRetries=3$/m, /^WaitHealthy=health-db\.service$/m, /^Requires=health-db\.service$/m,
        /^Wants=health-queue\.service$/m, /^After=health-queue\.service$/m],
      'health-db.service': [/^HealthCmd=mysqladmin ping -h localhost$/m, /^HealthTimeout=2s$/m],
      'health-queue.service': [/^HealthCmd=NONE$/m],
    },
    absent: [/^Requires=health-queue/m],
  },
  {
    fixture: 'replicas',
    expect: {
      'replicas-worker@.service': [/^Instances=3$/m, /^CPUs=500m$/m, /^Memory=512M$/m, /^CPU=250m$/m, /^Memory=128M$/m, /^UpdateParallel=2$/m, /^MinHealthyTime=30s$/m,
        /^AutoRevert=true$/m, /^MachineOf=replicas-redis\.service$/m],
      'replicas-redis.service': [/^CPUs=1$/m, /^Memory=1G$/m, /^CPU=1$/m, /no reservation: reserve the limit/],
    },
  },
  {
    fixture: 'volumes',
    expect: {
      'volumes-wordpress.service': [/^Volume=volumes_wp_content:\/var\/www\/html\/wp-content$/m, /^Port=8080:80$/m],
      'volumes-db.service': [/^Volume=wordpress-db-data:\/var\/lib\/mysql$/m, /^Volume=backups:\/backups:ro$/m, /^Environment=MYSQL_RANDOM_ROOT_PASSWORD=1$/m],
    },
  },
  {
    fixture: 'dotenv',
    env: { FROM_SHELL: 'yes', API_TAG: '9.9.9' },
    expect: {
      'dotenv-api.service': [/^Image=example\/api:9\.9\.9$/m, /^Port=9090:8080$/m, /^Environment=LOG_LEVEL=debug$/m, /^Environment="PRICE=\$5"$/m,
        /^Environment=DB_URL=postgres:\/\/db\/api$/m, /^Environment="GREETING=hello, \$USER"$/m, /^Environment=FROM_SHELL=yes$/m],
    },
  },
  {
    fixture: 'placement',
    expect: {
      'placement-app.service': [/^MachineMetadata=region=eu-west$/m, /^MachineMetadata=disk=ssd$/m],
      'placement-agent.service': [/^Global=true$/m, /^Volume=\/var\/log:\/host\/log:ro$/m],
    },
    absent: [/^MachineOf=/m],
  },
  {
    fixture: 'networks',
    expect: {
      'networks-frontend.service': [/^Network=networks_front$/m, /^Port=3000:3000$/m],
      'networks-backend.service': [/^Network=networks_front$/m, /^Network=networks_back$/m, /^NetworkAlias=backend api backend\.internal$/m,
        /^MachineOf=networks-frontend\.service$/m],
      'networks-db.service': [/^Network=networks_back$/m, /^MachineOf=networks-frontend\.service$/m],
    },
  },
  {
    fixture: 'options',
    expect: {
      'options-job-runner.service': [/^Entrypoint=\/usr\/local\/bin\/tini --$/m, /^Command=run --queue "default jobs"$/m, /^User=1000:1000$/m,
        /^WorkingDir=\/srv\/app$/m, /^Restart=on-failure$/m, /^StartLimitBurst=6$/m, /^Environment=SHOAL_CONTAINER_STOP_TIMEOUT=90$/m,
        /^TimeoutStopSec=105s$/m, /^Label=com\.example\.tier=batch$/m],
      'options-scheduler.service': [/^Restart=always$/m, /^Label=com\.example\.team=payments$/m],
    },
  },
  {
    fixture: 'anchors',
    expect: {
      'anchors-api.service': [/^Restart=always$/m, /^Environment=TZ=UTC$/m],
      'anchors-worker.service': [/^Environment=QUEUE=jobs$/m, /^Environment=LANG=C\.UTF-8$/m, /^Restart=always$/m],
    },
  },
  {
    fixture: 'spread',
    args: ['--spread'],
    expect: {
      'spread-web@.service': [/^Instances=3$/m, /^Conflicts=spread-web@\*\.service$/m, /^Port=8080:80$/m],
      'spread-metrics.service': [/^Port=9090:9090$/m],
    },
    absent: [/^MachineOf=/m],
  },
  {
    fixture: 'single',
    expect: { 'single-whoami.service': [/^Image=traefik\/whoami$/m, /^Port=8081:80$/m, /^Label=com\.docker\.compose\.project=single$/m] },
  },
];

for (const c of cases) {
  t.test(`compose convert: ${c.fixture}`, async (t) => {
    const dir = join(out, c.fixture);
    const run = await shoalctl(['compose', 'convert', '-f', join(FIX, c.fixture, 'compose.yaml'), '-o', dir, ...(c.args ?? [])], { env: c.env ?? {} });
    t.equal(run.code, 0, run.stderr);
    const files = readdirSync(dir).sort();
    t.same(files, Object.keys(c.expect).sort(), 'one unit per service');
    const verify = await shoalctl(['verify', ...files.map((f) => join(dir, f))]);
    t.equal(verify.code, 0, `shoalctl verify: ${verify.stderr}`);
    for (const [name, lines] of Object.entries(c.expect)) {
      const text = readFileSync(join(dir, name), 'utf8');
      for (const re of lines) t.match(text, re, `${name} has ${re}`);
      for (const re of c.absent ?? []) t.notMatch(text, re, `${name} has no ${re}`);
      t.ok(parseUnit(name, text).container, `${name} is a container unit`);
    }
  });
}

t.test('compose convert prints the units without -o, and a second run prints the same (stable output)', async (t) => {
  const a = await shoalctl(['compose', 'convert', '-f', join(FIX, 'webapp', 'compose.yaml')]);
  const b = await shoalctl(['compose', 'convert', '-f', join(FIX, 'webapp', 'compose.yaml')]);
  t.equal(a.code, 0, a.stderr);
  t.match(a.stdout, /^# ==> webapp-web\.service <==$/m);
  t.equal(a.stdout, b.stdout);
});

t.test('-p names the project; the default file is found in the current directory', async (t) => {
  const run = await shoalctl(['compose', 'convert', '-p', 'Shop_2'], { cwd: join(FIX, 'webapp') });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^# ==> shop_2-web\.service <==$/m);
  const none = await shoalctl(['compose', 'convert'], { cwd: out });
  t.equal(none.code, 1);
  t.match(none.stderr, /no compose file: none of compose\.yaml/);
});

t.test('-f and -p also go before the verb, as docker compose takes them; the verb\'s own win', async (t) => {
  const file = join(FIX, 'webapp', 'compose.yaml');
  const after = await shoalctl(['compose', 'convert', '-f', file, '-p', 'shop']);
  const before = await shoalctl(['compose', '-f', file, '-p', 'shop', 'convert']);
  t.equal(before.code, 0, before.stderr);
  t.match(before.stdout, /^# ==> shop-web\.service <==$/m);
  t.equal(before.stdout, after.stdout);
  const both = await shoalctl(['compose', '-p', 'outer', 'convert', '-f', file, '-p', 'inner']);
  t.match(both.stdout, /^# ==> inner-web\.service <==$/m);
});

/** Bad input: [compose text, expected stderr lines]. Each must exit 1 and write nothing. */
const bad: Array<{ name: string; text: string; expect: RegExp[]; files?: Record<string, string> }> = [
  {
    name: 'unsupported keys name file, line and key; every problem is listed',
    text: 'services:\n  web:\n    image: nginx\n    build: .\n  db:\n    image: postgres\n    container_name: mydb\n    privileged: true\n',
    expect: [/compose\.yaml:4: services\.web\.build: shoal does not build images/, /compose\.yaml:7: services\.db\.container_name: /, /compose\.yaml:8: services\.db\.privileged: /, /3 problem\(s\); nothing was converted/],
  },
  {
    name: 'a required variable that is unset',
    text: 'services:\n  web:\n    image: "nginx:${TAG:?set TAG to the release}"\n',
    expect: [/compose\.yaml:3: \(interpolation\): required variable TAG is unset: set TAG to the release/],
  },
  {
    name: 'an undeclared named volume and network',
    text: 'services:\n  db:\n    image: postgres\n    volumes: ["data:/var/lib/postgresql/data"]\n    networks: [back]\n',
    expect: [/compose\.yaml:4: services\.db\.volumes\[0\]: named volume data is not declared/, /compose\.yaml:5: services\.db\.networks\[0\]: network back is not declared/],
  },
  {
    name: 'a depends_on cycle and an unknown dependency',
    text: 'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n',
    expect: [/compose\.yaml:\d+: services\.\w\.depends_on: depends_on makes a cycle: \w -> \w -> \w/],
  },
  {
    name: 'replicas publishing a port on one machine',
    text: 'services:\n  web:\n    image: x\n    ports: ["80:80"]\n    deploy:\n      replicas: 2\n  db:\n    image: y\n',
    expect: [/compose\.yaml:6: services\.web\.deploy\.replicas: 2 replicas publishing port 80 would collide.*--spread/],
  },
  {
    name: 'ports shoal cannot publish',
    text: 'services:\n  web:\n    image: x\n    ports: ["80", "127.0.0.1:81:80", "9000-9001:9000-9001"]\n',
    expect: [/:4: services\.web\.ports\[0\]: "80": a container port without a host port/, /ports\[1\]: .*a host address is not supported/, /ports\[2\]: .*port ranges/],
  },
  {
    name: 'a service without an image, a bad image, an anonymous volume',
    text: 'services:\n  web:\n    ports: ["80:80"]\n  api:\n    image: "Bad Image"\n    volumes: [/data]\n',
    expect: [/:2: services\.web: needs image:/, /:5: services\.api\.image: image "Bad Image" has a malformed name/, /:6: services\.api\.volumes\[0\]: an anonymous volume/],
  },
  {
    name: 'YAML syntax',
    text: 'services:\n  web:\n    image: x\n   ports: [80:80\n',
    expect: [/compose\.yaml:\d+: \(yaml\): /],
  },
  {
    name: 'a missing env_file and a bad line in another',
    text: 'services:\n  web:\n    image: x\n    env_file: [missing.env, bad.env]\n',
    files: { 'bad.env': 'GOOD=1\nthis is not a line\n' },
    expect: [/:4: services\.web\.env_file\[0\]: cannot read env_file missing\.env/, /:4: services\.web\.env_file\[1\]: bad\.env:2: /],
  },
  {
    name: 'condition service_healthy with --spread',
    text: 'services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_healthy}\n  db:\n    image: y\n',
    expect: [/:5: services\.web\.depends_on\.db: condition: service_healthy needs the two services on one machine/],
  },
];

for (const [i, c] of bad.entries()) {
  t.test(`compose convert refuses: ${c.name}`, async (t) => {
    const dir = join(out, `bad-${i}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'compose.yaml'), c.text);
    for (const [f, text] of Object.entries(c.files ?? {})) writeFileSync(join(dir, f), text);
    const args = ['compose', 'convert', '-o', join(dir, 'units'), ...(c.name.includes('--spread') ? ['--spread'] : [])];
    const run = await shoalctl(args, { cwd: dir });
    t.equal(run.code, 1, run.stdout);
    for (const re of c.expect) t.match(run.stderr, re);
    t.notOk(existsSync(join(dir, 'units')), 'nothing written');
  });
}

t.test('--ignore-unsupported turns each unsupported key into a warning and converts the rest', async (t) => {
  const dir = join(out, 'ignore');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'compose.yaml'), 'services:\n  web:\n    image: nginx\n    build: .\n    logging:\n      driver: json-file\nsecrets:\n  s: {file: ./s}\n');
  const run = await shoalctl(['compose', 'convert', '--ignore-unsupported', '-o', join(dir, 'units')], { cwd: dir });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, /warning: compose\.yaml:4: services\.web\.build: .*\(ignored\)/);
  t.match(run.stderr, /warning: compose\.yaml:5: services\.web\.logging: .*\(ignored\)/);
  t.match(run.stderr, /warning: compose\.yaml:7: secrets: top-level key secrets/);
  t.same(readdirSync(join(dir, 'units')), ['ignore-web.service']);
  // a bad value is still an error: --ignore-unsupported only covers keys shoal does not take
  writeFileSync(join(dir, 'compose.yaml'), 'services:\n  web:\n    image: nginx\n    build: .\n    restart: sometimes\n');
  const bad = await shoalctl(['compose', 'convert', '--ignore-unsupported'], { cwd: dir });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /compose\.yaml:5: services\.web\.restart: "sometimes" is not no, always/);
});

t.test('an unset variable without a default becomes empty, with a warning naming the line', async (t) => {
  const dir = join(out, 'unset');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'compose.yaml'), 'services:\n  web:\n    image: nginx\n    environment:\n      A: "x${NOPE}y"\n');
  const run = await shoalctl(['compose', 'convert'], { cwd: dir });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, /warning: compose\.yaml:5: variable NOPE is not set/);
  t.match(run.stdout, /^Environment=A=xy$/m);
});

t.test("docs/compose.md's example unit is what convert writes for test/compose/fixtures/health", async (t) => {
  const doc = readFileSync('docs/compose.md', 'utf8');
  const shown = /<!-- doc-test: unit health-app\.service -->\n```ini\n([\s\S]*?)```/.exec(doc)?.[1];
  t.ok(shown, 'the example is in the doc');
  const run = await shoalctl(['compose', 'convert', '-f', join(FIX, 'health', 'compose.yaml'), '-o', join(out, 'doc-health')]);
  t.equal(run.code, 0, run.stderr);
  t.equal(shown, readFileSync(join(out, 'doc-health', 'health-app.service'), 'utf8'));
});
