"""Helpers for the secure_domain tests: temporary Jitsi roots, snapshots, and real parsers.

Each reader uses the parser the real consumer uses (Prosody's config loader, a JavaScript engine,
HOCON parsers, Java-properties rules), so the tests check what the services will actually see.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

from support import ROOT, require

TOOL = ROOT / "scripts" / "secure_domain"
FIXTURES = ROOT / "tests" / "fixtures" / "secure_domain"
PROSODY_LIB = pathlib.Path("/usr/lib/prosody")
DOMAIN = "meet.example.com"
GUEST = f"guest.{DOMAIN}"
PROSODY_FILE = f"etc/prosody/conf.avail/{DOMAIN}.cfg.lua"
CONFIG_JS = f"etc/jitsi/meet/{DOMAIN}-config.js"
JICOFO_CONF = "etc/jitsi/jicofo/jicofo.conf"
PROPERTIES = "etc/jitsi/jicofo/sip-communicator.properties"


def run_tool(root: pathlib.Path, *args: str, domain: str = DOMAIN) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), "--domain", domain, "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def copy_upstream(src: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
    """A writable copy of one upstream version, with the symlinks SYMLINKS.txt lists."""
    shutil.copytree(src / "etc", root / "etc", copy_function=shutil.copyfile)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    for line in (src / "SYMLINKS.txt").read_text().splitlines():
        if " -> " in line:
            link, target = (part.strip() for part in line.split(" -> "))
            (root / link).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, root / link)
    return root


def snapshot(root: pathlib.Path) -> dict:
    """Every entry under root: bytes, mtime and mode of files, targets of links."""
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if path.is_symlink():
            state[rel] = ("link", os.readlink(path))
        elif path.is_file():
            state[rel] = ("file", path.read_bytes(), st.st_mtime_ns, st.st_mode)
    return state


def prosody_values(config: pathlib.Path, *hosts: str) -> dict:
    """{host: {key: value}} as Prosody's own config loader reads the file."""
    lua = shutil.which("lua5.4")
    require(lua is not None, "lua5.4 is not installed (Debian package lua5.4)")
    require(
        (PROSODY_LIB / "core" / "configmanager.lua").is_file(),
        "Prosody is not installed (Debian package prosody)",
    )
    out = subprocess.run(
        [lua, str(FIXTURES / "read_prosody.lua"), str(PROSODY_LIB), str(config), *hosts],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    values: dict = {}
    for line in out.splitlines():
        host, key, value = line.split("\t", 2)
        values.setdefault(host, {})[key] = value
    return values


def config_js_hosts(path: pathlib.Path) -> dict:
    """config.hosts, as a JavaScript engine evaluates config.js."""
    node = shutil.which("node")
    require(node is not None, "node is not installed (Debian package nodejs)")
    out = subprocess.run(
        [node, str(FIXTURES / "read_config_js.js"), str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return json.loads(out)


def hocon_cli(path: pathlib.Path, key: str):
    """A value of jicofo.conf as the `hocon` tool (ruby-hocon, used by jicofo's packaging) reads."""
    tool = shutil.which("hocon")
    require(tool is not None, "the hocon tool is not installed (Debian package ruby-hocon)")
    result = subprocess.run(
        [tool, "-j", "-i", str(path), "get", key],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return json.loads(result.stdout) if result.returncode == 0 else None


def java_properties(text: str) -> dict:
    """Java's Properties.load rules: comments, continuation lines, `=`/`:`/space separators."""
    props, pending = {}, ""
    for raw in text.splitlines():
        joined = bool(pending)
        line, pending = pending + raw.lstrip(), ""
        if not joined and (not line or line[0] in "#!"):
            continue
        if (len(line) - len(line.rstrip("\\"))) % 2 == 1:
            pending = line[:-1]
            continue
        key, i = "", 0
        while i < len(line) and line[i] not in "=: \t\f":
            if line[i] == "\\" and i + 1 < len(line):
                i += 1
            key += line[i]
            i += 1
        rest = line[i:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t\f")
        props[key] = rest
    return props
