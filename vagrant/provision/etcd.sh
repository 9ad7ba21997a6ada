#!/bin/bash
# vagrant/provision/etcd.sh NAME IP CLUSTER — makes this VM member NAME of the etcd cluster CLUSTER
# ("node1=http://IP1:2380,..."), listening on IP and loopback. NAME "-" means no member here
# (the spare node): etcd is stopped and masked, shoald uses the members over the network.
set -euo pipefail

NAME=${1:?usage: etcd.sh NAME|- IP CLUSTER}
IP=${2:?usage: etcd.sh NAME|- IP CLUSTER}
CLUSTER=${3:?usage: etcd.sh NAME|- IP CLUSTER}

if [ "$NAME" = - ]; then
  systemctl disable --now etcd.service > /dev/null 2>&1 || true
  systemctl mask etcd.service > /dev/null
  echo "etcd: no member on this node"
  exit 0
fi

conf=/etc/default/etcd
new=$(mktemp)
cat > "$new" << CONF
# written by vagrant/provision/etcd.sh
ETCD_NAME=$NAME
ETCD_DATA_DIR=/var/lib/etcd/shoal
ETCD_LISTEN_PEER_URLS=http://$IP:2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=http://$IP:2380
ETCD_LISTEN_CLIENT_URLS=http://$IP:2379,http://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=http://$IP:2379
ETCD_INITIAL_CLUSTER=$CLUSTER
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_INITIAL_CLUSTER_TOKEN=shoal-vagrant
# a LAN of VMs: shorter than the defaults (100/1000 ms) so failover tests are not dominated by etcd
ETCD_HEARTBEAT_INTERVAL=50
ETCD_ELECTION_TIMEOUT=500
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
