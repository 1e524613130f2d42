"""The rehearsal's figures: per step wall time and SSH sessions, restarts, boot to verified."""

import pathlib

# Reports of the runs that ended, for the test session's summary (tests/conftest.py).
FINISHED: list["Report"] = []


class Report:
    def __init__(self, release: str):
        self.release = release
        self.sections: list[str] = []

    def add(self, title: str, up, boot_to_verified: float | None = None) -> None:
        lines = up.lines(title)
        if boot_to_verified is not None:
            lines.insert(1, f"  boot to verified: {boot_to_verified:.1f} s")
        self.sections.append("\n".join(lines))

    def lines(self) -> list[str]:
        return [f"== rehearsal on Debian {self.release} ==", *self.sections]

    def save(self, folder: pathlib.Path) -> pathlib.Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"rehearsal-{self.release}.txt"
        path.write_text("\n".join(self.lines()) + "\n")
        return path
