#!/usr/bin/env bash
# Install Jitsi Meet unattended on a fresh Debian 12/13 or Ubuntu 22.04/24.04 VM, once.
#   sudo bash install_jitsi/install.sh --domain DOMAIN [--letsencrypt-email EMAIL]
#        [--jitsi-version VERSION|stable]
#        [--jitsi-apt-source 'URL SUITE [COMPONENT...]' --jitsi-apt-key KEY_URL]
#        [--prosody-apt-source system | --prosody-apt-source 'URL SUITE COMPONENT...' --prosody-apt-key KEY_URL]
# Without an e-mail the site gets a self-signed certificate; with one, a Let's Encrypt
# certificate is requested afterwards (a failure there only warns). --jitsi-version installs
# that jitsi-meet release and the exact part versions it pins (default stable: the newest, at
# the first install), then holds them. A re-run on a machine installed for DOMAIN moves it to
# another release when asked (up or down), else only requests a still-missing certificate.
# A machine installed for another domain is refused: a domain change needs a new VM.
#
# Environment (defaults suit a real VM; the tests shorten them):
#   INSTALL_JITSI_ROOT                 prefix for every system path (default: empty, i.e. /)
#   INSTALL_JITSI_CLOUD_INIT_TIMEOUT   seconds to wait for cloud-init (900)
#   INSTALL_JITSI_LOCK_TIMEOUT         seconds to wait for the dpkg/apt locks (600)
#   INSTALL_JITSI_POLL_SECONDS         lock polling interval (5)
#   INSTALL_JITSI_LE_TIMEOUT           seconds allowed for the Let's Encrypt request (600)
set -euo pipefail

ROOT="${INSTALL_JITSI_ROOT:-}"
CLOUD_INIT_TIMEOUT="${INSTALL_JITSI_CLOUD_INIT_TIMEOUT:-900}"
LOCK_TIMEOUT="${INSTALL_JITSI_LOCK_TIMEOUT:-600}"
POLL_SECONDS="${INSTALL_JITSI_POLL_SECONDS:-5}"
LE_TIMEOUT="${INSTALL_JITSI_LE_TIMEOUT:-600}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG="$ROOT/var/log/install_jitsi.log"
# shellcheck source-path=SCRIPTDIR source=version.sh
source "$HERE/version.sh"
# shellcheck source-path=SCRIPTDIR source=arguments.sh
source "$HERE/arguments.sh"

die() {
  echo "install_jitsi: error: $*" >&2
  exit 1
}

# Sets CODENAME; refuses systems the Jitsi packages (and this script) do not support.
detect_system() {
  local file="$ROOT/etc/os-release" id
  [ -r "$file" ] || die "cannot read /etc/os-release; this needs Debian 12/13 or Ubuntu 22.04/24.04"
  # Read, not sourced: a value may be quoted, and nothing in it should run.
  id="$(sed -n 's/^ID=//p' "$file" | tr -d "\"'")"
  CODENAME="$(sed -n 's/^VERSION_CODENAME=//p' "$file" | tr -d "\"'")"
  case "$id/$CODENAME" in
    debian/bookworm | debian/trixie | ubuntu/jammy | ubuntu/noble) ;;
    *) die "unsupported system '${id:-unknown} ${CODENAME:-unknown}';" \
      "use Debian 12/13 or Ubuntu 22.04/24.04" ;;
  esac
}

