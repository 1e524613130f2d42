#!/usr/bin/env python3
"""Stand-in for the system commands the bridge's boot script runs, chosen by the name it is
called by (a symlink per command). Each call is appended to $BRIDGE_STUB_LOG as one JSON line
(the command, its arguments, what it read on stdin); the few effects that matter are made under
$JITSI_BRIDGE_ROOT as the real packages make them:
- `apt-get install jitsi-videobridge2[=VERSION]`: what the package's postinst leaves, a jitsi
  group (the bridge's), a jvb.conf of its own for a local Prosody with an 8-character secret, a
  legacy sip-communicator.properties, and the package in dpkg's status file (dpkg-query stays
  real);
- `apt-cache show jitsi-meet=VERSION`: the release's record, which pins the bridge;
- `apt-mark hold`: the package held.
"""

import json
import os
import pathlib
import sys

ROOT = pathlib.Path(os.environ["JITSI_BRIDGE_ROOT"])
# The releases the pretend repository offers: jitsi-meet's version -> the bridge it pins.
RELEASES = {"2.0.10590-1": "2.3-240-g3f4c1e7d-1", "2.0.10314-1": "2.3-219-gb5fbe618-1"}
NEWEST_BRIDGE = "2.3-240-g3f4c1e7d-1"
STOCK_CONF = """videobridge {
  apis.xmpp-client.configs.shard {
    HOSTNAME = "localhost"
    DOMAIN = "auth.meet.example.org"
    USERNAME = "jvb"
    PASSWORD = "Ab3dEf7h"
    MUC_JIDS = "JvbBrewery@internal.auth.meet.example.org"
    MUC_NICKNAME = "5c6e4f1a-cloned-into-every-image"
  }
}
"""
LEGACY = "org.jitsi.videobridge.xmpp.user.shard.PASSWORD=Ab3dEf7h\n"


def status(version: str, state: str) -> None:
    path = ROOT / "var/lib/dpkg/status"
    record = (
        f"Package: jitsi-videobridge2\nStatus: {state} ok installed\nPriority: optional\n"
        f"Architecture: all\nVersion: {version}\nDescription: stand-in\n"
    )
    path.write_text(record)


def apt_get(args: list[str]) -> int:
    if "install" not in args:
        return 0
    if os.environ.get("DEBIAN_FRONTEND") != "noninteractive":
        print("debconf: would prompt on a terminal", file=sys.stderr)
        return 1
    (wanted,) = [a for a in args if a.startswith("jitsi-videobridge2")]
    version = wanted.partition("=")[2] or NEWEST_BRIDGE
    conf = ROOT / "etc/jitsi/videobridge"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "jvb.conf").write_text(STOCK_CONF)
    (conf / "sip-communicator.properties").write_text(LEGACY)
    group = ROOT / "etc/group"
    if "\njitsi:" not in "\n" + group.read_text():
        with group.open("a") as f:
            f.write("jitsi:x:998:\n")
    status(version, "install")
    return 0


def apt_cache(args: list[str]) -> int:
    release = args[-1].partition("=")[2]
    if args[:1] != ["show"] or release not in RELEASES:
        print(f"E: Version '{release}' for 'jitsi-meet' was not found", file=sys.stderr)
        return 100
    print(
        f"Package: jitsi-meet\nVersion: {release}\nPre-Depends: jicofo (= 1.0-1140-1),\n"
        f" jitsi-videobridge2 (= {RELEASES[release]})\nDepends: jitsi-meet-web (= 1.0.8792-1)\n"
        "Recommends: jitsi-meet-turnserver (= 1.0.8792-1)\n\n"
        f"Package: jitsi-meet\nVersion: {release}\nDepends: jitsi-videobridge2 (= 0.0-wrong)\n"
    )
    return 0


def apt_mark(args: list[str]) -> int:
    text = (ROOT / "var/lib/dpkg/status").read_text()
    version = text.split("Version: ")[1].split("\n")[0]
    status(version, "hold")
    return 0


def main() -> int:
    name = pathlib.Path(sys.argv[0]).name
    args = sys.argv[1:]
    stdin = "" if sys.stdin.isatty() else sys.stdin.read()
    with open(os.environ["BRIDGE_STUB_LOG"], "a") as log:
        log.write(json.dumps({"command": name, "args": args, "stdin": stdin}) + "\n")
    handler = {"apt-get": apt_get, "apt-cache": apt_cache, "apt-mark": apt_mark}.get(name)
    return handler(args) if handler else 0


if __name__ == "__main__":
    sys.exit(main())
