"""Wall time of scripts/secure_domain.py on each upstream Jitsi version (target: < 0.3 s a run).

    .venv/bin/python benchmarks/secure_domain.py [--repeat N]

Each sample copies the version into a fresh temporary root, then times, as separate processes:
the first run (edits, validates with Prosody's loader and the hocon tool, writes), a second run
(nothing to change) and a --dry-run on a fresh copy. Prints the median and worst of each.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from secure_domain_readers import TOOL, copy_upstream  # noqa: E402
from support import UPSTREAM, upstream_version_names  # noqa: E402

TARGET_SECONDS = 0.3


def timed(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(TOOL), "--domain", "meet.example.com", "--root", str(root), *args],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return time.perf_counter() - start


def sample(version: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        first = copy_upstream(UPSTREAM / version, Path(tmp) / "a")
        dry = copy_upstream(UPSTREAM / version, Path(tmp) / "b")
        return {
            "first run": timed(first),
            "second run": timed(first),
            "dry run": timed(dry, "--dry-run"),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    if not UPSTREAM.is_dir():
        print(f"upstream fixtures not found at {UPSTREAM}", file=sys.stderr)
        return 1
    over = False
    print(f"{'version':26} {'kind':11} {'median s':>9} {'worst s':>8}")
    for version in upstream_version_names():
        samples = [sample(version) for _ in range(repeat)]
        for kind in samples[0]:
            times = [s[kind] for s in samples]
            over |= statistics.median(times) > TARGET_SECONDS
            print(f"{version:26} {kind:11} {statistics.median(times):9.3f} {max(times):8.3f}")
    print(f"target: median under {TARGET_SECONDS} s per run: {'MISSED' if over else 'met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
