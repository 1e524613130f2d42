#!/usr/bin/env bash
# Add Jitsi's apt repository, and Prosody's where the system's own Prosody is too old.
#   repos.sh ROOT CODENAME JITSI_SOURCE JITSI_KEY_URL PROSODY_SOURCE PROSODY_KEY_URL
# PROSODY_SOURCE: "" (Prosody's own repository where the system lacks Prosody 13), "system"
# (the system's Prosody only), or a source line of its own with PROSODY_KEY_URL.
# Each key goes into its own keyring that only its own repository trusts (signed-by), never
# into apt's global trust (apt-key). Files are rewritten whole, so a re-run converges.
set -euo pipefail

root="$1" codename="$2" jitsi_source="$3" jitsi_key="$4" prosody_source="$5" prosody_key="$6"

add_repository() {
  local name="$1" key_url="$2" keyring="$3" list="$4" line="$5" armored
  echo "Add $name apt repository"
  armored="$(curl -fsSL --retry 5 --retry-delay 3 --max-time 60 "$key_url")" || {
    echo "install_jitsi: error: cannot download the $name key from $key_url;" \
      "check the VM's outbound HTTPS access" >&2
    exit 1
  }
  mkdir -p "$root$(dirname "$keyring")" "$root/etc/apt/sources.list.d"
  gpg --batch --yes --dearmor -o "$root$keyring.new" <<<"$armored"
  chmod 644 "$root$keyring.new"
  mv -f "$root$keyring.new" "$root$keyring"
  echo "$line" >"$root/etc/apt/sources.list.d/$list"
}

add_repository Jitsi "$jitsi_key" /usr/share/keyrings/jitsi-keyring.gpg jitsi-stable.list \
  "deb [signed-by=/usr/share/keyrings/jitsi-keyring.gpg] $jitsi_source"

# Current Jitsi wants Prosody 13. Debian 13 ships it; Debian 12 (0.12) and Ubuntu 22.04/24.04
# (0.11/0.12) do not, so there Prosody's own repository supplies it, as the Jitsi handbook
# does. Plain http as upstream documents it: apt checks every file against the signed index.
if [ -z "$prosody_source" ] && [ "$codename" != trixie ]; then
  prosody_source="http://packages.prosody.im/debian $codename main"
  prosody_key=https://prosody.im/files/prosody-debian-packages.key
fi
case "$prosody_source" in
  "" | system) echo "Use the system's Prosody" ;;
  *)
    add_repository Prosody "$prosody_key" /usr/share/keyrings/prosody-keyring.gpg prosody.list \
      "deb [signed-by=/usr/share/keyrings/prosody-keyring.gpg] $prosody_source"
    ;;
esac
