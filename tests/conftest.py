"""Suite-wide hooks: the rehearsal's figures are printed at the end of every run."""

from rehearsal.report import FINISHED


def pytest_terminal_summary(terminalreporter):
    for report in FINISHED:
        terminalreporter.section(f"rehearsal on Debian {report.release}")
        for line in report.lines()[1:]:
            terminalreporter.write_line(line)
