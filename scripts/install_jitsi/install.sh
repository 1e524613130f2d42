#!/usr/bin/env bash
# Install Jitsi Meet unattended on a fresh Debian 12/13 or Ubuntu 22.04/24.04 VM, once.
#   sudo bash install_jitsi/install.sh --domain DOMAIN [--letsencrypt-email EMAIL]
#        [--jitsi-apt-source 'URL SUITE [COMPONENT...]' --jitsi-apt-key KEY_URL]
#        [--prosody-apt-source system | --prosody-apt-source 'URL SUITE COMPONENT...' --prosody-apt-key KEY_URL]
# Without an e-mail the site gets a self-signed certificate; with one, a Let's Encrypt
# certificate is requested afterwards (a failure there only warns). A re-run on a machine
# installed for DOMAIN only requests a still-missing Let's Encrypt certificate.
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
# What `apt-get install jitsi-meet` brings, reported at the end.
REPORTED_PACKAGES=(jitsi-meet jitsi-meet-web jitsi-meet-web-config jitsi-meet-prosody
  jitsi-meet-turnserver jicofo jitsi-videobridge2 prosody nginx)

die() {
  echo "install_jitsi: error: $*" >&2
  exit 1
}

usage_error() {
  echo "install_jitsi: error: $*" >&2
  echo "usage: install_jitsi/install.sh --domain DOMAIN [--letsencrypt-email EMAIL] [repository options]" >&2
  exit 2
}

# Jitsi's own repository unless a mirror (or a pinned snapshot) is given.
JITSI_SOURCE_DEFAULT="https://download.jitsi.org stable/"
JITSI_KEY_DEFAULT="https://download.jitsi.org/jitsi-key.gpg.key"

