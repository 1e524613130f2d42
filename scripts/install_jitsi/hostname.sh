#!/usr/bin/env bash
# Make DOMAIN this machine's name and resolve it locally, changing only what differs.
#   hostname.sh ROOT DOMAIN
# The deploy's final check fetches https://DOMAIN/ from the VM itself, and the package
# names its self-signed certificate after the host, so both must agree with DOMAIN.
set -euo pipefail

root="$1" domain="$2"

if [ "$(cat "$root/etc/hostname" 2>/dev/null || true)" = "$domain" ]; then
  echo "Keep host name $domain"
else
  echo "Set host name to $domain"
  hostnamectl set-hostname "$domain"
fi

# Any uncommented line already naming DOMAIN counts (e.g. Debian's "127.0.1.1 host" line).
if awk -v d="$domain" '{ sub(/#.*/, "") } { for (i = 2; i <= NF; i++) if ($i == d) found = 1 }
    END { exit !found }' "$root/etc/hosts" 2>/dev/null; then
  echo "Keep /etc/hosts entry for $domain"
else
  echo "Map $domain to 127.0.0.1 in /etc/hosts"
  echo "127.0.0.1 $domain # added by install_jitsi.sh" >>"$root/etc/hosts"
fi
