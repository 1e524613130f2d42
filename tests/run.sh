#!/usr/bin/env bash
# The one test command: installs everything the tests need, then runs every check.
#   bash tests/run.sh [pytest arguments]
# Needs root (or passwordless apt) for the Debian packages; it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs started at the same time set up one after the other: they share apt, the Prosody 13 root
# and .venv, which two installs at once would break. The tests themselves then run side by side.
mkdir -p /run/lock
exec 8>>/run/lock/jitsi-meet-gce-tests-setup.lock
flock -w 1800 8 || { echo "another run's setup held its lock for 30 minutes" >&2; exit 1; }

# Debian packages the tests drive for real: Prosody 0.12, a Debian 13 root with Prosody 13
# (debootstrap), the HOCON tool jicofo's packaging uses (ruby-hocon), Lua for Prosody's own
# config loader, shellcheck, and node for reading config.js as JavaScript. The rehearsal boots
# Debian machines (systemd-container, iproute2) behind the program's firewall rules
# (nftables), reaches them over SSH (openssh-client), and serves them a signed apt repository
# it builds (apt-utils, gnupg). strace watches every
# process the account tool starts, for passwords in argv or the environment. The probe meets
# Prosody behind a real nginx with TLS (nginx-light: the tests start their own, on loopback).
packages=(prosody lua5.4 ruby-hocon debootstrap shellcheck nodejs
  systemd-container iproute2 nftables openssh-client apt-utils gnupg strace nginx-light)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A node from elsewhere (nodesource, nvm) is as good as Debian's.
if command -v node >/dev/null; then
  missing=("${missing[@]/nodejs}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Prosody 13 (Debian 13) in a debootstrap root, built once and reused.
export PROSODY13_ROOT="${PROSODY13_ROOT:-/var/cache/jitsi-meet-gce/trixie}"
bash tests/make_prosody13_root.sh "$PROSODY13_ROOT"

# Python tools in a virtualenv beside the code.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
# `--setup-only`: everything above and nothing else (tests/mutation.sh starts with it).
if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi
exec 8>&- # the setup lock, released

echo "Checking style: ruff, shellcheck"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
mapfile -t shell_scripts < <(find tests -name '*.sh' -not -path '*/.venv/*')
mapfile -t vm_scripts < <(find scripts -name '*.sh')
shellcheck "${vm_scripts[@]}" .ci/run "${shell_scripts[@]}"

echo "Running the test suite"
exec .venv/bin/python -m pytest "$@"
