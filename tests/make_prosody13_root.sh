#!/usr/bin/env bash
# Builds a Debian 13 (trixie) root with Prosody 13 and Python 3 for the Prosody 13 tests.
#   bash tests/make_prosody13_root.sh DIR
# Idempotent: a finished root (marked by DIR/.ready) is reused as it is.
set -euo pipefail
root="${1:?usage: make_prosody13_root.sh DIR}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ -e "$root/.ready" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "Skipping the Prosody 13 root: building it needs root (the Prosody 13 tests will skip)" >&2
  exit 0
fi
echo "Building a Debian 13 root with Prosody 13 in $root (about a minute)"
rm -rf "$root"
mkdir -p "$(dirname "$root")"
# debootstrap cannot resolve prosody's virtual Lua dependencies itself: apt does that inside.
debootstrap --variant=minbase --include=python3-minimal trixie "$root" "$mirror" >/dev/null
# No service may start inside the root while packages install.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  prosody lua-bitop lua-unbound >/dev/null 2>&1
chroot "$root" prosodyctl about | grep -m1 '^Prosody [0-9]'
touch "$root/.ready"
