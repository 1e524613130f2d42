"""The bridge's boot script (scripts/bridge/boot.py), run for real against local stand-ins.

What it must do on a fresh bridge: read its metadata and its password, install the release's
bridge, trust the signalling node's certificate, write a jvb.conf that parses as HOCON with the
right values and a nickname of its own, drop the legacy properties, restart the bridge. What it
must never do: show the password anywhere but jvb.conf (0640 root:jitsi).
"""

import pathlib
import shutil
import stat
import subprocess

import pytest
from bridge_harness import (
    ARMORED_KEY,
    SECRET,
    StandIn,
    has_strace,
    metadata_routes,
    new_root,
    run_script,
    secret_routes,
)
from bridge_harness import Answer as Served
from pyhocon import ConfigFactory
from support import require

PASSWORD = "S3cretBridgePassw0rdThatIs40CharactersLng"
DOMAIN = "meet.example.org"
BOOT_ID = "6f1c0a52-93be-4c1e-8f0e-0d1e2f3a4b5c"
INTERNAL, EXTERNAL, SIGNALLING = "10.128.0.7", "34.118.20.9", "10.128.0.2"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> str:
    """A real self-signed certificate for auth.DOMAIN, as jitsi-meet-prosody makes one."""
    work = tmp_path_factory.mktemp("cert")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN=auth.{DOMAIN}", "-keyout", str(work / "key"),
         "-out", str(work / "crt")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return (work / "crt").read_text()


class Bridge:
    """One pretend bridge: its stand-ins, its root, and how to boot it."""

    def __init__(self, work: pathlib.Path, certificate: str, name="jitsi-bridges-test-x7k2",
                 boot_id=BOOT_ID, version="stable", secret_status=200):  # fmt: skip
        self.work = work
        self.web = StandIn({("GET", "/jitsi-key.gpg.key"): Served(200, ARMORED_KEY.encode())})
        self.attributes = {
            "jitsi-domain": DOMAIN,
            "jitsi-signalling-address": SIGNALLING,
            "jitsi-auth-certificate": certificate,
            "jitsi-bridge-secret": SECRET,
            "jitsi-version": version,
            "jitsi-apt-source": f"{self.web.url}/jitsi stable/",
            "jitsi-apt-key": f"{self.web.url}/jitsi-key.gpg.key",
        }
        instance = {
            "name": name,
            "network-interfaces/0/ip": INTERNAL,
            "network-interfaces/0/access-configs/0/external-ip": EXTERNAL,
        }
        self.metadata = StandIn(metadata_routes(self.attributes, instance))
        self.secrets = StandIn(secret_routes(PASSWORD, secret_status))
        self.root = new_root(work / "root", boot_id)

    def boot(self, trace=False, **env):
        urls = {
            "JITSI_BRIDGE_METADATA": f"{self.metadata.url}/computeMetadata/v1",
            "JITSI_BRIDGE_SECRETS": f"{self.secrets.url}/v1",
        }
        return run_script("boot.py", self.root, {**urls, **env}, self.work, trace)

    def conf(self):
        return ConfigFactory.parse_file(str(self.root / "etc/jitsi/videobridge/jvb.conf"))

    def stop(self):
        for server in (self.web, self.metadata, self.secrets):
            server.stop()


@pytest.fixture
def bridges(tmp_path, certificate):
    made = []

    def make(**kwargs):
        made.append(Bridge(tmp_path / f"vm{len(made)}", certificate, **kwargs))
        return made[-1]

    yield make
    for bridge in made:
        bridge.stop()


def _commands(result) -> list[list[str]]:
    return [[call["command"], *call["args"]] for call in result.calls]


