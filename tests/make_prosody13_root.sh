#!/usr/bin/env bash
# Builds a Debian 13 (trixie) root with Prosody 13 and Python 3 for the Prosody 13 tests.
#   bash tests/make_prosody13_root.sh DIR
# Idempotent: a finished root (marked by DIR/.ready holding this recipe's version) is reused.
# Test runs share it, read-only but for their own private folders under DIR/tmp. It is built in
# a temporary sibling and renamed into place under an exclusive lock on DIR.lock; every Prosody 13
# server of a test holds a shared lock on DIR.lock while it runs (tests/prosody_server.py), so a
# run started at the same time waits for the build, and a rebuild for another recipe waits until
# no test uses the old root.
set -euo pipefail
root="${1:?usage: make_prosody13_root.sh DIR}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# Bump when the packages below change, so that existing roots are rebuilt.
recipe="prosody lua-bitop lua-unbound python3"
ready() { [ "$(cat "$root/.ready" 2>/dev/null)" = "$recipe" ]; }
if ready; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "Skipping the Prosody 13 root: building it needs root (the Prosody 13 tests will skip)" >&2
  exit 0
fi
mkdir -p "$(dirname "$root")"
exec 9>>"$root.lock"
flock 9
# Another run may have finished the same root while this one waited for the lock.
if ready; then
  exit 0
fi

tmp="$root.building.$$"
trap 'rm -rf "$tmp"' EXIT
echo "Building a Debian 13 root with Prosody 13 in $root (about a minute)"
# debootstrap cannot resolve prosody's virtual Lua dependencies itself: apt does that inside.
debootstrap --variant=minbase trixie "$tmp" "$mirror" >/dev/null
# No service may start inside the root while packages install.
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod +x "$tmp/usr/sbin/policy-rc.d"
# Full python3, as on the cloud images: the project's scripts run there with its whole stdlib.
# shellcheck disable=SC2086 # the recipe is a list of package names
if ! log=$(chroot "$tmp" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends $recipe 2>&1); then
  echo "$log" >&2
  exit 1
fi
chroot "$tmp" prosodyctl about | grep -m1 '^Prosody [0-9]'
echo "$recipe" >"$tmp/.ready"
# No test holds the shared lock now: the old root (another recipe's) can go.
rm -rf "$root"
mv "$tmp" "$root"