parse_arguments() {
  DOMAIN="" EMAIL="" WANT_LE=false
  JITSI_SOURCE="" JITSI_KEY="" PROSODY_SOURCE="" PROSODY_KEY=""
  while (($#)); do
    case "$1" in
      --domain | --letsencrypt-email | --jitsi-apt-source | --jitsi-apt-key | \
        --prosody-apt-source | --prosody-apt-key)
        (($# >= 2)) || usage_error "$1 needs a value"
        case "$1" in
          --domain) DOMAIN="$2" ;;
          --letsencrypt-email) EMAIL="$2" WANT_LE=true ;;
          --jitsi-apt-source) JITSI_SOURCE="$2" ;;
          --jitsi-apt-key) JITSI_KEY="$2" ;;
          --prosody-apt-source) PROSODY_SOURCE="$2" ;;
          --prosody-apt-key) PROSODY_KEY="$2" ;;
        esac
        shift 2
        ;;
      -h | --help)
        sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
      *) usage_error "unknown argument '$1'" ;;
    esac
  done
  [ -n "$DOMAIN" ] || usage_error "--domain is required, e.g. --domain meet.example.com"
  local label='[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?'
  if ((${#DOMAIN} > 253)) || ! [[ "$DOMAIN" =~ ^($label\.)+[a-z]$label$ ]]; then
    usage_error "--domain '$DOMAIN' is not a lowercase DNS name; use e.g. meet.example.com"
  fi
  if $WANT_LE && ! [[ "$EMAIL" =~ ^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$ ]]; then
    usage_error "--letsencrypt-email '$EMAIL' is not an e-mail address; use e.g." \
      "admin@example.com, or leave the option out for a self-signed certificate"
  fi
  check_repository_options
  local knob
  for knob in CLOUD_INIT_TIMEOUT LOCK_TIMEOUT LE_TIMEOUT; do
    [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] ||
      usage_error "INSTALL_JITSI_$knob must be whole seconds, not '${!knob}'"
  done
  [[ "$POLL_SECONDS" =~ ^[0-9]*\.?[0-9]+$ ]] ||
    usage_error "INSTALL_JITSI_POLL_SECONDS must be seconds, not '$POLL_SECONDS'"
}

# An apt source is "URL SUITE [COMPONENT...]" (what follows `deb [signed-by=...]`); a key is
# fetched from a URL. Both go into files apt reads, so only plain tokens are accepted.
is_apt_source() {
  [[ "$1" =~ ^https?://[A-Za-z0-9.:/_~%+-]+(\ [A-Za-z0-9._/~+-]+)+$ ]]
}

check_repository_options() {
  local example="e.g. 'https://mirror.example.org/jitsi stable/'"
  if [ -n "$JITSI_SOURCE$JITSI_KEY" ]; then
    is_apt_source "$JITSI_SOURCE" ||
      usage_error "--jitsi-apt-source '$JITSI_SOURCE' is not 'URL SUITE [COMPONENT...]'; $example"
    [[ "$JITSI_KEY" =~ ^https?://[A-Za-z0-9.:/_~%+-]+$ ]] ||
      usage_error "--jitsi-apt-key '$JITSI_KEY' is not the URL of the repository's signing key"
  else
    JITSI_SOURCE="$JITSI_SOURCE_DEFAULT" JITSI_KEY="$JITSI_KEY_DEFAULT"
  fi
  case "$PROSODY_SOURCE" in
    "" | system)
      [ -z "$PROSODY_KEY" ] || usage_error "--prosody-apt-key needs --prosody-apt-source URL SUITE COMPONENT"
      ;;
    *)
      is_apt_source "$PROSODY_SOURCE" || usage_error "--prosody-apt-source '$PROSODY_SOURCE'" \
        "is not 'system' or 'URL SUITE COMPONENT...'; e.g. 'http://packages.prosody.im/debian bookworm main'"
      [[ "$PROSODY_KEY" =~ ^https?://[A-Za-z0-9.:/_~%+-]+$ ]] ||
        usage_error "--prosody-apt-source needs --prosody-apt-key, the URL of its signing key"
      ;;
  esac
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

is_installed() {
  [ "$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Status}' "$1" 2>/dev/null)" = \
    "install ok installed" ]
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
  if is_installed jitsi-meet; then
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
  local packages=(jitsi-meet)
  # acme.sh, which the Let's Encrypt helper installs, refuses to install without cron.
  if $WANT_LE; then packages+=(cron); fi
  echo "Update package lists"
  logged "apt-get update" apt_get update
  echo "Install Jitsi Meet (takes several minutes)"
  logged "apt-get install ${packages[*]}" apt_get install "${packages[@]}"
  [ -e "$ROOT/etc/jitsi/meet/$DOMAIN-config.js" ] || die "the install finished but" \
    "/etc/jitsi/meet/$DOMAIN-config.js is missing; see /var/log/install_jitsi.log"
}

request_letsencrypt() {
  bash "$HERE/letsencrypt.sh" "$ROOT" "$DOMAIN" "$EMAIL" "$LE_TIMEOUT" "$LOG"
}

print_versions() {
  echo "Installed packages:"
  dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' \
    "${REPORTED_PACKAGES[@]}" 2>/dev/null | awk '$1 == "ii" { print "  " $2 " " $3 }' || true
}

parse_arguments "$@"
[ "$(id -u)" -eq 0 ] || die "must run as root; use: sudo $0 --domain $DOMAIN"
detect_system
check_existing_install
mkdir -p "$(dirname "$LOG")"

if $ALREADY; then
  bash "$HERE/hostname.sh" "$ROOT" "$DOMAIN"
  # Converge, don't reinstall: only a certificate still missing is requested again.
  if $WANT_LE; then
    echo "Keep Jitsi Meet for $DOMAIN (already installed)"
    request_letsencrypt
  else
    echo "Keep Jitsi Meet for $DOMAIN (already installed; nothing changed)"
  fi
  print_versions
  exit 0
fi

echo "--- install_jitsi --domain $DOMAIN, $(date -u +%FT%TZ)" >>"$LOG"
python3 "$HERE/wait.py" --root "$ROOT" --cloud-init-timeout "$CLOUD_INIT_TIMEOUT" \
  --lock-timeout "$LOCK_TIMEOUT" --poll "$POLL_SECONDS" || exit 1
bash "$HERE/hostname.sh" "$ROOT" "$DOMAIN"
ensure_download_tools
bash "$HERE/repos.sh" "$ROOT" "$CODENAME" "$JITSI_SOURCE" "$JITSI_KEY" \
  "$PROSODY_SOURCE" "$PROSODY_KEY"
preseed_answers
install_packages
if $WANT_LE; then request_letsencrypt; fi
echo "Jitsi Meet is installed for https://$DOMAIN/"
print_versions
