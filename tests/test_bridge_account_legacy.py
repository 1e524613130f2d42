"""scripts/bridge_account on a node installed in 2020: the local bridge's XMPP login lives in
/etc/jitsi/videobridge/sip-communicator.properties (read before jvb.conf), written as that
time's bridge package wrote it. The file is our own text in that shape, not an upstream copy."""

import sys

import pytest
from moderator_harness import DOMAIN
from support import SCRIPTS
from test_bridge_account import (
    AUTH,
    JVB,
    JVB_CONF,
    NEW,
    OLD,
    install,
    password_login,
    tool,
    touched,
)

sys.path.insert(0, str(SCRIPTS))
from bridge_account import legacy  # noqa: E402
from bridge_account.errors import Refusal  # noqa: E402

LEGACY = "etc/jitsi/videobridge/sip-communicator.properties"
LOGIN = ("jvb", AUTH)
USER = "org.jitsi.videobridge.xmpp.user"
OLD_FILE = f"""# written by the 2020 bridge package
org.ice4j.ice.harvest.DISABLE_AWS_HARVESTER=true
org.ice4j.ice.harvest.STUN_MAPPING_HARVESTER_ADDRESSES=stun.example.net:443
org.jitsi.videobridge.ENABLE_STATISTICS=true
{USER}.shard.HOSTNAME=localhost
{USER}.shard.DOMAIN={AUTH}
{USER}.shard.USERNAME=jvb
{USER}.shard.PASSWORD={OLD}
{USER}.shard.MUC_JIDS=JvbBrewery@internal.{AUTH}
{USER}.shard.MUC_NICKNAME=0b6c0f7e-5a3c-4c55-9d0e-2b1f0c1d2e3f
"""
# A jvb.conf of that time: no XMPP client in it.
OLD_JVB_CONF = "videobridge {\n    http-servers {\n        public {\n            port = 9090\n"
OLD_JVB_CONF += "        }\n    }\n}\n"


def test_only_the_password_line_of_the_jvb_login_changes():
    other = f"{USER}.other.DOMAIN=auth.elsewhere.example\n{USER}.other.USERNAME=jvb\n"
    other += f"{USER}.other.PASSWORD=Keep-this-one\n"
    text = OLD_FILE + other
    new = legacy.with_password(text, LOGIN, NEW)
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert changed == [(f"{USER}.shard.PASSWORD={OLD}", f"{USER}.shard.PASSWORD={NEW}")]
    assert legacy.with_password(new, LOGIN, NEW) == new
    assert legacy.logs_in(text, LOGIN) and not legacy.logs_in(other, LOGIN)
    assert not legacy.logs_in(text, ("jvb", f"auth.other.{DOMAIN}"))


def test_a_continued_line_and_a_backslash_are_written_as_java_reads_them():
    text = OLD_FILE.replace(f"PASSWORD={OLD}", "PASSWORD=Old\\\n    Continued")
    new = legacy.with_password(text, LOGIN, "a\\b" + NEW)
    assert f"{USER}.shard.PASSWORD=a\\\\b{NEW}\n{USER}.shard.MUC_JIDS" in new
    assert "Continued" not in new


def test_a_login_without_a_password_line_is_refused():
    text = OLD_FILE.replace(f"{USER}.shard.PASSWORD={OLD}\n", "")
    with pytest.raises(Refusal, match="without a PASSWORD line; add it by hand"):
        legacy.with_password(text, LOGIN, NEW)


@pytest.mark.parametrize("jvb_conf", ["legacy only", "both"])
def test_a_2020_node_gets_the_new_password_where_its_bridge_reads_it(tmp_path, jvb_conf):
    server = install(tmp_path, "0.12")
    try:
        conf, props = server.jitsi / JVB_CONF, server.jitsi / LEGACY
        if jvb_conf == "legacy only":
            conf.write_text(OLD_JVB_CONF)
        props.write_text(OLD_FILE)
        props.chmod(0o640)
        done = tool(server)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[-1] == (
            f"Changed /{LEGACY}: the local bridge's legacy PASSWORD, read before jvb.conf"
            " (previous version in sip-communicator.properties.bak)"
        )
        assert props.read_text() == OLD_FILE.replace(f"PASSWORD={OLD}", f"PASSWORD={NEW}")
        assert props.stat().st_mode & 0o777 == 0o640
        assert (props.parent / "sip-communicator.properties.bak").read_text() == OLD_FILE
        if jvb_conf == "legacy only":
            assert conf.read_text() == OLD_JVB_CONF and lines[2].startswith(f"Kept /{JVB_CONF}")
        else:
            assert NEW in conf.read_text() and lines[2].startswith(f"Changed /{JVB_CONF}")
        assert password_login(server.c2s_port, JVB, NEW)
        before = touched(server)
        again = tool(server)
        assert [line.split(" ")[0] for line in again.stdout.splitlines()] == ["Kept"] * 4
        assert touched(server) == before
        assert NEW not in done.stdout + done.stderr + again.stdout + again.stderr
    finally:
        server.stop()


def test_neither_file_with_the_login_is_not_ready(tmp_path):
    server = install(tmp_path, "0.12")
    try:
        (server.jitsi / JVB_CONF).write_text(OLD_JVB_CONF)
        (server.jitsi / LEGACY).write_text(OLD_FILE.replace(AUTH, f"auth.other.{DOMAIN}"))
        done = tool(server)
        assert done.returncode == 3, done.stdout + done.stderr
        assert "is the local bridge installed for this domain?" in done.stderr
        assert (server.jitsi / JVB_CONF).read_text() == OLD_JVB_CONF
    finally:
        server.stop()
