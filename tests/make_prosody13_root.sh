#!/usr/bin/env bash
# Builds a Debian 13 (trixie) root with Prosody 13 and Python 3 for the Prosody 13 tests.
#   bash tests/make_prosody13_root.sh DIR
# Idempotent: a finished root (marked by DIR/.ready holding this recipe's version) is reused.
set -euo pipefail
root="${1:?usage: make_prosody13_root.sh DIR}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# Bump when the packages below change, so that existing roots are rebuilt.
recipe="prosody lua-bitop lua-unbound python3"
if [ "$(cat "$root/.ready" 2>/dev/null)" = "$recipe" ]; then
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
debootstrap --variant=minbase trixie "$root" "$mirror" >/dev/null
# No service may start inside the root while packages install.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
# Full python3, as on the cloud images: the project's scripts run there with its whole stdlib.
# shellcheck disable=SC2086 # the recipe is a list of package names
if ! log=$(chroot "$root" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends $recipe 2>&1); then
  echo "$log" >&2
  exit 1
fi
chroot "$root" prosodyctl about | grep -m1 '^Prosody [0-9]'
echo "$recipe" >"$root/.ready"
