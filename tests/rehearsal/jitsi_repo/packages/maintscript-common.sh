# shellcheck shell=sh
# Shared by the rehearsal packages' maintainer scripts: build.py puts this text in place of
# their REHEARSAL_COMMON marker line, as debhelper fills in its own. Expects debconf's confmodule.

rehearsal_fail() {
  echo "$DPKG_MAINTSCRIPT_PACKAGE: error: $*" >&2
  exit 1
}

# Sets DOMAIN from the question every Jitsi package shares. Upstream falls back to "localhost"
# (the template's default) when nobody answered; a rehearsal must notice a missing preseed, so
# an empty answer or that default fails the install here.
rehearsal_domain() {
  db_get jitsi-videobridge/jvb-hostname
  DOMAIN="$(printf '%s' "$RET" | tr -d '[:space:]')"
  case "$DOMAIN" in
    "" | localhost)
      rehearsal_fail "jitsi-videobridge/jvb-hostname is not answered (got '$DOMAIN');" \
        "preseed it with the site's domain before installing, e.g." \
        "'$DPKG_MAINTSCRIPT_PACKAGE jitsi-videobridge/jvb-hostname string meet.example.com'"
      ;;
  esac
  # The domain ends up in file names, sed expressions and Prosody's config: a DNS name only.
  if ! printf '%s\n' "$DOMAIN" |
    grep -Eqx '([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]([a-z0-9-]*[a-z0-9])?'; then
    rehearsal_fail "jitsi-videobridge/jvb-hostname '$DOMAIN' is not a lowercase DNS name"
  fi
}

# A new random secret: 16 letters and digits, like upstream's generateRandomPassword.
rehearsal_secret() {
  tr -dc 'A-Za-z0-9' </dev/urandom | head -c 16
}

# A value made safe for the replacement side of a sed s|...|...| expression.
rehearsal_sed_escape() {
  printf '%s' "$1" | sed -e 's/[|&\\]/\\&/g'
}

# Restarts a service the way Debian policy asks (invoke-rc.d honours policy-rc.d). Exit 101
# (the policy forbids it, as in image builds) is not an error; any other failure is.
rehearsal_restart() {
  status=0
  invoke-rc.d "$1" restart || status=$?
  case "$status" in
    0 | 101) return 0 ;;
    *) rehearsal_fail "restarting $1 failed (exit $status); see journalctl -u $1" ;;
  esac
}

# Enables and (re)starts a unit this package ships, as dh_installsystemd's snippets do.
rehearsal_start_unit() {
  deb-systemd-helper unmask "$1" >/dev/null || true
  deb-systemd-helper enable "$1" >/dev/null || true
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    deb-systemd-invoke restart "$1" >/dev/null || true
  fi
}
