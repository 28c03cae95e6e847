#!/bin/sh
# Installs Debian's Chromium, which the dashboard's browser tests drive (through playwright-core, with no
# browser download), where it is missing.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium: Chromium is missing; as root run apt-get install chromium" >&2
  exit 1
fi
echo "install-chromium: installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends chromium >&2 ||
  { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends chromium >&2; }
