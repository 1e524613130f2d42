#!/usr/bin/env python3
"""A pooled videobridge's leave: Compute Engine runs it as the `shutdown-script`, as root, when
the VM stops or is deleted (the autoscaler's scale-in, a new template, a Spot preemption).

Compute Engine gives a shutdown script about 90 s, 30 s on a Spot preemption, and then powers
the VM off whatever runs. The template says how much of that to use (metadata
`jitsi-shutdown-seconds`). Within it, two moves, each the bridge's own REST call:
1. drain, `{"graceful-shutdown": true}`: jicofo sends no new conference here, and a meeting
   that ends meanwhile ends undisturbed. An empty bridge leaves by itself.
2. hand over, at the end of the drain with participants still here, `{"graceful-shutdown":
   false}`: the bridge announces it is shutting down and jicofo moves each remaining conference
   to another bridge. The last seconds keep this VM forwarding media while they move.
Python 3 standard library only.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

METADATA = os.environ.get(
    "JITSI_BRIDGE_METADATA", "http://metadata.google.internal/computeMetadata/v1"
)
# The bridge's private HTTP server (jvb.conf: videobridge.http-servers.private).
REST = os.environ.get("JITSI_BRIDGE_REST", "http://127.0.0.1:8080")
# What a Spot preemption leaves, less a margin: used when the metadata cannot say.
SHORTEST = 25.0
# Seconds kept at the end for jicofo to move the conferences (a re-invite takes a few).
HANDOVER = 20.0
# No proxy from the environment: both servers are local to the VM.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, body: dict | None = None, headers: dict | None = None) -> bytes | None:
    """The answer's body, or None when nothing answers (the bridge is already down)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
    # Only http: both URLs are fixed, or the tests' stand-ins.
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    try:
        with _OPENER.open(request, timeout=2) as answer:
            return answer.read()
    except (urllib.error.URLError, OSError):
        return None


def budget() -> float:
    text = call(
        f"{METADATA}/instance/attributes/jitsi-shutdown-seconds",
        None,
        {"Metadata-Flavor": "Google"},
    )
    try:
        seconds = float(text or "")
    except ValueError:
        return SHORTEST
    # Never past the 90 s Compute Engine allows at most.
    return seconds if 0 < seconds <= 85 else SHORTEST


def participants() -> int | None:
    """How many participants the bridge serves, or None when it cannot say."""
    try:
        return int(json.loads(call(f"{REST}/colibri/stats") or b"null")["participants"])
    except (ValueError, KeyError, TypeError):
        return None


def wait_empty(until: float) -> bool:
    """True as soon as the bridge serves nobody; False when `until` comes first."""
    while time.monotonic() < until:
        if participants() == 0:
            return True
        time.sleep(max(0.0, min(1.0, until - time.monotonic())))
    return False


def main() -> int:
    start = time.monotonic()
    end = start + budget()
    handover = min(HANDOVER, (end - start) / 2)
    if call(f"{REST}/colibri/shutdown", {"graceful-shutdown": True}) is None:
        print("jitsi-bridge: the bridge refuses or does not answer; nothing to drain")
        return 0
    print("jitsi-bridge: draining: no new conference comes here")
    if wait_empty(end - handover):
        print("jitsi-bridge: empty; the bridge leaves by itself")
        return 0
    call(f"{REST}/colibri/shutdown", {"graceful-shutdown": False})
    print("jitsi-bridge: shutting down: jicofo moves the remaining conferences")
    moved = wait_empty(end)
    print(
        f"jitsi-bridge: {'all moved' if moved else 'time is up'} after "
        f"{time.monotonic() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
