"""The `sync` command: the accounts this tool manages made equal to a list, in one step; and
what `set`, `remove` and `sync` share (rules, refusals, the account commands).

The shared parts live here, not in __main__.py: that file runs as __main__, so importing it back
would load a second copy whose Refusal its own handlers would not catch.
"""

import contextlib
import json
import os
import re

from .prosody import Prosodyctl, ProsodyError, summary

# Lowercase XMPP local part; the Pulumi program validates names with the same rule.
USER_RULE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
EXIT_PROSODY, EXIT_INPUT, EXIT_CONFIG = 1, 2, 3
# Which accounts `sync` manages; names only. Accounts not in it (made by hand) are never removed.
RECORD = "/var/lib/jitsi-meet-gce/moderators.json"
# What prosodyctl deluser says for a missing account: 0.12 and 13 respectively.
ABSENT = re.compile(r"does not exist|No such user")
# Unicode's control characters (C0, DEL, C1): prosodyctl reads a password as one line of text.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
KINDS = ("Added", "Changed", "Removed", "Unchanged")


class Refusal(Exception):
    """Bad input or an unready server, found before anything changed; args: message, exit code."""


class Incomplete(Exception):
    """Accounts were changed, then a later step failed (exit 1); a re-run finishes the job."""


def invalid_user(user: str, where: str = "USER") -> Refusal:
    return Refusal(
        f"invalid {where} {user!r}: use 1-64 characters of a-z 0-9 . _ - starting with a "
        "letter or digit (for example alice or j.doe)",
        EXIT_INPUT,
    )


def hide(text: str, secret: str) -> str:
    """Prosody does not print passwords; this makes sure a future version cannot make us."""
    return text.replace(secret, "***")


def store_password(prosody: Prosodyctl, jid: str, password: str, exists: bool = False) -> bool:
    """Gives `jid` the password, creating the account if needed: True if it was created.

    adduser fails on an existing account and passwd on a missing one, so the likelier command
    goes first and the other follows; neither touches any other account. Both read the password
    twice from stdin."""
    typed_twice = f"{password}\n{password}\n"
    reasons = {}
    for command in ("passwd", "adduser") if exists else ("adduser", "passwd"):
        done, said = prosody.account_command(command, jid, typed_twice)
        if done:
            return command == "adduser"
        reasons[hide(summary(said), password)] = None
    raise ProsodyError(f"could not create {jid} nor change its password: {'; '.join(reasons)}")


def delete_account(prosody: Prosodyctl, jid: str) -> bool:
    """Removes the account: True if it did, False if it was already absent."""
    removed, said = prosody.account_command("deluser", jid)
    if removed or ABSENT.search(said):
        return removed
    raise ProsodyError(f"could not remove {jid}: {summary(said)}")


def read_credentials(stream, names: str) -> dict[str, str]:
    """stdin's JSON object {name: password}, checked against --names (what `pulumi preview`
    shows, so it must tell the truth). Messages name names, never a password."""
    listed = names.split(",") if names else []
    for name in listed:
        if not USER_RULE.fullmatch(name):
            raise invalid_user(name, "name in --names")
    if len(set(listed)) != len(listed):
        raise Refusal("--names lists a name twice", EXIT_INPUT)
    try:
        given = json.loads(stream.read().decode("utf-8"), object_pairs_hook=_no_repeats)
    except UnicodeDecodeError as e:
        raise Refusal("stdin is not UTF-8 text", EXIT_INPUT) from e
    except json.JSONDecodeError as e:
        # Position only: the decoder's message may quote the text, which holds passwords.
        where = f"line {e.lineno} column {e.colno}"
        raise Refusal(
            f"stdin is not JSON ({where}): give one object of name: password", EXIT_INPUT
        ) from e
    if not isinstance(given, dict):
        raise Refusal("stdin must be one JSON object of name: password", EXIT_INPUT)
    for name in given:
        if not USER_RULE.fullmatch(name):
            raise invalid_user(name, "name on stdin")
    if set(listed) != set(given):
        only = [f"{where}: {', '.join(sorted(n))}" for where, n in _differences(listed, given)]
        raise Refusal(f"--names and stdin differ (only in {'; only in '.join(only)})", EXIT_INPUT)
    for name, password in sorted(given.items()):
        if not isinstance(password, str) or not password:
            raise Refusal(f"the password of {name} must be a non-empty JSON string", EXIT_INPUT)
        if CONTROL.search(password) or _unencodable(password):
            raise Refusal(
                f"the password of {name} has a control character (line break, tab, ...) or "
                "invalid Unicode: give one line of text",
                EXIT_INPUT,
            )
    return given


