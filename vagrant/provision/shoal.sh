#!/bin/bash
# vagrant/provision/shoal.sh NODE IP ETCD_ENDPOINTS TTL API_TOKEN — builds shoal from the synced checkout
# (/opt/shoal), writes /etc/shoal/shoal.toml and /etc/shoal/shoald.env, and runs shoald (engine +
# agent) as a systemd service that never gives up restarting.
set -euo pipefail

NODE=${1:?usage: shoal.sh NODE IP ETCD_ENDPOINTS TTL}
IP=${2:?usage: shoal.sh NODE IP ETCD_ENDPOINTS TTL}
ENDPOINTS=${3:?usage: shoal.sh NODE IP ETCD_ENDPOINTS TTL}
TTL=${4:-5}
API_TOKEN=${5:?usage: shoal.sh NODE IP ETCD_ENDPOINTS TTL API_TOKEN}
SRC=/opt/shoal

cd "$SRC"
# the host's build came with the checkout (Vagrantfile: dist/ and production node_modules): building
# in an emulated VM takes minutes. A checkout without it is built here.
# (bin/shoald runs the bundle dist/shoald.js; a build from before the bundle has no such file)
if [ ! -f dist/shoald.js ] || [ ! -d node_modules ]; then
  command -v npm > /dev/null || { echo "shoal: no build in /opt/shoal and no npm in the VM: run npm ci && npm run build on the host, then vagrant rsync" >&2; exit 1; }
  npm ci --no-fund --no-audit
  npm run --silent build
fi

install -d -m 0755 /etc/shoal
install -m 0600 /dev/null /etc/shoal/api-token
echo "$API_TOKEN" > /etc/shoal/api-token
toml_list=$(echo "$ENDPOINTS" | sed 's/[^,]*/"&"/g; s/,/, /g')
cat > /etc/shoal/shoal.toml << CONF
# written by vagrant/provision/shoal.sh (shoald's config; SHOAL_* variables override it)
roles = ["engine", "agent"]

[etcd]
endpoints = [$toml_list]
prefix = "/shoal/"
# etcd wants TLS with a client certificate (provision/etcd.sh installed these)
ca = "/etc/shoal/pki/ca.pem"
cert = "/etc/shoal/pki/client.pem"
key = "/etc/shoal/pki/client-key.pem"

[machine]
address = "$IP"
ttl = $TTL
metadata = { node = "$NODE" }

[api]
# the private address needs the token (shoalctl: SHOAL_ENDPOINT=$IP:7411 SHOAL_TOKEN=<vagrant/.vagrant/shoal-api-token>)
listen = ["unix:///run/shoal/shoal.sock", "$IP:7411"]
port = 7411
token_file = "/etc/shoal/api-token"
# no API TLS on the VMs yet: the token crosses the private network in clear text, said in so many words
insecure_plaintext = true
CONF
# the same settings as the SHOAL_* variables testbed nodes get (docs/testbed.md)
cat > /etc/shoal/shoald.env << CONF
SHOAL_CONFIG=/etc/shoal/shoal.toml
SHOAL_NODE=$NODE
SHOAL_ADDRESS=$IP
SHOAL_ETCD=$ENDPOINTS
SHOAL_ETCD_CA=/etc/shoal/pki/ca.pem
SHOAL_ETCD_CERT=/etc/shoal/pki/client.pem
SHOAL_ETCD_KEY=/etc/shoal/pki/client-key.pem
SHOAL_PREFIX=/shoal/
SHOAL_METADATA=node=$NODE
SHOAL_TTL=$TTL
CONF

cat > /etc/systemd/system/shoald.service << 'UNIT'
# written by vagrant/provision/shoal.sh
[Unit]
Description=shoal daemon (engine + agent)
After=network-online.target docker.service etcd.service
Wants=network-online.target
# never give up restarting: the default StartLimitBurst leaves it dead after a network cut
StartLimitIntervalSec=0

[Service]
WorkingDirectory=/opt/shoal
EnvironmentFile=/etc/shoal/shoald.env
# the node flags of deploy/shoald.service (memory: npm run bench:memory)
ExecStart=/usr/bin/node --max-semi-space-size=1 --optimize-for-size /opt/shoal/bin/shoald
# glibc's malloc at its fixed default thresholds: left dynamic, they rise after V8 frees a large block and
# freed memory stays in the process (~6 MiB RSS of shoald; docs/performance.md)
Environment=GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072
Restart=always
RestartSec=1
# V8's code cache of the bundled shoald (bin/shoald): a restart compiles less
CacheDirectory=shoal
# stopping shoald must not stop the units it runs: they are their own systemd units
KillMode=mixed

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable shoald.service > /dev/null
systemctl restart shoald.service
echo "shoal: shoald on $NODE ($IP), etcd $ENDPOINTS, ttl ${TTL}s"