def test_a_fresh_bridge_installs_trusts_configures_and_restarts(bridges, certificate):
    bridge = bridges()
    done = bridge.boot()
    assert done.returncode == 0, done.stderr
    apt = ["apt-get", "-y", "-o", "DPkg::Lock::Timeout=600"]
    assert _commands(done) == [
        ["debconf-set-selections"],
        [*apt, "update"],
        [*apt, "install", "--no-install-recommends", "jitsi-videobridge2"],
        ["apt-mark", "hold", "jitsi-videobridge2"],
        ["update-ca-certificates", "-f"],
        ["systemctl", "restart", "jitsi-videobridge2"],
    ]
    assert done.calls[0]["stdin"] == (
        f"jitsi-videobridge2 jitsi-videobridge/jvb-hostname string {DOMAIN}\n"
    )
    root = bridge.root
    # Jitsi's repository, trusted through a keyring of its own.
    keyring = "/usr/share/keyrings/jitsi-bridge.asc"
    assert (root / keyring.lstrip("/")).read_text() == ARMORED_KEY
    assert (root / "etc/apt/sources.list.d/jitsi-bridge.list").read_text() == (
        f"deb [signed-by={keyring}] {bridge.web.url}/jitsi stable/\n"
    )
    # The signalling node's own certificate, in the system's trust.
    trusted = root / "usr/local/share/ca-certificates/jitsi-signalling.crt"
    assert trusted.read_text() == certificate.strip() + "\n"
    # Read before jvb.conf, its stale XMPP password would win.
    assert not (root / "etc/jitsi/videobridge/sip-communicator.properties").exists()
    assert done.stdout.rstrip().endswith("started")


def test_jvb_conf_parses_as_hocon_with_the_signalling_node_the_mapping_and_the_apis(bridges):
    bridge = bridges()
    assert bridge.boot().returncode == 0
    conf = bridge.conf()
    xmpp = conf["videobridge.apis.xmpp-client.configs"]
    # The package's own client (localhost, its 8-character secret) is gone: one client only.
    assert list(xmpp) == ["signalling"]
    assert dict(xmpp["signalling"]) == {
        "HOSTNAME": SIGNALLING,
        "PORT": 5222,
        "DOMAIN": f"auth.{DOMAIN}",
        "USERNAME": "jvb",
        "PASSWORD": PASSWORD,
        "MUC_JIDS": f"JvbBrewery@internal.auth.{DOMAIN}",
        "MUC_NICKNAME": "jitsi-bridges-test-x7k2-6f1c0a52",
    }
    assert conf["videobridge.apis.rest.enabled"] is True
    assert conf["videobridge.rest.shutdown.enabled"] is True
    assert conf["videobridge.websockets.enabled"] is False
    # Every address, for Google's health checks (the firewall lets only their ranges in).
    everywhere = "0.0.0.0"  # noqa: S104
    assert dict(conf["videobridge.http-servers.private"]) == {"host": everywhere, "port": 8080}
    mapping = conf["ice4j.harvest.mapping"]
    assert mapping["aws.enabled"] is False and mapping["stun.enabled"] is False
    (static,) = mapping["static-mappings"]
    assert (static["local-address"], static["public-address"]) == (INTERNAL, EXTERNAL)


def test_debians_own_hocon_reader_reads_the_same_values(bridges):
    # jitsi-videobridge2's maintainer scripts read jvb.conf with ruby-hocon's `hocon`.
    require(shutil.which("hocon") is not None, "Debian's hocon (package ruby-hocon) is missing")
    bridge = bridges()
    assert bridge.boot().returncode == 0
    conf = str(bridge.root / "etc/jitsi/videobridge/jvb.conf")
    xmpp = "videobridge.apis.xmpp-client.configs.signalling"
    for path, value in (
        (f"{xmpp}.MUC_NICKNAME", "jitsi-bridges-test-x7k2-6f1c0a52"),
        (f"{xmpp}.HOSTNAME", SIGNALLING),
        ("videobridge.http-servers.private.port", "8080"),
    ):
        read = subprocess.run(["hocon", "-i", conf, "get", path], capture_output=True, text=True)
        assert read.stdout.strip().strip('"') == value, read.stderr


def test_two_bridges_and_a_reboot_each_take_a_nickname_of_their_own(bridges):
    first = bridges()
    second = bridges(name="jitsi-bridges-test-q9p4", boot_id="0b7e9d11-0000-4000-8000-000000000000")
    assert first.boot().returncode == 0 and second.boot().returncode == 0
    nick = "videobridge.apis.xmpp-client.configs.signalling.MUC_NICKNAME"
    names = {first.conf()[nick], second.conf()[nick]}
    assert names == {"jitsi-bridges-test-x7k2-6f1c0a52", "jitsi-bridges-test-q9p4-0b7e9d11"}
    # A reboot: a new boot id, a new occupant; the installed bridge is kept, not reinstalled.
    (first.root / "proc/sys/kernel/random/boot_id").write_text(
        "a1b2c3d4-1111-4111-8111-111111111111"
    )
    again = first.boot()
    assert again.returncode == 0, again.stderr
    assert first.conf()[nick] == "jitsi-bridges-test-x7k2-a1b2c3d4"
    assert _commands(again) == [["systemctl", "restart", "jitsi-videobridge2"]]


