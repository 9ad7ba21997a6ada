#!/bin/bash
# vagrant/provision/etcd.sh NAME IP CLUSTER [HEARTBEAT_MS ELECTION_MS] — makes this VM member NAME of the etcd cluster CLUSTER
# ("node1=https://IP1:2380,..."), listening on IP and loopback, over TLS for clients and peers with
# client certificates required (as testbed/up runs etcd; docs/security.md). The certificates come from
# the host (the Vagrantfile makes them once per cluster with testbed/certs; its "pki" file provisioner
# uploads them to /tmp/shoal-pki): installed here into /etc/shoal/pki (etcd's copy in /etc/etcd/pki,
# owned by the etcd user). NAME "-" means no member here (the spare node): etcd is stopped and
# masked, shoald uses the members over the network.
set -euo pipefail

NAME=${1:?usage: etcd.sh NAME|- IP CLUSTER}
IP=${2:?usage: etcd.sh NAME|- IP CLUSTER}
CLUSTER=${3:?usage: etcd.sh NAME|- IP CLUSTER}
HEARTBEAT=${4:-50}
ELECTION=${5:-500}
UP=/tmp/shoal-pki

# shoal's client certificate (every node) and etcd's server certificate (members)
for f in ca.pem client.pem client-key.pem server.pem server-key.pem; do
  [ -s "$UP/$f" ] || { echo "etcd: $UP/$f missing: the Vagrantfile's pki provisioner uploads the certificates" >&2; exit 1; }
done
install -d -m 0755 /etc/shoal/pki
install -m 0644 "$UP/ca.pem" "$UP/client.pem" /etc/shoal/pki/
install -m 0600 "$UP/client-key.pem" /etc/shoal/pki/

if [ "$NAME" = - ]; then
  systemctl disable --now etcd.service > /dev/null 2>&1 || true
  systemctl mask etcd.service > /dev/null
  rm -rf "$UP"
  echo "etcd: no member on this node"
  exit 0
fi
install -d -m 0750 -o etcd -g etcd /etc/etcd/pki
install -m 0644 -o etcd -g etcd "$UP/ca.pem" "$UP/server.pem" /etc/etcd/pki/
install -m 0600 -o etcd -g etcd "$UP/server-key.pem" /etc/etcd/pki/
rm -rf "$UP"

conf=/etc/default/etcd
new=$(mktemp)
cat > "$new" << CONF
# written by vagrant/provision/etcd.sh
ETCD_NAME=$NAME
ETCD_DATA_DIR=/var/lib/etcd/shoal
ETCD_LISTEN_PEER_URLS=https://$IP:2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://$IP:2380
ETCD_LISTEN_CLIENT_URLS=https://$IP:2379,https://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=https://$IP:2379
ETCD_CERT_FILE=/etc/etcd/pki/server.pem
ETCD_KEY_FILE=/etc/etcd/pki/server-key.pem
ETCD_TRUSTED_CA_FILE=/etc/etcd/pki/ca.pem
ETCD_CLIENT_CERT_AUTH=true
ETCD_PEER_CERT_FILE=/etc/etcd/pki/server.pem
ETCD_PEER_KEY_FILE=/etc/etcd/pki/server-key.pem
ETCD_PEER_TRUSTED_CA_FILE=/etc/etcd/pki/ca.pem
ETCD_PEER_CLIENT_CERT_AUTH=true
ETCD_INITIAL_CLUSTER=$CLUSTER
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_INITIAL_CLUSTER_TOKEN=shoal-vagrant
# a LAN of VMs: shorter than the defaults (100/1000 ms) so failover tests are not dominated by etcd;
# emulated VMs (TCG) on a busy host get longer ones from the Vagrantfile (elections churned at 50/500)
ETCD_HEARTBEAT_INTERVAL=$HEARTBEAT
ETCD_ELECTION_TIMEOUT=$ELECTION
CONF
if ! cmp -s "$new" "$conf"; then
  install -m 0644 "$new" "$conf"
  # the package's first start made a single-member cluster in the default data dir: not ours
  systemctl stop etcd.service
  systemctl unmask etcd.service > /dev/null 2>&1 || true
  systemctl enable etcd.service > /dev/null
  # --no-block: the first member waits for a quorum, i.e. for VMs that are not up yet
  systemctl start --no-block etcd.service
fi
rm -f "$new"
echo "etcd: member $NAME of $CLUSTER"
