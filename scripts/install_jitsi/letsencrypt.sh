#!/usr/bin/env bash
# Swap the self-signed certificate of a Jitsi Meet install for a Let's Encrypt one, without
# ever failing the deploy: on any failure the instance keeps its working self-signed
# certificate and this prints a warning with the command to retry. A certificate that is
# already CA-issued is kept, so a re-run requests nothing.
#   letsencrypt.sh ROOT DOMAIN EMAIL TIMEOUT_SECONDS LOG_FILE
#
# Why not let the package do it (cert-choice "Let's Encrypt certificates")? Upstream's
# install-letsencrypt-cert.sh exits 0 when issuing fails ("continuing ..."), so its exit
# status tells nothing, while a failure before that point (fetching acme.sh) fails the
# package's postinst and leaves dpkg half-configured. Run on a configured install, with a
# time limit and no terminal, and judged by the certificate it leaves, it can do no harm.
set -euo pipefail

root="$1" domain="$2" email="$3" timeout_seconds="$4" log="$5"
cert="$root/etc/jitsi/meet/$domain.crt"
le_script=/usr/share/jitsi-meet/scripts/install-letsencrypt-cert.sh
retry="sudo $le_script $email $domain"

# A self-signed certificate names itself as issuer; Let's Encrypt's names its CA.
is_self_signed() {
  local subject issuer
  subject="$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253 2>/dev/null)" || return 0
  issuer="$(openssl x509 -in "$cert" -noout -issuer -nameopt RFC2253 2>/dev/null)" || return 0
  [ "${subject#subject=}" = "${issuer#issuer=}" ]
}

warn() {
  echo "WARNING: $1; Jitsi Meet keeps its self-signed certificate (browsers warn, apps refuse)."
  echo "  To retry once $domain resolves to this VM and port 80 is open: $retry"
}

if [ -e "$cert" ] && ! is_self_signed; then
  echo "Keep CA-issued certificate for $domain"
  exit 0
fi
echo "Request Let's Encrypt certificate for $domain"
if [ ! -x "$root$le_script" ]; then
  warn "$le_script is missing, so no Let's Encrypt certificate was requested"
  exit 0
fi
status=0
echo "--- $le_script $email $domain, $(date -u +%FT%TZ)" >>"$log"
timeout "$timeout_seconds" "$root$le_script" "$email" "$domain" </dev/null >>"$log" 2>&1 || status=$?
if is_self_signed; then
  if [ "$status" -eq 124 ]; then
    warn "Let's Encrypt gave no certificate for $domain within $timeout_seconds s (see $log)"
  else
    warn "Let's Encrypt gave no certificate for $domain (exit $status, see $log)"
  fi
  exit 0
fi
echo "Use Let's Encrypt certificate for $domain"
