"""tests/mutation/report.py: how a surviving mutant is matched to tests/mutation/equivalent.md.

The figures the README gives count a survivor as equivalent only when an entry there matches it;
a match too loose would hide a survivor that matters, one too strict would count an equivalent
one as open."""

import sys

from support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "mutation"))
import report  # noqa: E402


def mutant(line: int, before: str, old: str, new: str, after: str) -> str:
    """A survivor's diff as cosmic-ray stores it: a header, then the hunk with its context."""
    return (
        "--- mutation diff ---\n--- a/scripts/x.py\n+++ b/scripts/x.py\n"
        f"@@ -{line},3 +{line},3 @@\n {before}\n-{old}\n+{new}\n {after}\n"
    )


def entries(tmp_path, *blocks: str) -> dict:
    listing = tmp_path / "equivalent.md"
    listing.write_text("".join(f"Why.\n\n```diff\n{block}```\n\n" for block in blocks))
    return report.equivalents(listing)


IN_FINALLY = mutant(90, "finally:", "    open = False", "    open = True", "    x()")
ON_ERROR = mutant(60, "if error:", "    open = False", "    open = True", "    raise")


def test_an_entry_without_context_matches_its_change_anywhere_in_its_file(tmp_path):
    known = entries(tmp_path, "--- a/scripts/x.py\n-    open = False\n+    open = True\n")
    assert report.is_equivalent(IN_FINALLY, known) and report.is_equivalent(ON_ERROR, known)
    other_file = IN_FINALLY.replace("scripts/x.py", "scripts/y.py")
    assert not report.is_equivalent(other_file, known)


def test_an_entry_with_context_matches_only_its_place(tmp_path):
    block = "--- a/scripts/x.py\n finally:\n-    open = False\n+    open = True\n"
    known = entries(tmp_path, block)
    assert report.is_equivalent(IN_FINALLY, known)
    assert not report.is_equivalent(ON_ERROR, known)


def test_the_changed_lines_must_be_the_same_both_ways(tmp_path):
    known = entries(tmp_path, "--- a/scripts/x.py\n-    open = False\n+    open = None\n")
    assert not report.is_equivalent(IN_FINALLY, known)
