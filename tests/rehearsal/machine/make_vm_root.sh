#!/usr/bin/env bash
# Builds the cached root of a "fresh Compute Engine VM" (Google's debian-12 or debian-13 image,
# reduced to what the deployment may touch) for the rehearsal machine (vm.py boots copies of it).
#   bash tests/rehearsal/machine/make_vm_root.sh DIR RELEASE      (RELEASE: bookworm or trixie)
# Idempotent: a finished root (DIR/.ready holding this recipe) is reused. It is built in a
# temporary sibling and renamed into place, under an exclusive lock on DIR.lock (vm.py holds a
# shared one while it copies), so no run ever sees or copies a half-built or half-replaced root.
set -euo pipefail
root="${1:?usage: make_vm_root.sh DIR RELEASE}"
release="${2:?usage: make_vm_root.sh DIR RELEASE}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
case "$release" in
  bookworm | trixie) ;;
  *)
    echo "make_vm_root.sh: RELEASE must be bookworm or trixie, not '$release'" >&2
    exit 2
    ;;
esac

# What a GCE Debian image gives that the deployment may touch, and nothing more: no curl, no
# gnupg, no prosody or nginx (the installer must bring those itself). python3 is the full one,
# as on the cloud images. Bump the leading number when the steps below change.
packages="systemd,systemd-sysv,dbus,openssh-server,python3,sudo,ca-certificates"
recipe="5 $release $packages"
ready() { [ "$(cat "$root/.ready" 2>/dev/null)" = "$recipe" ]; }
if ready; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "make_vm_root.sh: building the VM root needs root (debootstrap, chroot)" >&2
  exit 1
fi
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9
# Another run may have finished the same root while this one waited for the lock.
if ready; then
  exit 0
fi

tmp="$root.building.$$"
trap 'rm -rf "$tmp"' EXIT
echo "Building a Debian $release VM root in $root (about a minute)" >&2
if ! log=$(debootstrap --variant=minbase --include="$packages" "$release" "$tmp" "$mirror" 2>&1); then
  echo "$log" >&2
  exit 1
fi

# Apt sources as on GCE's Debian 12 and 13 images (built from Debian's cloud images): deb822,
# binaries and sources of main for the release, -updates, -backports and -security, from
# deb.debian.org through apt's mirror+file method. One difference: the images say https, here
# it is http, which the rehearsal's relay serves (TLS to the real archive cannot be relayed
# where the host's own egress re-signs TLS). Google's own repositories are left out: the VM
# cannot reach them.
rm -f "$tmp/etc/apt/sources.list"
mkdir -p "$tmp/etc/apt/mirrors"
echo http://deb.debian.org/debian >"$tmp/etc/apt/mirrors/debian.list"
echo http://deb.debian.org/debian-security >"$tmp/etc/apt/mirrors/debian-security.list"
cat >"$tmp/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb deb-src
URIs: mirror+file:///etc/apt/mirrors/debian.list
Suites: $release $release-updates $release-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: mirror+file:///etc/apt/mirrors/debian-security.list
Suites: $release-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# A fresh VM has no package lists yet: the deployment must run apt-get update itself.
rm -rf "$tmp/var/lib/apt/lists" "$tmp"/var/cache/apt/*.bin
mkdir -p "$tmp/var/lib/apt/lists/partial"
chroot "$tmp" apt-get clean

# Per-instance identity is made at first boot, as on an image: an empty machine-id (systemd
# makes one), no SSH host keys (the guest agent stand-in makes them, as GCE's agent does).
: >"$tmp/etc/machine-id"
rm -f "$tmp/var/lib/dbus/machine-id" "$tmp"/etc/ssh/ssh_host_*
# debootstrap copies these from the host; a VM has its own. GCE's image sets no static host
# name (its /etc/hostname is this comment): the agent sets it at boot from the metadata.
# resolv.conf points at GCE's metadata resolver, which no run can reach, so only /etc/hosts
# names resolve (the rehearsal adds deb.debian.org there).
echo "# Do not set a static hostname." >"$tmp/etc/hostname"
cat >"$tmp/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
printf 'nameserver 169.254.169.254\n' >"$tmp/etc/resolv.conf"

echo "$recipe" >"$tmp/.ready"
# Swap in the new root; an older one (stale recipe) is moved aside first and then deleted.
if [ -e "$root" ]; then
  mv "$root" "$root.old.$$"
fi
mv "$tmp" "$root"
rm -rf "$root.old.$$"