def test_a_pinned_release_installs_the_bridge_that_release_pins_and_holds_it(bridges):
    done = bridges(version="2.0.10590-1").boot()
    assert done.returncode == 0, done.stderr
    commands = _commands(done)
    assert ["apt-cache", "show", "jitsi-meet=2.0.10590-1"] in commands
    install = [c for c in commands if c[0] == "apt-get" and "install" in c]
    assert install[0][-1] == "jitsi-videobridge2=2.3-240-g3f4c1e7d-1"
    assert ["apt-mark", "hold", "jitsi-videobridge2"] in commands


def test_a_release_the_repository_lacks_stops_the_boot_before_installing(bridges):
    done = bridges(version="2.0.9999-1").boot()
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "jitsi-meet=2.0.9999-1" in done.stderr
    assert not any("install" in c for c in _commands(done))


def _leaks(text: str) -> bool:
    """Whether any 10 characters in a row of the password are in the text (a part is a leak)."""
    return any(PASSWORD[i : i + 10] in text for i in range(len(PASSWORD) - 9))


def test_the_password_is_in_jvb_conf_alone_never_in_output_arguments_or_environment(bridges):
    require(has_strace(), "strace (as root) is needed to see every process's argv and env")
    bridge = bridges()
    done = bridge.boot(trace=True)
    assert done.returncode == 0, done.stderr
    # The trace did see the processes the script started, with their environment.
    assert "systemctl" in done.trace and "JITSI_BRIDGE_ROOT=" in done.trace
    assert not _leaks(done.trace)
    assert not _leaks(done.stdout + done.stderr)
    assert not _leaks("".join(str(call) for call in done.calls))
    holders = [
        p.relative_to(bridge.root).as_posix()
        for p in bridge.root.rglob("*")
        if p.is_file() and _leaks(p.read_bytes().decode(errors="replace"))
    ]
    assert holders == ["etc/jitsi/videobridge/jvb.conf"]
    conf = (bridge.root / holders[0]).stat()
    assert stat.S_IMODE(conf.st_mode) == 0o640
    assert (conf.st_uid, conf.st_gid) == (0, 998)  # root:jitsi, the group the package made


def test_metadata_that_cannot_be_read_stops_the_boot_with_one_line_changing_nothing(bridges):
    bridge = bridges()
    bridge.metadata.stop()
    done = bridge.boot()
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("jitsi-bridge: error: cannot read instance/attributes/jitsi-domain")
    assert done.calls == []
    assert not (bridge.root / "etc/jitsi").exists()


def test_a_denied_secret_stops_the_boot_with_one_line_changing_nothing(bridges):
    bridge = bridges(secret_status=403)
    done = bridge.boot()
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line == (
        f"jitsi-bridge: error: Secret Manager refused {SECRET}; the instance's service account "
        "needs roles/secretmanager.secretAccessor on it (HTTP 403)"
    )
    assert done.calls == [] and not (bridge.root / "etc/jitsi").exists()
    # It asked with the instance's token, for the latest version of exactly that secret.
    ((method, path, headers, _),) = bridge.secrets.requests
    assert (method, path) == ("GET", f"/v1/{SECRET}/versions/latest:access")
    assert headers["Authorization"].startswith("Bearer ")


def test_a_server_that_is_not_the_metadata_server_is_not_believed(bridges):
    bridge = bridges()
    # It answers like the metadata server, without saying it is one (Metadata-Flavor).
    path = "/computeMetadata/v1/instance/attributes/jitsi-domain"
    impostor = StandIn({("GET", path): Served(200, b"evil.example.org")})
    try:
        done = bridge.boot(JITSI_BRIDGE_METADATA=f"{impostor.url}/computeMetadata/v1")
    finally:
        impostor.stop()
    assert done.returncode == 1 and "is not the metadata server" in done.stderr
    assert done.calls == []
