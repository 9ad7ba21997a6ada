# testbed/lib.sh — settings and helpers shared by testbed/up, testbed/down and testbed/node.
# Sourced, not run. Everything the testbed creates is named here, so `down` removes exactly that.
# shellcheck shell=bash

TB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHOAL_PROJECT=${SHOAL_PROJECT:-$(cd "$TB/.." && pwd)}   # mounted read-only at /opt/shoal in nodes
SHOAL_BRIDGE=${SHOAL_BRIDGE:-br-shoal}
SHOAL_NET=${SHOAL_NET:-10.88.0}
SHOAL_BRIDGE_MAC=02:00:0a:58:00:01                      # fixed MAC: see "Bridge MAC is fixed" in docs/testbed.md
SHOAL_ETCD_URL=https://$SHOAL_NET.1:2379                  # the first etcd member, as nodes see it
SHOAL_PREFIX=${SHOAL_PREFIX:-/shoal/}
SHOAL_DOCKER_DIR=/run/shoal-docker                       # host engine's extra socket dir, bound into nodes
LOCK=/run/shoal-testbed.lock                              # "pid" of the process that owns the testbed
RUN=$TB/run
LOGS=$TB/logs
CG_ROOT=shoal                                             # nodes' cgroups: /sys/fs/cgroup/{systemd,unified}/shoal/<node>

now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
die() { echo "testbed: $*" >&2; exit 1; }

