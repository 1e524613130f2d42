"""A 2020-era local bridge's login, in /etc/jitsi/videobridge/sip-communicator.properties.

Bridges installed then keep their XMPP login in `org.jitsi.videobridge.xmpp.user.<id>.*` keys of
this file, which every later bridge still reads before jvb.conf, and an upgrade leaves the file
as it was. So where an id logs in as jvb@auth.DOMAIN, its PASSWORD line gets the new password,
in place: every other line (the old STUN and statistics settings too) stays byte for byte.
"""

from secure_domain.properties import entries

from .errors import EXIT_NOT_READY, Refusal

PREFIX = "org.jitsi.videobridge.xmpp.user."


def _logins(text: str) -> dict[str, dict[str, tuple[int, int, str]]]:
    """{id: {setting: (start, end, value)}}; a later line of a key wins, as in Java."""
    found: dict[str, dict[str, tuple[int, int, str]]] = {}
    for start, end, key, value in entries(text):
        ident, dot, setting = key.removeprefix(PREFIX).rpartition(".")
        if key.startswith(PREFIX) and dot:
            found.setdefault(ident, {})[setting] = (start, end, value)
    return found


def logs_in(text: str, login: tuple[str, str]) -> bool:
    """True when some id of the file logs in as `login` (user, domain)."""
    return any(_is(settings, login) for settings in _logins(text).values())


def _is(settings: dict, login: tuple[str, str]) -> bool:
    return tuple(settings.get(k, (0, 0, None))[2] for k in ("USERNAME", "DOMAIN")) == login


def with_password(text: str, login: tuple[str, str], password: str) -> str:
    """`text` with PASSWORD=`password` for every id that logs in as `login`; refuses an id
    without a PASSWORD line, which this tool would have to guess where to put."""
    lines = []
    for ident, settings in _logins(text).items():
        if not _is(settings, login):
            continue
        if "PASSWORD" not in settings:
            raise Refusal(
                f"sip-communicator.properties logs in as {'@'.join(login)} ({PREFIX}{ident}) "
                "without a PASSWORD line; add it by hand or remove that login",
                EXIT_NOT_READY,
            )
        start, end, _ = settings["PASSWORD"]
        # Read as written but for backslashes (the password is printable ASCII, no blank).
        escaped = password.replace("\\", "\\\\")
        lines.append((start, end, f"{PREFIX}{ident}.PASSWORD={escaped}"))
    for start, end, line in sorted(lines, reverse=True):
        text = text[:start] + line + text[end:]
    return text
