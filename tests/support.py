"""Paths and rules shared by every test tier."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
# Upstream Jitsi files (Apache-2.0) live beside the repository, never inside it.
UPSTREAM = ROOT.parent / "shared" / "fixtures" / "jitsi-upstream"
IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Skip a test whose prerequisite is missing, except in CI, where every tier must run."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this check may not be skipped)")
    pytest.skip(reason)


def upstream_version_names() -> list[str]:
    """Names to parametrize over: the upstream versions, oldest first.

    Without ../shared it returns one placeholder, so the test still runs and `upstream_dir`
    fails it in CI (an empty parameter set would be skipped silently).
    """
    if not UPSTREAM.is_dir():
        return ["missing-shared-fixtures"]
    return sorted(p.name for p in UPSTREAM.iterdir() if p.is_dir())


def upstream_dir(name: str) -> pathlib.Path:
    """The folder of one upstream version; fails in CI, skips elsewhere, when it is missing."""
    require(UPSTREAM.is_dir(), f"upstream fixtures not found at {UPSTREAM}")
    return UPSTREAM / name
