#!/usr/bin/env python3
"""What the apt-get and apt-mark stand-ins do to the pretend VM's dpkg status file.

    packages.py install APT_GET_ARGUMENTS...   (the words after "install" are what it installs)
    packages.py hold|unhold PACKAGE...

The repository is what the harness wrote to $STUB_STATE: `madison` (apt-cache madison
jitsi-meet, newest first) and `show/jitsi-meet=VERSION` (each release's control record).
`install` follows apt's rules that matter here: a bare `jitsi-meet` is the newest release with
every part it pins; `jitsi-meet=VERSION` needs each part it Depends on named at, or installed
at, the pinned version ("unmet dependencies" otherwise), and takes a recommended part only when
named; a held package is never changed, nor a package downgraded without --allow-downgrades
(apt-get -y refuses both). Packages outside Jitsi's (prosody, nginx, cron) are installed at
$STUB_VERSION when missing. Exit status 100 and apt's message on a refusal, as apt-get.
"""

import os
import pathlib
import re
import subprocess
import sys

STATE = pathlib.Path(os.environ["STUB_STATE"])
STATUS = pathlib.Path(os.environ["STUB_ROOT"]) / "var/lib/dpkg/status"
OTHERS = ("prosody", "nginx")
PINNED = re.compile(r"^\s*([a-z0-9][a-z0-9.+-]*)\s*\(=\s*([^\s)]+)\s*\)")
RELATIONS = ("Pre-Depends", "Depends", "Recommends")


def refuse(message: str) -> None:
    print(f"E: {message}", file=sys.stderr)
    sys.exit(100)


def paragraphs(text: str) -> list[dict[str, str]]:
    """Control paragraphs, folded fields joined (as apt and dpkg read them)."""
    found = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        name = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and name:
                fields[name] += " " + line.strip()
            elif ":" in line:
                name, value = line.split(":", 1)
                fields[name] = value.strip()
        if fields:
            found.append(fields)
    return found


def pins(record: dict[str, str]) -> list[tuple[str, str, str]]:
    """(field, part, version) of each exact relation; of alternatives, the first."""
    out = []
    for field in RELATIONS:
        for relation in filter(None, record.get(field, "").split(",")):
            match = PINNED.match(relation.split("|")[0])
            if match:
                out.append((field, match.group(1), match.group(2)))
    return out


def release(version: str) -> dict[str, str]:
    path = STATE / "show" / f"jitsi-meet={version}"
    if not path.is_file():
        refuse(f"Version '{version}' for 'jitsi-meet' was not found")
    return paragraphs(path.read_text())[0]


def newer(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "gt", b], check=False).returncode == 0


def install(args: list[str]) -> None:
    installed = {p["Package"]: p for p in paragraphs(STATUS.read_text())}
    words = args[args.index("install") + 1 :]
    named = dict(w.split("=", 1) if "=" in w else (w, "") for w in words if w[0] != "-")
    wanted: dict[str, str] = {}
    meta = named.pop("jitsi-meet", None)
    record = None
    if meta is not None:
        newest = (STATE / "madison").read_text().split("|")[1].strip()
        record = release(meta or newest)
        wanted["jitsi-meet"] = record["Version"]
        for field, part, version in pins(record):
            have = named.get(part) or installed.get(part, {}).get("Version") or ""
            if not meta:
                wanted[part] = version
            elif field != "Recommends" and have != version:
                refuse(
                    "Unable to correct problems, you have held broken packages.\n"
                    f" jitsi-meet : Depends: {part} (= {version}) but {have or 'none'} is to be "
                    "installed"
                )
    for part, version in named.items():
        wanted[part] = version or os.environ["STUB_VERSION"]
    for other in OTHERS:
        if other not in installed:
            wanted[other] = os.environ["STUB_VERSION"]
    changed = {p: v for p, v in wanted.items() if installed.get(p, {}).get("Version") != v}
    held = [p for p in changed if installed.get(p, {}).get("Status", "").startswith("hold ")]
    if held:
        refuse("Held packages were changed and -y was used without --allow-change-held-packages.")
    down = [p for p, v in changed.items() if p in installed and newer(installed[p]["Version"], v)]
    if down and "--allow-downgrades" not in words:
        refuse("Packages were downgraded and -y was used without --allow-downgrades.")
    for package, version in changed.items():
        fields = {
            "Package": package,
            "Status": "install ok installed",
            "Architecture": "all",
            "Version": version,
            "Maintainer": "stub",
            "Description": "stub",
        }
        if package == "jitsi-meet" and record is not None:
            fields.update({f: record[f] for f in RELATIONS if f in record})
        installed[package] = fields
    write(installed)


def select(state: str, packages: list[str]) -> None:
    installed = {p["Package"]: p for p in paragraphs(STATUS.read_text())}
    for package in packages:
        if package in installed:
            installed[package]["Status"] = f"{state} ok installed"
    write(installed)


def write(installed: dict[str, dict[str, str]]) -> None:
    text = "".join(
        "".join(f"{k}: {v}\n" for k, v in fields.items()) + "\n" for fields in installed.values()
    )
    STATUS.write_text(text)


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "install":
        install(rest)
    else:
        select("hold" if command == "hold" else "install", rest)
