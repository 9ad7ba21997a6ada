/**
 * Every command shown in a `commands` block of README.md or docs/*.md, and how the doc-tests run it.
 * test/docs/docs.test.ts fails when a command in the docs is missing here, or an entry here is no longer
 * in the docs: this list IS the list of commands shown, including those that cannot sensibly run.
 * Keys are the command as shown, without its comment, whitespace collapsed.
 */

/** How a doc command is tested. */
export type CommandTest =
  /**
   * Runs on the host (repository root, no cluster) in test/docs/docs.test.ts; must exit 0, or `exit` for a
   * command the doc shows failing (a refused unit file); `expect`: what its output (stdout and stderr) must show.
   */
  | { run: 'host'; timeoutMs?: number; exit?: number; expect?: RegExp }
  /**
   * Runs in order in test/docs/docs-cluster.test.ts, against a 3-node testbed running the example units
   * (as scripts/demo sets it up); must exit 0. `as`: the command run instead, for a placeholder the doc
   * shows (NODE_IP); `followMs`: it follows output (journal -f): it must still run and have printed after this;
   * `expect`: what its output must show (what the doc says it shows); `retryMs`: what it shows comes about
   * by itself (e.g. after the README's node kill, once a new leader placed a job): run it again until it does.
   */
  | { run: 'cluster'; as?: string; followMs?: number; expect?: RegExp; retryMs?: number }
  /** Not run; why. */
  | { notRun: string };

