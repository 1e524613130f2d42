"""Suite-wide settings and hooks."""

import sys
import urllib.parse

import pytest
from rehearsal.report import FINISHED
from websocket_standin import StandIn

# Tests import the VM scripts in-process: no byte code may land in scripts/, which the
# deployment ships whole (the program warns about it).
sys.dont_write_bytecode = True


def pytest_terminal_summary(terminalreporter):
    """The rehearsal's figures, printed at the end of every run."""
    for report in FINISHED:
        terminalreporter.section(f"rehearsal on Debian {report.release}")
        for line in report.lines()[1:]:
            terminalreporter.write_line(line)


@pytest.fixture
def serve(request):
    """serve(script) -> the URL of a WebSocket stand-in (tests/websocket_standin.py) running
    `script`; its errors fail the test."""

    def start(script) -> urllib.parse.SplitResult:
        standin = StandIn(script).start()

        def finish():
            standin.stop()
            assert not standin.errors, standin.errors

        request.addfinalizer(finish)
        return urllib.parse.urlsplit(f"ws://127.0.0.1:{standin.port}/xmpp-websocket")

    return start
