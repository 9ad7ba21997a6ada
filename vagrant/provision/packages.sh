#!/bin/bash
# vagrant/provision/packages.sh NODE — names the VM NODE (hostname), installs the Debian packages
# shoal needs on a VM (etcd, Docker, iptables, busybox for a local container image) and Node.js 20
# from nodejs.org (checked against its SHASUMS256) unless the box has it (the local box of
# vagrant/box/build has all of these, so this only checks there). Idempotent: a second run only checks.
set -euo pipefail

NODE=${1:?usage: packages.sh NODE}
# the hostname here rather than Vagrant's vm.hostname: Vagrant's Debian guest also restarts every
# network interface for it (~10 ssh round trips and a DHCP renewal: most of a minute under TCG)
if [ "$(hostname)" != "$NODE" ]; then
  echo "$NODE" > /etc/hostname
  hostname "$NODE"
  sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts
  echo "127.0.1.1 $NODE" >> /etc/hosts
fi

NODE_VERSION=${NODE_VERSION:-20.20.2}
export DEBIAN_FRONTEND=noninteractive

need=()
pkgs=(etcd-server etcd-client docker.io iptables busybox-static curl ca-certificates)
# xz only unpacks the Node.js download (the local box has Node already)
[ "$(node -v 2> /dev/null)" = "v$NODE_VERSION" ] || pkgs+=(xz-utils)
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  # the package starts etcd.service with a single-member default config: etcd.sh replaces it
  apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
fi
# Docker starts on first use (its socket), not at boot or here: shoald never waits on it
systemctl disable docker.service > /dev/null 2>&1 || true
systemctl enable --now docker.socket > /dev/null

if [ "$(node -v 2> /dev/null)" != "v$NODE_VERSION" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  base=https://nodejs.org/dist/v$NODE_VERSION
  tarball=node-v$NODE_VERSION-linux-x64.tar.xz
  curl -fsSL -o "$tmp/$tarball" "$base/$tarball"
  curl -fsSL -o "$tmp/SHASUMS256.txt" "$base/SHASUMS256.txt"
  (cd "$tmp" && grep " $tarball\$" SHASUMS256.txt | sha256sum -c --quiet -)
  tar -C /usr/local --strip-components=1 -xJf "$tmp/$tarball"
fi
# shoald.service runs /usr/bin/node
[ -x /usr/bin/node ] || ln -sf /usr/local/bin/node /usr/bin/node
echo "packages: node $(node -v), $(etcd --version | head -1), $(docker --version)"

# no registry: a busybox image made from the static busybox, as on the testbed. Imported in the
# background (it starts dockerd: a minute in an emulated VM); /var/lib/shoal/localbusybox marks it done.
if [ ! -f /var/lib/shoal/localbusybox ] && ! systemctl is-active --quiet shoal-localbusybox.service; then
  cat > /usr/local/sbin/shoal-localbusybox << 'SCRIPT'
#!/bin/sh
set -eu
d=$(mktemp -d)
mkdir "$d/bin"
cp "$(command -v busybox)" "$d/bin/busybox"
# one process makes every applet's link (a loop of ln forks ~300 times: minutes in an emulated VM)
chroot "$d" /bin/busybox --install -s /bin
tar -C "$d" -c . | docker import - localbusybox:latest > /dev/null
rm -rf "$d"
mkdir -p /var/lib/shoal
touch /var/lib/shoal/localbusybox
SCRIPT
  chmod 0755 /usr/local/sbin/shoal-localbusybox
  systemd-run --quiet --no-block --unit=shoal-localbusybox --property=Type=oneshot /usr/local/sbin/shoal-localbusybox
fi
