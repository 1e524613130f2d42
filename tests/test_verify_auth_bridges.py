"""Check 8 of scripts/verify_auth (--bridges): a guest tries to join the bridges' room of a real
Prosody (0.12 and 13), and jicofo's count is read from a stand-in of its REST API.

The room's component is set up as Jitsi's site file sets internal.auth.DOMAIN; the filter is
tests/prosody_plugins/mod_muc_filter_access.lua, which drops a refused join without an answer,
as jitsi-meet's module does.
"""

import time

import pytest
from focus_component import FocusComponent
from jicofo_stats import JicofoStats
from prosody_server import ProsodyServer
from verify_auth_harness import (
    COMPONENT_SECRET,
    DOMAIN,
    GUEST,
    Lab,
    closed_port,
    direct,
    probe,
    shown_while_running,
    site,
)

INTERNAL = f"internal.auth.{DOMAIN}"
ROOM = f"jvbbrewery@{INTERNAL}"
GUEST_LINE = f"8 a guest cannot join the bridges' room {ROOM} over"


def bridges_site(*component_lines: str, external=False, guest_auth="anonymous") -> str:
    """The probe's test site plus auth.DOMAIN and the bridges' MUC, as Jitsi's site file has
    them; `external`: the MUC's name is taken by a component that connects (and says nothing)."""
    text = site(guest_auth=guest_auth)
    text += f'VirtualHost "auth.{DOMAIN}"\n    authentication = "internal_hashed"\n'
    if external:
        return text + f'Component "{INTERNAL}"\n    component_secret = "{COMPONENT_SECRET}"\n'
    text += f'Component "{INTERNAL}" "muc"\n    storage = "memory"\n'
    text += "    muc_room_locking = false\n    muc_room_default_public_jids = true\n"
    return text + "".join(f"    {line}\n" for line in component_lines)


STATS_OF_2 = b'{"bridge_selector": {"operational_bridge_count": 2}}'
FILTERED = ('modules_enabled = { "muc_filter_access" }', f'muc_filter_whitelist = "auth.{DOMAIN}"')


@pytest.fixture
def lab(request) -> Lab:
    return Lab(request)


@pytest.fixture
def jicofo(request):
    """jicofo's REST API, counting 2 operational bridges unless the test says otherwise."""
    stats = JicofoStats(operational=2).start()
    request.addfinalizer(stats.stop)
    return stats


def check_8(server: ProsodyServer, stats: JicofoStats, *more: str, transports="bosh"):
    options = [*direct(server, transports), "--bridges", "2", "--jicofo-url", stats.url, *more]
    return probe("", *options)


def line(result, status: str, text: str) -> str:
    found = [each for each in result.stdout.splitlines() if each.startswith(f"{status} {text}")]
    assert len(found) == 1, result.stdout + result.stderr
    return found[0]


@pytest.mark.parametrize("version", ["0.12", "13"])
def test_a_guest_who_gets_into_the_stock_room_fails_check_8(lab, jicofo, version):
    server = lab.prosody(bridges_site(), version, accounts=False)
    result = check_8(server, jicofo)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = line(result, "FAIL", f"{GUEST_LINE} bosh")
    assert "a guest joined it: jicofo would take it for a bridge" in failed
    assert "muc_filter_access" in failed
    # The count is judged on its own: jicofo's 2 are enough.
    assert "2 operational" in line(result, "PASS", "8 jicofo counts at least 2 operational bridges")


@pytest.mark.parametrize("version", ["0.12", "13"])
def test_the_filtered_room_with_enough_bridges_passes_check_8(lab, jicofo, version):
    server = lab.prosody(bridges_site(*FILTERED), version, accounts=False)
    result = check_8(server, jicofo, transports="websocket,bosh")
    assert result.returncode == 0, result.stdout + result.stderr
    # Once, over the first transport: the room is the server's, not the transport's.
    assert line(result, "PASS", f"{GUEST_LINE} websocket").endswith(": its join was dropped")
    assert f"{GUEST_LINE} bosh" not in result.stdout
    counted = line(result, "PASS", "8 jicofo counts at least 2 operational bridges")
    assert counted.endswith(f"operational bridges ({jicofo.url}): 2 operational")
    assert "Filtering unauthorized presence" in server.log()


