"""Suite-wide settings and hooks."""

import sys

from rehearsal.report import FINISHED

# Tests import the VM scripts in-process: no byte code may land in scripts/, which the
# deployment ships whole (the program warns about it).
sys.dont_write_bytecode = True


def pytest_terminal_summary(terminalreporter):
    """The rehearsal's figures, printed at the end of every run."""
    for report in FINISHED:
        terminalreporter.section(f"rehearsal on Debian {report.release}")
        for line in report.lines()[1:]:
            terminalreporter.write_line(line)
