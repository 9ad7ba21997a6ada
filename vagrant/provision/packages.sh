#!/bin/bash
# vagrant/provision/packages.sh — Debian packages shoal needs on a VM (etcd, Docker, iptables,
# busybox for a local container image) and Node.js 20 from nodejs.org (checked against its
# SHASUMS256) unless the box has it (the local box of vagrant/box/build has all of these, so this
# only checks there). Idempotent: a second run only checks.
set -euo pipefail

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
systemctl enable --now docker.service > /dev/null

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

# no registry: a busybox image made from the static busybox, as on the testbed
if ! docker image inspect localbusybox:latest > /dev/null 2>&1; then
  d=$(mktemp -d)
  mkdir "$d/bin"
  cp "$(command -v busybox)" "$d/bin/busybox"
  # one process makes every applet's link (a loop of ln forks ~300 times: minutes in an emulated VM)
  chroot "$d" /bin/busybox --install -s /bin
  tar -C "$d" -c . | docker import - localbusybox:latest > /dev/null
  rm -rf "$d"
fi
