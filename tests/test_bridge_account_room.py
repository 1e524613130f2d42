"""The bridges' room after scripts/bridge_account: only auth.DOMAIN accounts may join it.

Proven against tests/prosody_plugins/mod_muc_filter_access.lua, a stand-in of our own that
implements the option the tool sets (muc_filter_whitelist); jitsi-meet's own module is not here.
What is proven about the real thing: the tool's config loads in Prosody and enables a module of
that name with that option on internal.auth.DOMAIN; and, without it, a guest does get in.
"""

import asyncio
import contextlib
from xml.etree import ElementTree

import pytest
import slixmpp
from moderator_harness import GUEST, SITE_FILE, VERSIONS
from prosody_server import ProsodyServer, prosody13_root
from test_bridge_account import AUTH, DOMAIN, JVB, NEW, install, tool

ROOM = f"JvbBrewery@internal.{AUTH}"
NICK = "probe"


class _Join(slixmpp.ClientXMPP):
    """Logs in (anonymously without a password), then tries to join ROOM."""

    def __init__(self, jid: str, password: str, loop):
        mechanisms = {"unencrypted_scram": True, "use_mech": "SCRAM-SHA-1" if password else None}
        super().__init__(jid, password, plugin_config={"feature_mechanisms": mechanisms}, loop=loop)
        self.enable_direct_tls = self.enable_starttls = False
        self.enable_plaintext = True
        self.outcome = loop.create_future()
        self.add_event_handler("session_start", self._join)
        self.add_event_handler("failed_all_auth", lambda _: self._settle(None))

    def _settle(self, value) -> None:
        if not self.outcome.done():
            self.outcome.set_result(value)

    async def _join(self, _) -> None:
        # A plain MUC join: our presence to ROOM/NICK; the room answers with our own presence
        # (joined) or an error presence (refused), and muc_filter_access drops it unanswered.
        # So a question to the room follows it: the server handles our stanzas in order, and
        # once that answer is in, no presence of ours means not joined. Room names are
        # case-insensitive.
        self.add_event_handler("presence", self._answer)
        join = self.make_presence(pto=f"{ROOM}/{NICK}")
        join.append(ElementTree.Element("{http://jabber.org/protocol/muc}x"))
        join.send()
        question = self.make_iq_get(queryxmlns="http://jabber.org/protocol/disco#info", ito=ROOM)
        with contextlib.suppress(slixmpp.exceptions.IqError):
            await question.send(timeout=10)
        self._settle(False)

    def _answer(self, presence) -> None:
        if presence["from"].bare.lower() == ROOM.lower() and presence["from"].resource == NICK:
            self._settle(presence["type"] != "error")


def joins(port: int, jid: str, password: str = "") -> bool:
    """True: joined; False: the room refused. A refused login or no answer fails the test."""
    loop = asyncio.new_event_loop()
    client = _Join(jid, password, loop)
    try:
        client.connect("127.0.0.1", port)
        result = loop.run_until_complete(asyncio.wait_for(client.outcome, 15))
        assert result is not None, f"{jid} could not log in"
        return result
    finally:
        client.abort()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_guest_joins_the_stock_room_but_not_the_filtered_one_while_the_bridge_does(
    tmp_path, version
):
    stock = install(tmp_path, version)
    try:
        # The hole the filter closes: on the secured site as installed, a guest gets in.
        assert joins(stock.c2s_port, GUEST)
        assert tool(stock).returncode == 0
        filtered = (stock.jitsi / SITE_FILE).read_text()
    finally:
        stock.stop()
    server = ProsodyServer(filtered, root=prosody13_root() if version == "13" else None).start()
    try:
        for user, host, password in (("jvb", AUTH, NEW), ("alice", DOMAIN, "alice-pass")):
            made = server.prosodyctl("register", user, host, password)
            assert made.returncode == 0, made.stderr
        assert not joins(server.c2s_port, GUEST)
        # A moderator's account is no bridge either: only auth.DOMAIN is listed.
        assert not joins(server.c2s_port, f"alice@{DOMAIN}", "alice-pass")
        assert joins(server.c2s_port, JVB, NEW)
        assert "Filtering unauthorized presence" in server.log()
    finally:
        server.stop()
