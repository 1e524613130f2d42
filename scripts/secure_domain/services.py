"""Restarting what reads the changed files, on the real server only (--root /)."""

import shutil
import socket
import subprocess
import time

from .files import Refusal

# Prosody must be back before jicofo and the bridge start: both log in to it at startup.
# (secure_domain restarts prosody and jicofo; bridge_account prosody and the bridge.)
RESTART_ORDER = ("prosody", "jicofo", "jitsi-videobridge2")
PROSODY_C2S = ("127.0.0.1", 5222)
WAIT_SECONDS = 30.0


def _wait_for_prosody(deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(PROSODY_C2S, timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise Refusal(
                    f"prosody did not answer on port {PROSODY_C2S[1]} within {WAIT_SECONDS:.0f} s "
                    "of its restart; see `journalctl -u prosody`"
                ) from None
            time.sleep(0.2)


def restart(services: set[str], say) -> None:
    """Restart `services` in dependency order, waiting until Prosody accepts connections."""
    if not services:
        return
    if not shutil.which("systemctl"):
        raise Refusal(
            f"files changed but systemctl is missing: restart {', '.join(services)} by hand"
        )
    for name in RESTART_ORDER:
        if name not in services:
            continue
        result = subprocess.run(
            ["systemctl", "restart", name], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise Refusal(f"systemctl restart {name} failed: {detail}")
        if name == "prosody":
            _wait_for_prosody(time.monotonic() + WAIT_SECONDS)
        say(f"restarted {name}")
