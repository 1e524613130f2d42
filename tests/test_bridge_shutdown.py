"""The bridge's leave (scripts/bridge/shutdown.py), run for real against a stand-in bridge.

The stand-in answers the bridge's REST calls (POST /colibri/shutdown, GET /colibri/stats) as a
bridge with participants would; the metadata stand-in gives a short budget (4 s here instead of
80 s), so every case runs in seconds. What must hold: a drain first, the hand-over only when
participants remain, and never a second past the budget, which is all Compute Engine gives.
"""

import importlib.util
import json
import time

import pytest
from bridge_harness import Answer, StandIn, metadata_routes, new_root, run_script
from support import SCRIPTS

BUDGET = 4.0
# Past the budget: the interpreter's start, and one last HTTP call's timeout (2 s).
SLACK = 2.5


class Bridge:
    """A bridge's REST API: `participants` until the hand-over, `after` once it was asked."""

    def __init__(self, participants: int, after: int):
        self.participants, self.after = participants, after
        self.asked = []

        def shutdown(_headers, body):
            graceful = json.loads(body)["graceful-shutdown"]
            self.asked.append(graceful)
            if graceful is False:
                self.participants = self.after
            return Answer(200, b"")

        def stats(_headers, _body):
            return Answer(200, json.dumps({"participants": self.participants}).encode())

        self.rest = StandIn(
            {("POST", "/colibri/shutdown"): shutdown, ("GET", "/colibri/stats"): stats}
        )


@pytest.fixture
def leave(tmp_path):
    servers = []

    def run(bridge: Bridge | None, budget: str = str(BUDGET)):
        metadata = StandIn(metadata_routes({"jitsi-shutdown-seconds": budget}, {}))
        servers.append(metadata)
        # Nothing listens on a stopped stand-in's port: a bridge that is already down.
        rest = bridge.rest if bridge else StandIn({})
        servers.append(rest)
        if bridge is None:
            rest.stop()
        env = {
            "JITSI_BRIDGE_METADATA": f"{metadata.url}/computeMetadata/v1",
            "JITSI_BRIDGE_REST": rest.url,
        }
        root = new_root(tmp_path / f"root{len(servers)}", "00000000-0000-4000-8000-000000000000")
        start = time.monotonic()
        done = run_script("shutdown.py", root, env, tmp_path)
        return done, time.monotonic() - start

    yield run
    for server in servers:
        server.stop()


def test_an_empty_bridge_drains_and_leaves_at_once(leave):
    bridge = Bridge(participants=0, after=0)
    done, seconds = leave(bridge)
    assert done.returncode == 0 and bridge.asked == [True]
    assert seconds < 1.5 and "leaves by itself" in done.stdout


def test_participants_still_there_at_the_drains_end_are_handed_over_in_time(leave):
    bridge = Bridge(participants=3, after=0)
    done, seconds = leave(bridge)
    assert done.returncode == 0
    # First no new conference, then (half the budget later) jicofo moves the rest.
    assert bridge.asked == [True, False]
    assert BUDGET / 2 - 0.5 < seconds < BUDGET + SLACK
    assert "all moved" in done.stdout


def test_a_bridge_that_never_empties_is_left_when_the_budget_ends(leave):
    bridge = Bridge(participants=3, after=3)
    done, seconds = leave(bridge)
    assert done.returncode == 0 and bridge.asked == [True, False]
    assert BUDGET - 0.5 < seconds < BUDGET + SLACK
    assert "time is up" in done.stdout


def test_a_bridge_already_down_ends_the_script_at_once(leave):
    done, seconds = leave(None)
    assert done.returncode == 0 and seconds < 3
    assert "nothing to drain" in done.stdout


@pytest.mark.parametrize("budget", ["forever", "-5", "3600"])
def test_a_budget_past_what_compute_engine_gives_falls_back_to_spots(budget, monkeypatch):
    spec = importlib.util.spec_from_file_location("bridge_shutdown", SCRIPTS / "bridge/shutdown.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "call", lambda *a, **k: budget.encode())
    assert module.budget() == 25.0
    monkeypatch.setattr(module, "call", lambda *a, **k: b"80")
    assert module.budget() == 80.0
