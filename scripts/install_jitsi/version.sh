# shellcheck shell=bash
# The Jitsi release: which one is installed, moving to another one, and holding it there.
# Sourced by install.sh, whose ROOT, JITSI_VERSION, die, logged and apt_get it uses.
#
# A release is a version of the jitsi-meet metapackage (2.0.10590-1). Its Pre-Depends and
# Depends pin every part at an exact version of the part's own (jicofo (= 1.0-1140-1),
# jitsi-videobridge2 (= 2.3-240-g...-1), jitsi-meet-web (= 1.0.8792-1), ...), and its
# Recommends pins jitsi-meet-turnserver. apt never moves an installed part to a version that
# is not its newest by itself, so a release is installed by naming the metapackage and each
# pinned part at its version, as upstream's own helper does (jitsi/jitsi-meet-debian-meta,
# downgrade.sh).
#
# The installed release is held with `apt-mark hold`, not with an apt preferences pin. A hold
# is what dpkg, apt-get upgrade and dist-upgrade, and unattended-upgrades (it skips held
# packages) all honour; a hand-run `apt-get install` that would move a held package fails
# instead of moving it; and a hold names no version, so it cannot go stale, nor pull a package
# back down as a pin of priority 1000 or more does when the installed version differs.
# shellcheck disable=SC2016 # ${Status}, ${Version}, ...: dpkg-query's fields, not the shell's

# What the install reports at its end: Jitsi's packages and the two it configures.
REPORTED_PACKAGES=(jitsi-meet jitsi-meet-web jitsi-meet-web-config jitsi-meet-prosody
  jitsi-meet-turnserver jicofo jitsi-videobridge2 prosody nginx)
# How many of the offered releases an error names (Jitsi's repository keeps years of them).
OFFERED_SHOWN=10

# A --jitsi-version value: "stable", or a jitsi-meet version as apt shows it,
# [epoch:]upstream[-revision] (2.0.10590-1).
is_release_name() {
  [ "$1" = stable ] || [[ "$1" =~ ^([0-9]+:)?[0-9]([A-Za-z0-9.+~-]*[A-Za-z0-9.+~])?$ ]]
}

dpkg_query() {
  dpkg-query --admindir="$ROOT/var/lib/dpkg" -W "$@" 2>/dev/null
}

# The version of PACKAGE when it is installed (held or not); nothing otherwise.
installed_version() {
  local status
  status="$(dpkg_query -f='${Status} ${Version}' "$1")" || return 0
  if [[ "$status" =~ ^(install|hold)\ ok\ installed\ (.+)$ ]]; then
    echo "${BASH_REMATCH[2]}"
  fi
}

is_held() {
  [[ "$(dpkg_query -f='${Status}' "$1")" == "hold "* ]]
}

# "KIND NAME VERSION" for each exact relation "NAME (= VERSION)" of the control record on
# stdin: KIND "depends" (Pre-Depends, Depends) or "recommends"; of alternatives "a (= 1) | b",
# the first. Folded fields (continuation lines start with a space) are joined first.
exact_relations() {
  local field kind relation pinned='^[[:space:]]*([a-z0-9][a-z0-9.+-]*)[[:space:]]*\(=[[:space:]]*([^[:space:])]+)[[:space:]]*\)'
  local -a relations
  awk '/^[ \t]/ { line = line $0; next } NR > 1 { print line } { line = $0 } END { print line }' |
    while IFS= read -r field; do
      case "$field" in
        Pre-Depends:* | Depends:*) kind=depends ;;
        Recommends:*) kind=recommends ;;
        *) continue ;;
      esac
      IFS=',' read -ra relations <<<"${field#*:}"
      for relation in "${relations[@]}"; do
        if [[ "${relation%%|*}" =~ $pinned ]]; then
          echo "$kind ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
        fi
      done
    done
}

# The exact relations of the installed jitsi-meet: the parts of the installed release.
installed_relations() {
  dpkg_query -f='Pre-Depends: ${Pre-Depends}\nDepends: ${Depends}\nRecommends: ${Recommends}\n' \
    jitsi-meet | exact_relations
}

# Sets TARGET, the release to have: JITSI_VERSION, or for "stable" the installed one (stable
# is resolved by the first install only). Succeeds when it is in place: the metapackage at
# TARGET and every part at the version it pins (a recommended part may be absent).
release_in_place() {
  local installed kind name version have
  installed="$(installed_version jitsi-meet)"
  TARGET="$JITSI_VERSION"
  if [ "$TARGET" = stable ]; then TARGET="$installed"; fi
  if [ -z "$installed" ] || [ "$installed" != "$TARGET" ]; then return 1; fi
  while read -r kind name version; do
    have="$(installed_version "$name")"
    if [ "$kind" = recommends ] && [ -z "$have" ]; then continue; fi
    [ "$have" = "$version" ] || return 1
  done < <(installed_relations)
}