export const COMMANDS: Record<string, CommandTest> = {
  // README.md: getting started
  'scripts/demo': { notRun: 'installs packages (apt-get, npm ci) and takes the machine\'s testbed for good; what it sets up (testbed/up 3 with the API on node1, submit units-examples/*, start the example units) is what test/docs/docs-cluster.test.ts sets up before the tour' },
  'scripts/test': { notRun: 'the whole test suite, of which the doc-tests are a part' },
  // README.md: the tour
  'bin/shoalctl list-machines': { run: 'cluster' },
  'bin/shoalctl list-units': { run: 'cluster' },
  'bin/shoalctl list-unit-files': { run: 'cluster' },
  'bin/shoalctl list-units hello.service discovery.service': { run: 'cluster', expect: /^discovery\.service +(\S+) +active +running\b.*\nhello\.service +\1 +active/m },
  'bin/shoalctl status hello.service': { run: 'cluster', expect: /Active: active \(running\)/ },
  'bin/shoalctl status monitor.service': { run: 'cluster', expect: /^# monitor\.service on [0-9a-f]{8}\.\.\.(.|\n)*^# monitor\.service on (.|\n)*^# monitor\.service on /m },
  'bin/shoalctl journal -f hello.service': { run: 'cluster', followMs: 3000 },
  // docs/observability.md
  'bin/shoalctl events --since 1h': { run: 'cluster', expect: /^\S+Z {2}unit\.\S+ +\S+\.service/m },
  'bin/shoalctl events -f --unit hello.service': { run: 'cluster', followMs: 3000, expect: /hello\.service/ },
  'bin/shoalctl events -o json --kind unit.': { run: 'cluster', expect: /^\{"time":"[^"]+","kind":"unit\./m },
  'bin/shoalctl explain lb@3.service': { run: 'cluster' },
  'bin/shoalctl start worker@{3..5}.service': { run: 'cluster' },
  'bin/shoalctl submit --replace units-examples/hello.service': { run: 'cluster' },
  'curl http://NODE_IP:8080/hostname': {
    run: 'cluster',
    as: 'curl -sf -m 5 "http://$(bin/shoalctl list-units --no-legend --full --fields machine web-container.service | cut -d/ -f2):8080/hostname"',
  },
  'testbed/node kill node2': { run: 'cluster' },
  // docs/web.md (node1 listens on 0.0.0.0:7412 in the cluster doc-test)
  'curl -s -u shoal:$SHOAL_TOKEN http://NODE_IP:7412/api/status | head -c 300': {
    run: 'cluster', as: 'curl -sf -m 5 -u shoal:$SHOAL_TOKEN "http://$(testbed/node ip node1):7412/api/status" | head -c 300', expect: /^\{"revision":\d+/,
  },
  "curl -s -o /dev/null -w '%{http_code}\\n' http://NODE_IP:7412/": {
    run: 'cluster', as: 'curl -s -m 5 -o /dev/null -w \'%{http_code}\\n\' "http://$(testbed/node ip node1):7412/"', expect: /^401$/m,
  },
  'curl -s -u shoal:$SHOAL_TOKEN http://NODE_IP:7412/metrics | grep shoal_http': {
    run: 'cluster', as: 'curl -sf -m 5 -u shoal:$SHOAL_TOKEN "http://$(testbed/node ip node1):7412/metrics" | grep shoal_http', expect: /shoal_http_requests_total\{route="\/api\/status",code="200"\} [1-9]/,
  },
  // docs/security.md
  'testbed/certs /tmp/shoal-pki-doc 10.0.0.1 etcd.example': { run: 'host' },
  'openssl verify -CAfile /tmp/shoal-pki-doc/ca.pem /tmp/shoal-pki-doc/server.pem /tmp/shoal-pki-doc/client.pem': { run: 'host' },
  'testbed/etcd status': { run: 'cluster' },
  'testbed/etcd etcdctl endpoint health': { run: 'cluster' },
  'testbed/etcd etcdctl get --prefix --keys-only /shoal/machines/': { run: 'cluster' },
  // docs/scenarios.md
  'sudo npm run scenarios': { notRun: 'the whole scenario suite on its own testbed (minutes); test/scenarios/scenarios.test.ts runs it' },
  'sudo npm run scenarios -- node-kill leader-pause': { notRun: 'scenarios test/scenarios/scenarios.test.ts already runs, on their own testbed' },
  'npm run scenarios -- --list': { run: 'host', timeoutMs: 180_000 },
  'sudo npm run scenarios -- --etcd 3': { notRun: 'the 3-member etcd scenarios on their own testbed; test/scenarios/scenarios.test.ts runs them' },
  'SHOAL_PLATFORM=vagrant npm run scenarios': { notRun: 'needs the Vagrant VMs (docs/vagrant.md: minutes to boot under TCG)' },
  'SHOAL_SCENARIOS="node-cut etcd-pause" npx tap test/scenarios/scenarios.test.ts': { notRun: 'scenarios test/scenarios/scenarios.test.ts already runs (this is that file, filtered)' },
  'sudo npm run chaos -- --seed 1 --duration 120': { notRun: 'a 2-minute chaos campaign on its own testbed; test/scenarios/chaos.test.ts runs a bounded campaign (seeds 1 and 2)' },
  'sudo npm run chaos -- --seed 1,2,3 --duration 300 --nodes 4': { notRun: 'three 5-minute campaigns: far past the suite\'s budget; test/scenarios/chaos.test.ts runs a bounded one' },
  'sudo npm run chaos -- --seed 7 --duration 60 --faults node-kill,etcd-pause': { notRun: 'a chaos campaign (minutes, its own testbed); test/scenarios/chaos.test.ts runs a bounded one with every fault' },
  'sudo npm run chaos -- --seed 7 --duration 60 --faults -dockerd-pause': { notRun: 'a chaos campaign (minutes, its own testbed); test/scenarios/chaos.test.ts runs a bounded one with every fault' },
  // docs/autoscaling.md
  'bin/shoalctl list-machines --fields machine,cpu,cpu-use,mem-free,disk-free': { run: 'cluster', expect: /^MACHINE +CPU +CPU-USE +MEM-FREE +DISK-FREE/m },
  'bin/shoalctl list-units --fields unit,machine,cpu-use,mem-use': { run: 'cluster', expect: /^UNIT +MACHINE +CPU-USE +MEM-USE/m },
  'bin/shoalctl events --kind autoscale.decision': { run: 'cluster' },
  // docs/vagrant.md
  'vagrant/setup': { notRun: 'installs libvirt, QEMU and vagrant-libvirt and starts libvirtd for good; run by npm run scenarios:vagrant and npm run test:vagrant (outside the default run: VMs under TCG take many minutes)' },
  'npm ci && npm run build': { notRun: 'what scripts/install does before every test run' },
  'npm run scenarios:vagrant -- node-kill shoald-restart': { notRun: 'needs the Vagrant VMs' },
  'cd vagrant': { notRun: 'part of the Vagrant session below' },
  'vagrant up': { notRun: 'boots 3 VMs (196 s under TCG on this machine); test/scenarios/vagrant-lint.test.ts checks the Vagrantfile' },
  "vagrant ssh node1 -c 'sudo etcdctl --endpoints=https://192.168.56.11:2379 --cacert=/etc/shoal/pki/ca.pem --cert=/etc/shoal/pki/client.pem --key=/etc/shoal/pki/client-key.pem member list'": { notRun: 'needs the 3 Vagrant VMs; vagrant/test/boot.test.ts runs this etcdctl with these certificates in its VM (endpoint health)' },
  "vagrant ssh node1 -c 'sudo journalctl -u shoald -n 20'": { notRun: 'needs the Vagrant VMs' },
  'export SHOAL_ENDPOINT=192.168.56.11:7411 SHOAL_TOKEN=$(cat vagrant/.vagrant/shoal-api-token)': { notRun: 'needs the Vagrant VMs (their token file)' },
  'SHOAL_PLATFORM=vagrant npm run scenarios -- node-cut leader-pause': { notRun: 'needs the Vagrant VMs' },
  // docs/units.md: what verify and every submit refuse
  'bin/shoalctl verify examples/bad-units/noexec.service examples/bad-units/typos.service': {
    run: 'host', exit: 1,
    expect: /noexec\.service:5: \[Service\] ExecStrat: warning: unknown key; did you mean ExecStart\?(.|\n)*noexec\.service:4: \[Service\] ExecStart: systemd would refuse to load it(.|\n)*typos\.service:4: \[Servce\]: unknown section \[Servce\]; did you mean \[Service\]\?(.|\n)*typos\.service:8: \[X-Fleet\] MachineMetdata: .*did you mean MachineMetadata\?(.|\n)*Error: 2 of 2 unit file\(s\) invalid/,
  },
  'bin/shoalctl submit examples/bad-units/noexec.service units-examples/hello.service': {
    run: 'host', exit: 1, expect: /noexec\.service:4: \[Service\] ExecStart: systemd would refuse to load it(.|\n)*Error: 1 of 2 unit file\(s\) invalid: nothing was submitted/,
  },
  // docs/jobs.md
  'bin/shoalctl verify units-examples/report.service units-examples/shard@.service units-examples/tick@.service': { run: 'host' },
  'bin/shoalctl start report.service shard@.service': { run: 'cluster', expect: /Triggered batch unit report\.service/ },
  // the README's node kill may have taken the leader: a new one is elected within TTL, then the job runs
  'bin/shoalctl jobs': { run: 'cluster', expect: /^report\.service +run /m, retryMs: 20_000 },
  'bin/shoalctl jobs report.service --runs': { run: 'cluster' },
  'bin/shoalctl status report.service': { run: 'cluster', expect: /^job: (pending|running|succeeded)/m, retryMs: 20_000 },
  'bin/shoalctl journal report.service': { run: 'cluster', retryMs: 20_000 },
  // docs/compose.md
  'bin/shoalctl compose convert -f test/compose/fixtures/webapp/compose.yaml': { run: 'host' },
  'bin/shoalctl compose convert -f test/compose/fixtures/webapp/compose.yaml -o /tmp/webapp-units': { run: 'host' },
  'bin/shoalctl verify /tmp/webapp-units/webapp-web.service': { run: 'host' },
  'bin/shoalctl compose up -f examples/compose/compose.yaml': { run: 'cluster', expect: /^Unit hello-web\.service (submitted|unchanged)$/m },
  'bin/shoalctl compose ps -f examples/compose/compose.yaml': {
    run: 'cluster', expect: /^SERVICE +UNIT +MACHINE +ACTIVE +SUB +HEALTH\napi +hello-api\.service +(\S+) +active +running +\S+\nweb +hello-web\.service +\1 +active/,
  },
  'curl http://NODE_IP:8090/': {
    run: 'cluster', retryMs: 20_000, expect: /^(hello|bonjour) from web\napi says hi\n$/,
    as: 'curl -sf -m 5 "http://$(bin/shoalctl compose ps -f examples/compose/compose.yaml | awk \'$1 == "web" { print $3 }\' | cut -d/ -f2):8090/"',
  },
  'GREETING=bonjour bin/shoalctl compose up -f examples/compose/compose.yaml': {
    run: 'cluster', expect: /^Unit hello-web\.service replaced\nUnit hello-api\.service unchanged$/m,
  },
  'bin/shoalctl compose down -f examples/compose/compose.yaml': { run: 'cluster', expect: /^Project hello is down$/m },
};
