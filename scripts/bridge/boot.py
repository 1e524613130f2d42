#!/usr/bin/env python3
"""A pooled videobridge's boot: Compute Engine runs it as the `startup-script`, as root, at
every boot (see README.md in this folder for its contract).

It reads everything first: the instance's metadata, then the bridge password from Secret
Manager with the instance's own service account. A failed read stops it with one line before
anything changes. Then it installs the pinned jitsi-videobridge2 (once), trusts the signalling
node's certificate, writes jvb.conf and restarts the bridge. The password goes into jvb.conf
only: never into an argument, an environment variable or the output, which the guest agent
copies to the serial console and the journal. Python 3 standard library only.
"""

import base64
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.environ.get("JITSI_BRIDGE_ROOT", "")
METADATA = os.environ.get(
    "JITSI_BRIDGE_METADATA", "http://metadata.google.internal/computeMetadata/v1"
)
SECRETS = os.environ.get("JITSI_BRIDGE_SECRETS", "https://secretmanager.googleapis.com/v1")
# A new IAM grant takes a minute or more to reach Secret Manager: denials are retried this
# long. The tests set 0 (one attempt).
WAIT = float(os.environ.get("JITSI_BRIDGE_WAIT_SECONDS", "300"))
PACKAGE = "jitsi-videobridge2"
CONF_DIR = "/etc/jitsi/videobridge"
TRUSTED = "/usr/local/share/ca-certificates/jitsi-signalling.crt"
MIN_PASSWORD = 32
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Each attribute the template sets, and the shape it must have.
ATTRIBUTES = {
    "jitsi-domain": re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+"),
    "jitsi-signalling-address": re.compile(r"[0-9.]{7,15}"),
    "jitsi-auth-certificate": re.compile(r"-----BEGIN CERTIFICATE-----\n.+", re.S),
    "jitsi-bridge-secret": re.compile(r"projects/[a-z0-9-]+/secrets/[A-Za-z0-9_-]{1,255}"),
    "jitsi-version": re.compile(r"stable|([0-9]+:)?[0-9][A-Za-z0-9.+~-]*"),
    "jitsi-apt-source": re.compile(r"https?://[A-Za-z0-9.:/_~%+-]+( [A-Za-z0-9._/~+-]+)+"),
    "jitsi-apt-key": re.compile(r"https?://[A-Za-z0-9.:/_~%+-]+"),
}


class BootError(Exception):
    """What stops the boot, as one line."""


def fetch(url: str, what: str, headers: dict, retry: tuple[int, ...] = ()) -> bytes:
    """The body at url; HTTP statuses in `retry` and network errors are retried for WAIT s."""
    # No proxy from the environment: the metadata server must be asked directly.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + WAIT
    while True:
        try:
            # Only http(s): every URL is the metadata server's, Secret Manager's or a checked one.
            request = urllib.request.Request(url, headers=headers)  # noqa: S310
            with opener.open(request, timeout=10) as answer:
                if url.startswith(METADATA) and answer.headers.get("Metadata-Flavor") != "Google":
                    raise BootError(f"{what}: {METADATA} is not the metadata server")
                return answer.read()
        except urllib.error.HTTPError as e:
            problem, again = f"HTTP {e.code}", e.code in retry or e.code >= 500
        except (urllib.error.URLError, OSError) as e:
            problem, again = f"{getattr(e, 'reason', e)}", True
        if not again or time.monotonic() >= deadline:
            raise BootError(f"{what} ({problem})")
        time.sleep(10)


def metadata(path: str) -> str:
    body = fetch(
        f"{METADATA}/{path}",
        f"cannot read {path} from the metadata server",
        {"Metadata-Flavor": "Google"},
    )
    # Anything but text fails the checks of its attribute, with their message.
    return body.decode(errors="replace").strip()