def _no_repeats(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise Refusal("stdin names a moderator twice", EXIT_INPUT)
    return dict(pairs)


def _differences(listed: list[str], given: dict) -> list[tuple[str, set[str]]]:
    sides = [("--names", set(listed) - set(given)), ("stdin", set(given) - set(listed))]
    return [(where, names) for where, names in sides if names]


def _unencodable(text: str) -> bool:
    # JSON's \ud800 escapes make lone surrogates, which no pipe can carry.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class Record:
    """The names `sync` manages, as {"managed": [...]} in a root-only file on the server."""

    def __init__(self, path: str):
        self.path = path

    def managed(self) -> set[str]:
        """The recorded names; none when there is no record. A record it cannot trust is refused
        (exit 3): guessing would remove accounts, or forget some."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return set()
        except OSError as e:
            raise self._unusable(e.strerror) from e
        except ValueError as e:  # not UTF-8, not JSON
            raise self._unusable("not JSON") from e
        names = data.get("managed") if isinstance(data, dict) and len(data) == 1 else None
        if not isinstance(names, list) or not all(
            isinstance(n, str) and USER_RULE.fullmatch(n) for n in names
        ):
            raise self._unusable('not {"managed": [moderator names]}')
        return set(names)

    def _unusable(self, why: str) -> Refusal:
        return Refusal(
            f"cannot use the moderator record {self.path}: {why}; repair it, or delete it "
            "(its accounts then count as made by hand)",
            EXIT_CONFIG,
        )

    def save(self, names: set[str]) -> None:
        """Replaces the record atomically: a crash leaves the old one or the new one, whole."""
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, mode=0o700, exist_ok=True)
        # Not tempfile: its import alone costs more than this whole write. 0600 from the start,
        # and os.replace keeps that mode.
        temp = os.path.join(folder, f".{os.path.basename(self.path)}.{os.urandom(6).hex()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps({"managed": sorted(names)}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        # The rename is durable only once the folder itself is on disk.
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder_fd)
        finally:
            os.close(folder_fd)


def sync(
    prosody: Prosodyctl, domain: str, wanted: dict[str, str], record: Record, managed: set[str]
) -> None:
    """Makes the accounts equal to `wanted`: prints one line per kind of change, names only."""
    verdicts = prosody.stored_verdicts(domain, wanted)
    listed = set(wanted)
    if not listed <= managed:
        # Recorded before creating, so that a run cut short leaves no account unmanaged.
        try:
            record.save(managed | listed)
        except OSError as e:
            raise Refusal(
                f"cannot write the moderator record {record.path}: {e.strerror}", EXIT_CONFIG
            ) from e
    done: dict[str, list[str]] = {kind: [] for kind in KINDS}
    done["Unchanged"] = [name for name, verdict in verdicts.items() if verdict == "match"]
    try:
        for name in sorted(listed - set(done["Unchanged"])):
            exists = verdicts[name] == "differs"
            created = store_password(prosody, f"{name}@{domain}", wanted[name], exists)
            done["Added" if created else "Changed"].append(name)
        for name in sorted(managed - listed):
            delete_account(prosody, f"{name}@{domain}")
            done["Removed"].append(name)
        if managed - listed:
            try:
                record.save(listed)
            except OSError as e:
                why = f"{record.path}: {e.strerror}"
                raise Incomplete(f"accounts synced, but the record was not updated ({why})") from e
    finally:
        # Also after a failure: what was done so far.
        for kind in KINDS:
            if done[kind]:
                print(f"{kind}: {', '.join(sorted(done[kind]))}")