# A pid counts as running unless gone or a zombie (nspawn is re-parented and may be reaped late).
running() { [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# running AND still the program we started (pid files can be stale and pids reused)
ours() { running "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]; }

node_run() { echo "$RUN/nodes/$1"; }
node_pid1() { cat "$(node_run "$1")/pid1" 2>/dev/null; }
node_alive() { local p; p=$(cat "$(node_run "$1")/nspawn.pid" 2>/dev/null); ours "$p" systemd-nspawn; }
node_ip() {
  [[ $1 =~ ^node([0-9]+)$ ]] || die "node names are node1..node240, got '$1'"
  local n=${BASH_REMATCH[1]}
  ((n >= 1 && n <= 240)) || die "node number out of range: $1"
  echo "$SHOAL_NET.$((10 + n))"
}

# `$SHOAL_<NAME>_<node>` if set, else `$SHOAL_<NAME>`: per-node overrides for scheduling tests.
per_node() { local v="SHOAL_${1}_$2" g="SHOAL_$1"; echo "${!v:-${!g:-}}"; }

require_root_and_tools() {
  [ "$(id -u)" = 0 ] || die "must run as root (nspawn, bridges and cgroups need it)"
  local c missing=()
  for c in systemd-nspawn nsenter etcd etcdctl ip iptables node curl busybox openssl; do
    command -v "$c" > /dev/null || missing+=("$c")
  done
  [ ${#missing[@]} = 0 ] || die "missing ${missing[*]}: apt-get install -y systemd-container etcd-server etcd-client iptables busybox-static openssl"
}

# The lock names who owns the testbed: the pid of a test process (SHOAL_TESTBED_OWNER, set by
# test/helpers/testbed.ts), or "manual" for one started by hand, which tests then wait for.
check_lock() {
  local p
  p=$(cat "$LOCK" 2>/dev/null) || return 0
  [ "$p" = manual ] && return 0
  running "$p" || return 0
  [ "$p" = "${SHOAL_TESTBED_OWNER:-}" ] \
    || die "the testbed is in use by pid $p ($(tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-80)); wait, or rm $LOCK"
}
take_lock() { check_lock; echo "${SHOAL_TESTBED_OWNER:-manual}" > "$LOCK"; }
release_lock() {
  local p; p=$(cat "$LOCK" 2>/dev/null) || return 0
  if [ "$p" = manual ] || [ "$p" = "${SHOAL_TESTBED_OWNER:-}" ] || ! running "$p"; then rm -f "$LOCK"; fi
}

docker_ok() { command -v docker > /dev/null && docker version > /dev/null 2>&1; }

# What the nodes' agents made on the shared host engine and a gone machine cannot clean up any more: containers
# labelled shoal.* (with their anonymous volumes: -v) and networks labelled shoal.machine (compose project
# networks, one per machine). Named volumes stay, as on a real machine. Prints what it removed.
remove_shoal_docker_objects() {
  local ids nets
  ids=$( (docker ps -aq --filter label=shoal.machine; docker ps -aq --filter label=shoal.unit
    docker ps -aq --filter label=shoal.node) | sort -u)
  [ -z "$ids" ] || { docker rm -f -v $ids > /dev/null; echo "removed host containers: $(echo $ids)"; }
  nets=$(docker network ls -q --filter label=shoal.machine)
  [ -z "$nets" ] || { docker network rm $nets > /dev/null; echo "removed host networks: $(echo $nets)"; }
  return 0
}

# etcd runs with TLS and client-certificate auth: testbed/certs makes a CA, etcd's certificate and a
# client certificate in $PKI at `up`; nodes see the CA and the client certificate at $NODE_PKI.
PKI=$RUN/pki
NODE_PKI=/etc/shoal/pki
# Member i (1..3) of etcd: etcd<i>, client port 2379 + 10000*(i-1), peer port +1, plain-http /health
# and /metrics on 127.0.0.1 at port +11 (so probes need no client certificate; not 2381, bench:peers runs
# fleet's etcd there). One member by default.
etcd_members() { cat "$RUN/etcd-members" 2> /dev/null || echo 1; }
etcd_port() { echo $((2379 + 10000 * ($1 - 1))); }
etcd_health_url() { echo "http://127.0.0.1:$(($(etcd_port "$1") + 11))/health"; }
# every member's client URL, comma-separated: $1 = host (127.0.0.1 from the host, $SHOAL_NET.1 from nodes)
etcd_urls() { local i out=""; for ((i = 1; i <= $(etcd_members); i++)); do out="$out${out:+,}https://$1:$(etcd_port "$i")"; done; echo "$out"; }
etcd_initial_cluster() { local i out=""; for ((i = 1; i <= $(etcd_members); i++)); do out="$out${out:+,}etcd$i=https://127.0.0.1:$(($(etcd_port "$i") + 1))"; done; echo "$out"; }
etcd_pid() { cat "$RUN/etcd$1.pid" 2> /dev/null; }
etcd_healthy() { curl -sf -m 1 "$(etcd_health_url "$1")" 2> /dev/null | grep -q '"health":"true"'; }
etcdctl_() {
  ETCDCTL_API=3 etcdctl --endpoints="$(etcd_urls 127.0.0.1)" --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client-key.pem" \
    --dial-timeout=2s --command-timeout=5s "$@"
}
# etcdctl as etcd's root-role user `etcd` (the CN of server.pem): membership changes need it once auth is on
etcdctl_admin() {
  ETCDCTL_API=3 etcdctl --endpoints="$(etcd_urls 127.0.0.1)" --cacert "$PKI/ca.pem" --cert "$PKI/server.pem" --key "$PKI/server-key.pem" \
    --dial-timeout=2s --command-timeout=5s "$@"
}
# etcd auth on (docs/security.md): etcd takes a client certificate's CN as the user, so shoal (client.pem,
# CN shoal) is the user `shoal`, which may read and write every key under / and nothing else; `etcd`
# (server.pem) and `root` have the root role. The passwords are random and unused (certificates log in).
etcd_auth_enable() {
  local pw u
  pw() { head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 20; }
  for u in root etcd; do etcdctl_ user add "$u:$(pw)" > /dev/null && etcdctl_ user grant-role "$u" root > /dev/null || return 1; done
  etcdctl_ role add shoal > /dev/null && etcdctl_ role grant-permission shoal --prefix=true readwrite / > /dev/null \
    && etcdctl_ user add "shoal:$(pw)" > /dev/null && etcdctl_ user grant-role shoal shoal > /dev/null && etcdctl_ auth enable > /dev/null
}
# Starts member $1 as a host process (TLS for clients and peers, client certificates required);
# $2 = new | existing (joining a running cluster after `etcdctl member add`).
etcd_start() {
  local i=$1 state=${2:-new} c p m timing
  c=$(etcd_port "$i"); p=$((c + 1)); m=$((c + 11))
  # a single member elects itself in ~0.1 s with these; three members on a loaded 2-core host need slack
  if [ "$(etcd_members)" = 1 ]; then timing=(--heartbeat-interval=10 --election-timeout=100)
  else timing=(--heartbeat-interval=50 --election-timeout=500); fi
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$RUN/etcd$i.pid" etcd --name "etcd$i" \
    --data-dir "$RUN/etcd$i-data" \
    --listen-client-urls "https://127.0.0.1:$c,https://$SHOAL_NET.1:$c" --advertise-client-urls "https://$SHOAL_NET.1:$c" \
    --listen-peer-urls "https://127.0.0.1:$p" --initial-advertise-peer-urls "https://127.0.0.1:$p" \
    --listen-metrics-urls "http://127.0.0.1:$m" \
    --initial-cluster "$(etcd_initial_cluster)" --initial-cluster-state "$state" --initial-cluster-token shoal-testbed \
    --cert-file "$PKI/server.pem" --key-file "$PKI/server-key.pem" --trusted-ca-file "$PKI/ca.pem" --client-cert-auth \
    --peer-cert-file "$PKI/server.pem" --peer-key-file "$PKI/server-key.pem" --peer-trusted-ca-file "$PKI/ca.pem" --peer-client-cert-auth \
    "${timing[@]}" --log-level warn >> "$LOGS/etcd$i.log" 2>&1 < /dev/null &
}

# The node settings `up` was given (SHOAL_METADATA_node3=..., SHOAL_TTL=..., SHOAL_ENV=..., see
# docs/testbed.md) are kept in $RUN/settings, so a later `testbed/node start` boots a node as `up` did.
SETTINGS_RE='^SHOAL_(NO_DAEMON|METADATA|CAPACITY_CPU|CAPACITY_MEMORY|ROLES|TTL|LOG_LEVEL|ENV)(_node[0-9]+)?$'
save_settings() {
  local v
  : > "$RUN/settings"
  for v in $(compgen -v | grep -E "$SETTINGS_RE"); do printf '%s=%q\n' "$v" "${!v}" >> "$RUN/settings"; done
}
# Loads the saved settings; a variable set in the caller's environment wins over the saved one.
load_settings() {
  local line k
  [ -f "$RUN/settings" ] || return 0
  while IFS= read -r line; do
    k=${line%%=*}
    [[ $k =~ $SETTINGS_RE ]] || continue
    [ -n "${!k+x}" ] || eval "export $line"
  done < "$RUN/settings"
}

# False when NODE's shoald has failed (e.g. exit 2: a bad setting) or restarted 3 times or more;
# sets SHOALD_STATE to what was seen.
shoald_healthy() {
  local out st n
  out=$(nsenter -t "$(node_pid1 "$1")" -a systemctl show -p ActiveState -p NRestarts shoald.service 2> /dev/null) || return 0
  st=$(sed -n 's/^ActiveState=//p' <<< "$out"); n=$(sed -n 's/^NRestarts=//p' <<< "$out")
  SHOALD_STATE="$st after ${n:-0} restart(s)"
  [ "$st" != failed ] && ((${n:-0} < 3))
}
testbed_node_logs() { local node=$1; shift; journalctl -D "/proc/$(node_pid1 "$node")/root/var/log/journal" --no-pager "$@"; }
