# shellcheck shell=bash
# install.sh's command line: parse_arguments sets DOMAIN, EMAIL, WANT_LE, JITSI_VERSION and the
# repository options, or stops with one line and the usage (exit 2) before anything changes.
# Sourced by install.sh, whose settings (CLOUD_INIT_TIMEOUT, ...) it checks too; uses
# version.sh's is_release_name.

usage_error() {
  echo "install_jitsi: error: $*" >&2
  echo "usage: install_jitsi/install.sh --domain DOMAIN [--letsencrypt-email EMAIL] [repository options]" >&2
  exit 2
}

# Jitsi's own repository unless a mirror (or a pinned snapshot) is given.
JITSI_SOURCE_DEFAULT="https://download.jitsi.org stable/"
JITSI_KEY_DEFAULT="https://download.jitsi.org/jitsi-key.gpg.key"

parse_arguments() {
  DOMAIN="" EMAIL="" WANT_LE=false JITSI_VERSION=stable
  JITSI_SOURCE="" JITSI_KEY="" PROSODY_SOURCE="" PROSODY_KEY=""
  while (($#)); do
    case "$1" in
      --domain | --letsencrypt-email | --jitsi-version | --jitsi-apt-source | --jitsi-apt-key | \
        --prosody-apt-source | --prosody-apt-key)
        (($# >= 2)) || usage_error "$1 needs a value"
        case "$1" in
          --domain) DOMAIN="$2" ;;
          --letsencrypt-email) EMAIL="$2" WANT_LE=true ;;
          --jitsi-version) JITSI_VERSION="$2" ;;
          --jitsi-apt-source) JITSI_SOURCE="$2" ;;
          --jitsi-apt-key) JITSI_KEY="$2" ;;
          --prosody-apt-source) PROSODY_SOURCE="$2" ;;
          --prosody-apt-key) PROSODY_KEY="$2" ;;
        esac
        shift 2
        ;;
      -h | --help)
        sed -n '2,12s/^# \{0,1\}//p' "$HERE/install.sh"
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
  if ! is_release_name "$JITSI_VERSION"; then
    usage_error "--jitsi-version '$JITSI_VERSION' is not a jitsi-meet version such as" \
      "2.0.10590-1, nor stable"
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