# Sets ALREADY. The package writes /etc/jitsi/meet/<domain>-config.js for the domain it was
# configured for. Any other domain there means this VM belongs to another deployment:
# reconfiguring it in place would half-work, so stop before changing anything.
check_existing_install() {
  local config other
  for config in "$ROOT"/etc/jitsi/meet/*-config.js; do
    [ -e "$config" ] || continue
    other="$(basename "$config" -config.js)"
    [ "$other" = "$DOMAIN" ] || die "Jitsi Meet here is set up for '$other', not '$DOMAIN';" \
      "a domain change needs a new VM (replace the instance)"
  done
  ALREADY=false
  if [ -n "$(installed_version jitsi-meet)" ]; then
    [ -e "$ROOT/etc/jitsi/meet/$DOMAIN-config.js" ] || die "jitsi-meet is installed but" \
      "/etc/jitsi/meet/$DOMAIN-config.js is missing, so its domain is unknown; use a new VM"
    ALREADY=true
  fi
}

# Runs a noisy command with its output in the log; on failure shows the log's tail.
logged() {
  local what="$1" status=0
  shift
  "$@" </dev/null >>"$LOG" 2>&1 || status=$?
  if ((status)); then
    echo "install_jitsi: error: $what failed (exit $status);" \
      "last lines of /var/log/install_jitsi.log:" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
}

# No question may reach a terminal: the deploy has none (NEEDRESTART_MODE: Ubuntu's
# needrestart would otherwise ask which services to restart). The lock timeout covers a
# timer job (apt-daily, unattended-upgrades) that takes the lock after the wait.
apt_get() {
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get -y \
    -o "DPkg::Lock::Timeout=$LOCK_TIMEOUT" \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

ensure_download_tools() {
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  command -v gpg >/dev/null || missing+=(gnupg)
  ((${#missing[@]})) || return 0
  echo "Install ${missing[*]}"
  logged "apt-get update" apt_get update
  logged "apt-get install ${missing[*]}" apt_get install "${missing[@]}"
}

# The package always starts self-signed; Let's Encrypt, if asked for, comes afterwards
# (letsencrypt.sh says why). Preseeded answers are marked seen: never asked.
preseed_answers() {
  echo "Preseed Jitsi Meet install answers"
  debconf-set-selections <<EOF
jitsi-videobridge2 jitsi-videobridge/jvb-hostname string $DOMAIN
jitsi-meet-prosody jitsi-videobridge/jvb-hostname string $DOMAIN
jitsi-meet-web-config jitsi-videobridge/jvb-hostname string $DOMAIN
jitsi-meet-web-config jitsi-meet/cert-choice select Generate a new self-signed certificate
jitsi-meet-web-config jitsi-meet/email string $EMAIL
jitsi-meet-web-config jitsi-meet/jaas-choice boolean false
EOF
}

install_packages() {
  local packages=("${RELEASE[@]}")
  # acme.sh, which the Let's Encrypt helper installs, refuses to install without cron.
  if $WANT_LE; then packages+=(cron); fi
  if [ "$TARGET" = stable ]; then
    echo "Install Jitsi Meet (takes several minutes)"
  else
    echo "Install Jitsi Meet $TARGET (takes several minutes)"
  fi
  logged "apt-get install ${packages[*]}" apt_get install "${packages[@]}"
  [ -e "$ROOT/etc/jitsi/meet/$DOMAIN-config.js" ] || die "the install finished but" \
    "/etc/jitsi/meet/$DOMAIN-config.js is missing; see /var/log/install_jitsi.log"
}

request_letsencrypt() {
  bash "$HERE/letsencrypt.sh" "$ROOT" "$DOMAIN" "$EMAIL" "$LE_TIMEOUT" "$LOG"
}

parse_arguments "$@"
[ "$(id -u)" -eq 0 ] || die "must run as root; use: sudo $0 --domain $DOMAIN"
detect_system
check_existing_install
mkdir -p "$(dirname "$LOG")"

if $ALREADY; then
  bash "$HERE/hostname.sh" "$ROOT" "$DOMAIN"
  HELD_NOW=false
  # Converge, don't reinstall: move to another release only when asked, and request only a
  # certificate still missing.
  if release_in_place; then
    hold_release
    if $WANT_LE || $HELD_NOW; then
      echo "Keep Jitsi Meet for $DOMAIN (already installed)"
    else
      echo "Keep Jitsi Meet for $DOMAIN (already installed; nothing changed)"
    fi
  else
    echo "Update package lists"
    logged "apt-get update" apt_get update
    resolve_release false
    move_release
  fi
  if $WANT_LE; then request_letsencrypt; fi
  print_versions
  exit 0
fi

echo "--- install_jitsi --domain $DOMAIN, $(date -u +%FT%TZ)" >>"$LOG"
python3 "$HERE/wait.py" --root "$ROOT" --cloud-init-timeout "$CLOUD_INIT_TIMEOUT" \
  --lock-timeout "$LOCK_TIMEOUT" --poll "$POLL_SECONDS" || exit 1
ensure_download_tools
bash "$HERE/repos.sh" "$ROOT" "$CODENAME" "$JITSI_SOURCE" "$JITSI_KEY" \
  "$PROSODY_SOURCE" "$PROSODY_KEY"
echo "Update package lists"
logged "apt-get update" apt_get update
# The release is checked against the package lists before the host or its packages change.
TARGET="$JITSI_VERSION"
resolve_release true
bash "$HERE/hostname.sh" "$ROOT" "$DOMAIN"
preseed_answers
install_packages
HELD_NOW=false
hold_release
if $WANT_LE; then request_letsencrypt; fi
echo "Jitsi Meet is installed for https://$DOMAIN/"
print_versions
