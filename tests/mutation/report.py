"""The figures of one tool's mutation run, from cosmic-ray's session files (tests/mutation.sh).

    python report.py SESSION... --equivalent tests/mutation/equivalent.md --tool TOOL
    python report.py --shard K N SESSION
    python report.py --sample N SEED SESSION
    python report.py --reset-survivors SESSION... --equivalent tests/mutation/equivalent.md

A run is split into N shards, one session file each (every shard a copy of the same session,
testing every N-th mutant in its own copy of the checkout), so that N mutants are tested at
once. `--shard K N` marks the mutants of the other shards as done elsewhere. `--sample N SEED`
keeps N mutants drawn at random (seeded: the same draw for the same code) and marks the others
as not drawn, for a tool whose tests are too slow to try every mutant.

The report merges the shards' results, prints how many mutants were tested, killed and
survived, the kill rate, and each survivor's diff, marking those that
tests/mutation/equivalent.md judges equivalent (no test can tell them from the original). A
survivor is recognised there by its file and its changed lines, not its line number, so the
list stays right while other lines of the file move; an entry that also gives unchanged lines
around the change (` `-prefixed) matches only where those lines are, for a change that is
equivalent in one place and not in another. `--reset-survivors` forgets the results of
the survivors not judged equivalent, so that `cosmic-ray exec` tests them again.
"""

import argparse
import math
import pathlib
import random
import re
import sqlite3

# In equivalent.md, each mutant is a fenced diff: `--- a/FILE`, then its `-` and `+` lines.
_BLOCK = re.compile(r"```diff\n(.*?)```", re.S)
# What a shard writes as the result of a mutant another shard tests.
OTHER_SHARD = "tested by another shard"
# What a sampled run writes as the result of a mutant it leaves out.
NOT_DRAWN = "not drawn for the sample"


