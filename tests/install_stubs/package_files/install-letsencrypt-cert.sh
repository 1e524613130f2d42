#!/usr/bin/env bash
# Stand-in for the package's install-letsencrypt-cert.sh EMAIL DOMAIN.
# LE_STUB_MODE: issue (install $LE_STUB_CERT as the site certificate) | fail (print the
# upstream "failed, continuing" message and exit 0, as upstream does) | crash (exit 1) | hang.
# Its call is recorded with "stdin-tty=yes|no" in place of the frontend column.
set -euo pipefail
printf '%s\t%s\t%s\t%s\n' "$(date +%s.%N)" "install-letsencrypt-cert.sh" "$*" "stdin-tty=$([ -t 0 ] && echo yes || echo no)" >>"$STUB_LOG"
case "${LE_STUB_MODE:-fail}" in
  issue) cp "$LE_STUB_CERT" "$STUB_ROOT/etc/jitsi/meet/$2.crt" ;;
  fail) echo "Issuing the certificate from Let's Encrypt failed, continuing ..." ;;
  crash) echo "curl: (6) Could not resolve host: get.acme.sh" >&2; exit 1 ;;
  hang) exec sleep 600 ;;
esac