def read_metadata() -> dict[str, str]:
    meta = {}
    for key, shape in ATTRIBUTES.items():
        value = metadata(f"instance/attributes/{key}")
        if not shape.fullmatch(value):
            raise BootError(f"metadata {key} is malformed; the instance template sets it")
        meta[key] = value
    try:
        if not ssl.PEM_cert_to_DER_cert(meta["jitsi-auth-certificate"]).startswith(b"\x30"):
            raise ValueError("not a certificate")
        for key, path in (("internal", "ip"), ("external", "access-configs/0/external-ip")):
            meta[key] = str(
                ipaddress.IPv4Address(metadata(f"instance/network-interfaces/0/{path}"))
            )
        ipaddress.IPv4Address(meta["jitsi-signalling-address"])
    except ValueError as e:
        raise BootError(f"metadata holds a malformed certificate or address ({e})") from None
    name = metadata("instance/name")
    with open(f"{ROOT}/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip().replace("-", "")[:8]
    # Unique per bridge and per boot: bridges sharing a nickname merge into one occupant of
    # the bridges' room, and a rebooted bridge must not be taken for its former self.
    meta["nickname"] = re.sub(r"[^a-z0-9-]", "-", f"{name}-{boot}".lower())
    return meta


def read_password(secret: str) -> str:
    try:
        token = json.loads(metadata("instance/service-accounts/default/token"))["access_token"]
    except (ValueError, KeyError, TypeError):
        raise BootError(
            "the metadata server gave no access token: has the VM a service account?"
        ) from None
    body = fetch(
        f"{SECRETS}/{secret}/versions/latest:access",
        f"Secret Manager refused {secret}; the instance's service account needs "
        "roles/secretmanager.secretAccessor on it",
        {"Authorization": f"Bearer {token}"},
        retry=(403, 404, 429),
    )
    try:
        password = base64.b64decode(json.loads(body)["payload"]["data"]).decode()
    except (ValueError, KeyError, TypeError):
        raise BootError(f"Secret Manager's answer for {secret} holds no secret data") from None
    if len(password) < MIN_PASSWORD or not password.isprintable():
        raise BootError(f"{secret} is not a bridge password ({MIN_PASSWORD}+ plain characters)")
    return password


def run(*argv: str, stdin: str = "") -> str:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [""])[-1]
        raise BootError(f"{' '.join(argv[:3])} failed (exit {done.returncode}): {tail}")
    return done.stdout


def write(path: str, text: str, mode: int, gid: int = 0) -> bool:
    """Writes ROOT+path whole (a new file renamed over the old); False when already so."""
    path = ROOT + path
    try:
        with open(path) as f:
            same = f.read() == text
        status = os.stat(path)
        if same and (status.st_mode & 0o777, status.st_uid, status.st_gid) == (mode, 0, gid):
            return False
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    new = f"{path}.new"
    if os.path.lexists(new):
        os.unlink(new)
    # Created with its final mode and owner, so the password is never readable by others.
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        os.fchown(fd, 0, gid)
        f.write(text)
        f.flush()
        os.fsync(fd)
    os.replace(new, path)
    return True


def installed() -> bool:
    status = subprocess.run(
        ["dpkg-query", f"--admindir={ROOT}/var/lib/dpkg", "-W", "-f=${Status}", PACKAGE],
        capture_output=True,
        text=True,
    )
    return status.returncode == 0 and status.stdout.endswith(" installed")


def install(meta: dict[str, str]) -> None:
    """The release's bridge, once: a new release is a new template, so new bridges."""
    if installed():
        print(f"jitsi-bridge: keep the installed {PACKAGE}")
        return
    key = fetch(meta["jitsi-apt-key"], f"cannot download {meta['jitsi-apt-key']}", {})
    if not key.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"):
        raise BootError(f"{meta['jitsi-apt-key']} is not an armored OpenPGP key")
    # Armored, in a keyring of its own that only this repository trusts (.asc: apt reads it).
    write("/usr/share/keyrings/jitsi-bridge.asc", key.decode(), 0o644)
    line = f"deb [signed-by=/usr/share/keyrings/jitsi-bridge.asc] {meta['jitsi-apt-source']}\n"
    write("/etc/apt/sources.list.d/jitsi-bridge.list", line, 0o644)
    run(
        "debconf-set-selections",
        stdin=f"{PACKAGE} jitsi-videobridge/jvb-hostname string {meta['jitsi-domain']}\n",
    )
    # A fresh VM's apt-daily and unattended-upgrades hold the lock for minutes: wait for it.
    apt = ["apt-get", "-y", "-o", "DPkg::Lock::Timeout=600"]
    run(*apt, "update")
    release, want = meta["jitsi-version"], PACKAGE
    if release != "stable":
        # The release's metapackage pins each of its parts at an exact version, the bridge too.
        shown = run("apt-cache", "show", f"jitsi-meet={release}").split("\n\n")[0]
        depends = re.findall(r"^(?:Pre-)?Depends:(.*)$", shown.replace("\n ", " "), re.M)
        pin = re.search(rf"(?:^|,)\s*{PACKAGE} \(= ([^)\s]+)\)", ",".join(depends))
        if not pin:
            raise BootError(f"jitsi-meet {release} pins no {PACKAGE} version")
        want = f"{PACKAGE}={pin[1]}"
    print(f"jitsi-bridge: install {want}")
    run(*apt, "install", "--no-install-recommends", want)
    run("apt-mark", "hold", PACKAGE)