# The jitsi-meet versions the package lists offer, newest first, one per line.
offered_releases() {
  apt-cache madison jitsi-meet 2>/dev/null |
    awk -F'|' '{ gsub(/[ \t]/, "", $2) } $2 != "" && !seen[$2]++ { print $2 }'
}

# Sets RELEASE, the apt-get install arguments for release TARGET: the metapackage and each
# part at the version it pins ("stable": just jitsi-meet, the newest). FRESH (true|false): a
# first install, which takes the recommended parts too; a move takes them where installed.
# A release the repository does not offer stops here, before anything changes, naming the
# ones it does offer.
resolve_release() {
  local fresh="$1" offered kind name version more list
  local -a shown
  RELEASE=(jitsi-meet)
  [ "$TARGET" != stable ] || return 0
  offered="$(offered_releases)"
  if ! grep -qxF -- "$TARGET" <<<"$offered"; then
    [ -n "$offered" ] || die "jitsi-meet $TARGET: the Jitsi repository offers no jitsi-meet" \
      "at all; check --jitsi-apt-source"
    mapfile -t shown < <(head -n "$OFFERED_SHOWN" <<<"$offered")
    more=$(($(wc -l <<<"$offered") - ${#shown[@]}))
    printf -v list '%s, ' "${shown[@]}"
    list="${list%, }"
    if ((more)); then list+=" and $more older (apt-cache madison jitsi-meet)"; fi
    die "jitsi-meet $TARGET is not in the Jitsi repository, which offers $list;" \
      "use one of them, or stable"
  fi
  RELEASE=("jitsi-meet=$TARGET")
  while read -r kind name version; do
    if [ "$kind" = recommends ] && ! $fresh && [ -z "$(installed_version "$name")" ]; then
      continue
    fi
    RELEASE+=("$name=$version")
  done < <(apt-cache show "jitsi-meet=$TARGET" | sed '/^$/q' | exact_relations)
}

# The installed release's packages: the metapackage and its installed pinned parts.
release_packages() {
  local kind name version
  echo jitsi-meet
  while read -r kind name version; do
    if [ -n "$(installed_version "$name")" ]; then echo "$name"; fi
  done < <(installed_relations)
}

# Holds the installed release's packages that are not held yet; sets HELD_NOW when it did.
hold_release() {
  local -a loose=()
  local name
  while read -r name; do
    is_held "$name" || loose+=("$name")
  done < <(release_packages)
  ((${#loose[@]})) || return 0
  logged "apt-mark hold ${loose[*]}" apt-mark hold "${loose[@]}"
  echo "Hold ${#loose[@]} Jitsi packages at their versions (apt upgrades leave them)"
  # shellcheck disable=SC2034 # install.sh reads it
  HELD_NOW=true
}

# Moves the installed packages to RELEASE (an upgrade or a downgrade, chosen in the stack
# config, so downgrades are allowed): unhold, install, hold again, also when apt fails.
move_release() {
  local from name
  local -a held=()
  from="$(installed_version jitsi-meet)"
  if [ "$from" = "$TARGET" ]; then
    echo "Put the parts of Jitsi Meet $TARGET back at the versions it pins"
  elif dpkg --compare-versions "$from" lt "$TARGET"; then
    echo "Upgrade Jitsi Meet from $from to $TARGET (its services restart)"
  else
    echo "Downgrade Jitsi Meet from $from to $TARGET (its services restart)"
  fi
  while read -r name; do
    if is_held "$name"; then held+=("$name"); fi
  done < <(release_packages)
  if ((${#held[@]})); then logged "apt-mark unhold ${held[*]}" apt-mark unhold "${held[@]}"; fi
  if ! (logged "apt-get install ${RELEASE[*]}" apt_get install --allow-downgrades "${RELEASE[@]}"); then
    hold_release
    exit 1
  fi
  hold_release
}

# The last lines of every run, "  NAME VERSION" under "Installed packages:": the Pulumi program
# reads the installed versions from them, so they depend on the installed packages alone.
print_versions() {
  echo "Installed packages:"
  dpkg_query -f='${db:Status-Abbrev} ${Package} ${Version}\n' "${REPORTED_PACKAGES[@]}" |
    awk '$1 ~ /^[ih]i$/ { print "  " $2 " " $3 }' || true
}
