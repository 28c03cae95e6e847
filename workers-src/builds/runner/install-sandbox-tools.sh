#!/bin/sh
# Installs what the build runner's sandbox needs, from Debian's packages, where it is missing:
# bubblewrap (namespaces), slirp4netns (a build's network), util-linux (setpriv, nsenter), iproute2
# (network namespaces), e2fsprogs (the workspace's file system), mount (its loop mount), nftables (what a
# build's network may not reach).
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
missing=""
for pair in bwrap:bubblewrap slirp4netns:slirp4netns setpriv:util-linux nsenter:util-linux \
  ip:iproute2 mkfs.ext4:e2fsprogs mount:mount nft:nftables; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-sandbox-tools: missing Debian packages:$missing; install them as root" >&2
  exit 1
fi
echo "install-sandbox-tools: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # one word per package
apt-get install -y -q --no-install-recommends $missing >&2 ||
  { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends $missing >&2; }