def _key(diff: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(file, removed lines, added lines), stripped: what identifies a mutant across runs."""
    lines = diff.splitlines()
    path = next(line[len("--- a/") :] for line in lines if line.startswith("--- a/"))
    body = [line for line in lines if not line.startswith(("---", "+++"))]
    removed = tuple(line[1:].strip() for line in body if line.startswith("-"))
    added = tuple(line[1:].strip() for line in body if line.startswith("+"))
    return path, removed, added


def _context(diff: str) -> frozenset[str]:
    """The unchanged lines a diff shows around its change, stripped."""
    return frozenset(line[1:].strip() for line in diff.splitlines() if line.startswith(" "))


def equivalents(listing: pathlib.Path) -> dict:
    """{key: [context, ...]}: an entry that gives context lines matches only where they are."""
    known: dict = {}
    for block in _BLOCK.findall(listing.read_text()):
        known.setdefault(_key(block), []).append(_context(block))
    return known


def is_equivalent(diff: str, known: dict) -> bool:
    return any(context <= _context(diff) for context in known.get(_key(diff), []))


def results(sessions: list[pathlib.Path]) -> list[tuple[str, str, str]]:
    """(worker outcome, test outcome, diff) of every mutant, over all shards."""
    merged = {}
    for session in sessions:
        with sqlite3.connect(session) as db:
            rows = db.execute(
                "SELECT job_id, worker_outcome, test_outcome, output, diff FROM work_results"
            )
            for job, worker, test, output, diff in rows:
                if output == NOT_DRAWN:
                    merged[job] = ("not drawn", "", "")
                elif output != OTHER_SHARD:
                    merged[job] = (worker.lower(), (test or "").lower(), diff or "")
    return list(merged.values())


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion, in percent: what a sample says of the whole."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    half /= 1 + z * z / trials
    return 100 * (centre - half), 100 * min(1.0, centre + half)


def report(sessions: list[pathlib.Path], listing: pathlib.Path, tool: str) -> None:
    rows = results(sessions)
    tested = [(test, diff) for worker, test, diff in rows if worker == "normal"]
    killed = sum(test == "killed" for test, _ in tested)
    survivors = [diff for test, diff in tested if test == "survived"]
    known = equivalents(listing)
    equivalent = [diff for diff in survivors if is_equivalent(diff, known)]
    open_ones = [diff for diff in survivors if not is_equivalent(diff, known)]
    left_out = sum(worker == "not drawn" for worker, _, _ in rows)
    skipped = sum(worker in ("skipped", "not drawn") for worker, _, _ in rows)
    other = len(rows) - len(tested) - skipped
    print(f"{tool}: {len(tested)} mutants tested, {killed} killed, {len(survivors)} survived")
    if left_out:
        drawn = len(rows) - skipped
        print(f"  a random sample: {drawn} drawn of {drawn + left_out} mutants")
    if tested:
        print(f"  kill rate: {100 * killed / len(tested):.1f} % of all mutants")
        if len(tested) > len(equivalent):
            rate = 100 * killed / (len(tested) - len(equivalent))
            print(f"  kill rate: {rate:.1f} % of the non-equivalent ones")
            if left_out:
                low, high = wilson(killed, len(tested) - len(equivalent))
                print(f"  95 % interval for all of the tool's: {low:.1f} to {high:.1f} %")
    print(f"  judged equivalent in {listing}: {len(equivalent)}")
    if other:
        print(f"  not tested (the mutation could not be made or run): {other}")
    for diff in open_ones:
        print(f"\nSURVIVED (not in {listing.name}):\n{diff}")


def _set_aside(session: pathlib.Path, why: str, keep) -> None:
    """Marks the untested mutants that `keep(pending)` does not return as skipped, for `why`."""
    with sqlite3.connect(session) as db:
        pending = [
            job
            for (job,) in db.execute(
                "SELECT job_id FROM work_items"
                " WHERE job_id NOT IN (SELECT job_id FROM work_results) ORDER BY rowid"
            )
        ]
        kept = set(keep(pending))
        db.executemany(
            "INSERT INTO work_results (job_id, worker_outcome, output) VALUES (?, 'SKIPPED', ?)",
            [(job, why) for job in pending if job not in kept],
        )


def shard(session: pathlib.Path, k: int, n: int) -> None:
    _set_aside(session, OTHER_SHARD, lambda pending: pending[k::n])


def sample(session: pathlib.Path, n: int, seed: int) -> None:
    draw = random.Random(seed)
    _set_aside(session, NOT_DRAWN, lambda pending: draw.sample(pending, min(n, len(pending))))


def reset_survivors(sessions: list[pathlib.Path], listing: pathlib.Path) -> None:
    """Forgets the survivors' results, but for those judged equivalent: no test can kill them."""
    known = equivalents(listing)
    for session in sessions:
        with sqlite3.connect(session) as db:
            rows = db.execute(
                "SELECT job_id, diff FROM work_results WHERE lower(test_outcome) = 'survived'"
            ).fetchall()
            again = [(job,) for job, diff in rows if not is_equivalent(diff, known)]
            db.executemany("DELETE FROM work_results WHERE job_id = ?", again)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sessions", type=pathlib.Path, nargs="+")
    parser.add_argument("--equivalent", type=pathlib.Path)
    parser.add_argument("--tool", default="")
    parser.add_argument("--shard", type=int, nargs=2, metavar=("K", "N"))
    parser.add_argument("--sample", type=int, nargs=2, metavar=("N", "SEED"))
    parser.add_argument("--reset-survivors", action="store_true")
    args = parser.parse_args()
    if args.shard:
        shard(args.sessions[0], *args.shard)
    elif args.sample:
        sample(args.sessions[0], *args.sample)
    elif args.reset_survivors:
        reset_survivors(args.sessions, args.equivalent)
    else:
        report(args.sessions, args.equivalent, args.tool)


if __name__ == "__main__":
    main()