def test_a_room_that_refuses_the_join_with_an_error_passes(lab, jicofo):
    # No filter, but only admins may create rooms: the guest's join gets an error presence.
    server = lab.prosody(bridges_site("restrict_room_creation = true"), accounts=False)
    result = check_8(server, jicofo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert line(result, "PASS", GUEST_LINE).endswith(
        ": refused (not-allowed: Room creation is restricted)"
    )


def test_a_room_that_never_answers_fails_check_8_within_the_timeout(lab, jicofo):
    server = lab.prosody(bridges_site(external=True), accounts=False)
    silent = FocusComponent(server.component_port, INTERNAL, COMPONENT_SECRET, DOMAIN).start()
    try:
        started = time.monotonic()
        result = check_8(server, jicofo, "--timeout", "2")
        took = time.monotonic() - started
    finally:
        silent.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    failed = line(result, "FAIL", GUEST_LINE)
    assert "the room did not answer within 2 s" in failed
    assert took < 15, took


def test_a_guest_who_cannot_log_in_leaves_the_room_unproven(lab, jicofo):
    # The stock room (no filter), which a guest would join: a guest host refusing anonymous
    # logins keeps the guest out too, but that proves nothing of the room, so it is no PASS.
    server = lab.prosody(bridges_site(guest_auth="internal_hashed"), accounts=False)
    result = check_8(server, jicofo)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = line(result, "FAIL", f"{GUEST_LINE} bosh")
    assert failed.endswith(f": anonymous login to {GUEST} failed (see check 2)"), failed


def test_an_unusable_first_way_in_fails_the_rooms_check_saying_so(lab, jicofo, request):
    # The room is tried over the first transport only: if that one is unusable, the check must
    # say so, not pass for want of a guest.
    server = lab.prosody(bridges_site(*FILTERED), accounts=False)
    refusing = f"ws://127.0.0.1:{closed_port(request)}/xmpp-websocket"
    options = ["--bosh-url", f"http://127.0.0.1:{server.http_port}/http-bind"]
    options += ["--websocket-url", refusing, "--transports", "websocket,bosh"]
    result = probe("", *options, "--bridges", "2", "--jicofo-url", jicofo.url)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = line(result, "FAIL", f"{GUEST_LINE} websocket")
    assert f": {refusing} is unusable: cannot connect" in failed, failed
    assert "2 operational" in line(result, "PASS", "8 jicofo counts at least 2 operational bridges")


def test_too_few_bridges_fail_and_bridges_still_booting_are_waited_for(lab, jicofo):
    server = lab.prosody(bridges_site(*FILTERED), accounts=False)
    jicofo.operational = 1
    result = check_8(server, jicofo)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = line(result, "FAIL", "8 jicofo counts at least 2 operational bridges")
    assert failed.endswith(
        ": 1 operational: are the bridges up, and can they reach the VM's Prosody (5222)"
        " with the password and certificate they were given?"
    )
    assert jicofo.asked == 1
    # A second bridge joins by jicofo's third answer: --bridges-wait keeps asking, one question
    # every 5 s, and stops once it is there.
    jicofo.asked, jicofo.later = 0, (3, 2)
    started = time.monotonic()
    result = check_8(server, jicofo, "--bridges-wait", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    assert 10 <= time.monotonic() - started < 40
    assert jicofo.asked == 3
    # One that never joins: FAIL once the wait is spent, saying how long it waited.
    jicofo.later = None
    started = time.monotonic()
    result = check_8(server, jicofo, "--bridges-wait", "8")
    assert result.returncode == 1
    assert "1 operational within --bridges-wait 8 s" in line(result, "FAIL", "8 jicofo counts")
    assert 3 <= time.monotonic() - started < 25


@pytest.mark.parametrize(
    ("stats", "says"),
    [
        (JicofoStats(status=500), "HTTP 500"),
        (JicofoStats(operational=None), "no bridge_selector.operational_bridge_count"),
        (JicofoStats(body=b'{"bridge_selector": {"operational_bridge_count": "2"}}'), "no bridge"),
        (JicofoStats(body=b'{"bridge_selector": {"operational_bridge_count": true}}'), "no bridge"),
        (JicofoStats(body=b"<html>not jicofo</html>"), "Expecting value"),
        (JicofoStats(body=b"[2]"), "no bridge"),
        (JicofoStats(body=b'{"bridge_selector": [2]}'), "no bridge"),
        # One byte over 1 MB is refused whole, never read cut short.
        (JicofoStats(body=STATS_OF_2.ljust(1_000_001)), "larger than 1,000,000 bytes"),
        (None, "cannot connect"),
    ],
)
def test_unreadable_jicofo_stats_fail_check_8(lab, request, stats, says):
    server = lab.prosody(bridges_site(*FILTERED), accounts=False)
    if stats is None:
        url = f"http://127.0.0.1:{closed_port(request)}"
    else:
        request.addfinalizer(stats.stop)
        url = stats.start().url
    result = probe("", *direct(server, "bosh"), "--bridges", "2", "--jicofo-url", url)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = line(result, "FAIL", "8 jicofo counts at least 2 operational bridges")
    assert "jicofo's /stats is unreadable (" in failed and says in failed
    assert failed.endswith("is jicofo running?")


def test_jicofo_stats_of_exactly_1_mb_are_read(lab, request):
    server = lab.prosody(bridges_site(*FILTERED), accounts=False)
    stats = JicofoStats(body=STATS_OF_2.ljust(1_000_000))
    request.addfinalizer(stats.stop)
    options = [*direct(server, "bosh"), "--bridges", "2", "--jicofo-url", stats.start().url]
    result = probe("", *options)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 operational" in line(result, "PASS", "8 jicofo counts at least 2 operational bridges")


def test_without_bridges_there_is_no_check_8(lab, jicofo):
    server = lab.prosody(bridges_site(), accounts=False)
    result = probe("", *direct(server, "bosh"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 8 " not in result.stdout and jicofo.asked == 0
    assert GUEST in result.stdout


def test_each_result_is_shown_as_it_comes_so_a_proof_cut_short_still_shows_them(lab, jicofo):
    # Pulumi's timeout or a user's Ctrl-C may end the proof while it waits for bridges: what it
    # found by then must already be out, not in a buffer that dies with it.
    server = lab.prosody(bridges_site(*FILTERED), accounts=False)
    jicofo.operational = 1
    options = direct(server, "bosh") + ["--bridges", "2", "--jicofo-url", jicofo.url]
    options += ["--guest-domain", GUEST, "--bridges-wait", "120"]
    shown, running = shown_while_running(options, b"PASS 1 ", within=30)
    assert running, "the probe ended before it was cut short"
    assert b"PASS 1 " in shown, shown