def group_id(name: str) -> int:
    with open(f"{ROOT}/etc/group") as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == name and len(fields) > 2:
                return int(fields[2])
    raise BootError(f"group {name} not found: the {PACKAGE} package creates it")


def configure(meta: dict[str, str], password: str) -> None:
    if write(TRUSTED, meta["jitsi-auth-certificate"].strip() + "\n", 0o644):
        # Into the system's trust and, through ca-certificates-java's hook, Java's: the
        # bridge's XMPP client checks Prosody's certificate (STARTTLS on 5222).
        run("update-ca-certificates", "-f")
    legacy = f"{ROOT}{CONF_DIR}/sip-communicator.properties"
    if os.path.exists(legacy):
        # Read before jvb.conf: its old XMPP and STUN keys would win.
        os.unlink(legacy)
        print(f"jitsi-bridge: removed {CONF_DIR}/sip-communicator.properties")
    # The package runs the bridge as jvb:jitsi (its postinst even deletes an old jvb group).
    changed = write(f"{CONF_DIR}/jvb.conf", jvb_conf(meta, password), 0o640, group_id("jitsi"))
    done = "wrote" if changed else "kept"
    print(f"jitsi-bridge: {done} {CONF_DIR}/jvb.conf for {meta['nickname']}")


def jvb_conf(meta: dict[str, str], password: str) -> str:
    auth = f"auth.{meta['jitsi-domain']}"
    xmpp = {
        "HOSTNAME": meta["jitsi-signalling-address"],
        "PORT": 5222,
        "DOMAIN": auth,
        "USERNAME": "jvb",
        "PASSWORD": password,
        "MUC_JIDS": f"JvbBrewery@internal.{auth}",
        "MUC_NICKNAME": meta["nickname"],
    }
    mapping = {
        "local-address": meta["internal"],
        "public-address": meta["external"],
        "name": "gce-nat",
    }
    # JSON is HOCON; one object per line keeps the file readable.
    return "\n".join(
        [
            "# Written at every boot by scripts/bridge/boot.py: edits here are lost.",
            f"videobridge.apis.xmpp-client.configs.signalling = {json.dumps(xmpp)}",
            "videobridge.apis.rest.enabled = true",
            "videobridge.rest.shutdown.enabled = true",
            # Google's health checks reach it on the internal address (only they, by firewall).
            'videobridge.http-servers.private = {"host": "0.0.0.0", "port": 8080}',
            "videobridge.websockets.enabled = false",
            # Compute Engine's 1:1 NAT: the VM sees its internal address only.
            "ice4j.harvest.mapping.aws.enabled = false",
            "ice4j.harvest.mapping.stun.enabled = false",
            f"ice4j.harvest.mapping.static-mappings = [{json.dumps(mapping)}]",
            "",
        ]
    )


def main() -> int:
    try:
        meta = read_metadata()
        password = read_password(meta["jitsi-bridge-secret"])
        install(meta)
        configure(meta, password)
        run("systemctl", "restart", PACKAGE)
    except BootError as e:
        print(f"jitsi-bridge: error: {e}", file=sys.stderr)
        return 1
    print(f"jitsi-bridge: {meta['nickname']} started")
    return 0


if __name__ == "__main__":
    sys.exit(main())
