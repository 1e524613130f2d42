"""File handling for secure_domain: finding files under a root, diffs, safe writes."""

import difflib
import os
import pathlib
import tempfile

# A backup name without a timestamp, so a rerun that changes nothing writes nothing.
BACKUP_SUFFIX = ".bak"


class Refusal(Exception):
    """A reason to stop before changing anything; its text is the one-line error shown."""


def line_no(text: str, offset: int) -> int:
    """The 1-based line of `offset` in `text`, for pointing refusals at the right place."""
    return text.count("\n", 0, offset) + 1


def under_root(root: pathlib.Path, path: str) -> pathlib.Path:
    """`path` (absolute, as on the server) inside `root`."""
    return root / path.lstrip("/")


def resolve_in_root(root: pathlib.Path, path: pathlib.Path) -> pathlib.Path:
    """Follow symlinks the way the server would, but inside `root`.

    Jitsi's links are absolute (conf.d/X -> /etc/prosody/conf.avail/X); followed literally they
    would leave a test root, so absolute targets are re-read relative to `root`.
    """
    for _ in range(20):
        if not path.is_symlink():
            return path
        target = os.readlink(path)
        path = under_root(root, target) if target.startswith("/") else path.parent / target
    raise Refusal(f"{path}: too many levels of symbolic links; point the link at a real file")


def read_text(path: pathlib.Path) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise Refusal(f"{path} is not UTF-8 text ({e.reason}); fix its encoding") from e


def unified_diff(shown_name: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{shown_name}",
            tofile=f"b/{shown_name}",
        )
    )


def _write_like(path: pathlib.Path, text: str, like: os.stat_result) -> None:
    """Write `text` to `path` atomically, with the owner and mode of `like`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, like.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(tmp, like.st_uid, like.st_gid)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def replace_with_backup(path: pathlib.Path, old: str, new: str) -> pathlib.Path:
    """Keep `old` in PATH.bak, then atomically replace PATH with `new`; returns the backup."""
    st = path.stat()
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    _write_like(backup, old, st)
    _write_like(path, new, st)
    return backup
