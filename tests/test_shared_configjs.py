"""The config.js reader both tools share (scripts/shared/configjs.py), rule by rule: what
`anonymous_domain` says a browser gets (the probe's check 4), which files it refuses and with what
one-line message, and what `secure` writes (the configurator's edit).

test_secure_domain_lexers.py pins the scanner's tokens on one sample; these pin each edge a slip
would move: the 2 MB limit to the character, regular expressions, strings and comments that end
at their first or last character, the line a refusal names, where the hosts object starts and
ends, and where the new line goes and how it is indented. In-process, in about a second:
tests/mutation.sh runs this file first for `shared`.
"""

import sys

import pytest
from support import SCRIPTS, upstream_dir, upstream_version_names

sys.path.insert(0, str(SCRIPTS))
from shared import configjs  # noqa: E402

GUEST = "guest.meet.example.com"
CONFIG_JS = "etc/jitsi/meet/meet.example.com-config.js"
NEWEST = "2026-07_master-abf901a"


def refusal(text: str) -> str:
    with pytest.raises(configjs.NotJitsiConfig) as refused:
        configjs.anonymous_domain(text)
    return str(refused.value)


# --- upstream files and the size limit ---------------------------------------------------------


@pytest.mark.parametrize("version", upstream_version_names())
def test_an_upstream_config_js_reads_unset_and_is_secured_on_its_commented_line(version):
    text = (upstream_dir(version) / CONFIG_JS).read_text()
    assert configjs.anonymous_domain(text) is None
    secured = configjs.secure(text, GUEST)
    assert secured == text.replace(
        "// anonymousdomain: 'guest.example.com',", f"anonymousdomain: '{GUEST}',"
    )
    assert configjs.anonymous_domain(secured) == GUEST


def test_a_file_of_2_000_000_characters_is_read_and_one_more_is_refused():
    text = configjs.secure((upstream_dir(NEWEST) / CONFIG_JS).read_text(), GUEST)
    at_limit = text + "/*" + "x" * (2_000_000 - len(text) - 4) + "*/"
    assert len(at_limit) == 2_000_000
    assert configjs.anonymous_domain(at_limit) == GUEST
    assert refusal(at_limit + "\n") == "it is larger than 2 MB"


# --- what a browser gets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An empty string is a value (the probe names it), not "unset".
        ("var config = { hosts: { anonymousdomain: '' } };", ""),
        # A variable is no string, whatever the length of its name.
        ("var config = { hosts: { anonymousdomain: guestDomain } };", None),
        # An object before hosts, inside config, neither ends config nor hides hosts.
        ("var config = {\n    other: { a: 1 },\n    hosts: { anonymousdomain: 'g' }\n};", "g"),
        # An object inside hosts, before the key, does not end hosts.
        ("var config = { hosts: { x: { y: 1 }, anonymousdomain: 'g' } };", "g"),
        # `var config` inside a block (a guard against loading it twice) counts the same.
        (
            "if (!window.config) {\n    var config = { hosts: { anonymousdomain: 'g' } };\n}\n",
            "g",
        ),
        # No newline at the end: a last `}`, or a last comment that ends in a bracket.
        ("var config = { hosts: { anonymousdomain: 'g' } }", "g"),
        ("// config.js\nvar config = { hosts: { anonymousdomain: 'g' } }; // (guests)", "g"),
        # A statement cut off after `=` (a truncated file) assigns nothing.
        (
            "var config = { hosts: { anonymousdomain: 'g' } };\nconfig.hosts.anonymousdomain =",
            "g",
        ),
        # `return /}/` is a regular expression: its brace closes nothing.
        (
            "function f(s) { return /}/.test(s); }\n"
            "var config = { hosts: { anonymousdomain: 'g' } };",
            "g",
        ),
        (
            "var t = typeof /}/;\nvar config = { hosts: { anonymousdomain: 'g' } };",
            "g",
        ),
        # `/*/` opens a comment; it does not close it.
        ("var config = { hosts: {\n    /*/ anonymousdomain: 'x', */\n} };", None),
    ],
)
def test_the_reader_returns_what_a_browser_gets(text, expected):
    assert configjs.anonymous_domain(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Another object's hosts, after config, is not config's.
        (
            "var config = { x: 1 };\nvar other = { hosts: { anonymousdomain: 'g' } };\n",
            "no `hosts: { ... }` inside `var config = { ... }`",
        ),
        # An unfinished regular expression on the last line, with no newline after it.
        ("var config = { hosts: {} };\nx = /open", "unfinished regular expression at line 2"),
        # A file that starts with an empty line: the line numbers count it.
        ("\nvar config = {\n  hosts: {}\n", "'{' at line 2 never closed"),
        # The innermost bracket left open is named, with its own line.
        ("var config = {\n  hosts: [\n", "'[' at line 2 never closed"),
    ],
)
def test_the_reader_refuses_with_one_line(text, message):
    assert refusal(text) == message


# --- the scanner's edges -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "token"),
    [
        ("x = /ab/;", "/ab/"),  # no character class at all
        ("x = /[/]+/g;", "/[/]+/"),  # a class right after the opening slash
        ("x = /a\\./;", "/a\\./"),  # an escape right before the closing slash
        ("x = /\\//;", "/\\//"),  # an escaped slash
        ("q = '\\'';", "'\\''"),  # a string that is an escaped quote
        ("p = 'C:\\\\';", "'C:\\\\'"),  # a string that ends in an escaped backslash
    ],
)
def test_a_regular_expression_or_string_is_one_token_to_its_end(code, token):
    start = code.index(token)
    assert configjs.tokens(code) == [
        (code[0], 0, 0),
        ("=", 2, 0),
        (token, start, 0),
        *([("g", start + len(token), 0)] if code.endswith("g;") else []),
        (";", len(code) - 1, 0),
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("a/**/b", [("a", 0, 0), ("b", 5, 0)]),  # an empty comment
        ("a /*/ b */ c", [("a", 0, 0), ("c", 11, 0)]),  # `/*/` is no whole comment
        ("/*c*/x", [("x", 5, 0)]),  # a token right after the comment
    ],
)
def test_a_block_comment_ends_at_its_own_close(code, expected):
    assert configjs.tokens(code) == expected


# --- what the configurator writes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Indented like the first property (a shorthand one, alone), not like the `}`.
        (
            "var config = {\n  hosts: {\n      domain\n  }\n};\n",
            "var config = {\n  hosts: {\n      anonymousdomain: 'g.d',\n      domain\n  }\n};\n",
        ),
        # Tabs stay tabs.
        (
            "var config = {\n\thosts: {\n\t\tdomain: 'd'\n\t}\n};\n",
            "var config = {\n\thosts: {\n\t\tanonymousdomain: 'g.d',\n\t\tdomain: 'd'\n\t}\n};\n",
        ),
        # The first property on the second line of the file (the first is empty): that line's
        # indentation; the new line goes after the line of the `{`.
        (
            "\n  var config = { hosts: { domain: 'd',\n    muc: 'm' } };\n",
            "\n  var config = { hosts: { domain: 'd',\n  anonymousdomain: 'g.d',\n"
            "    muc: 'm' } };\n",
        ),
        # A first property at the start of its line gets four spaces, and no comma before it.
        (
            "var config = {\nhosts: {\ndomain: 'd'\n}\n};\n",
            "var config = {\nhosts: {\n    anonymousdomain: 'g.d',\ndomain: 'd'\n}\n};\n",
        ),
        # An assignment before the object (a value set by an earlier script) gets the value too,
        # and the line still lands inside hosts once the text before it has changed length.
        (
            "config.hosts.anonymousdomain = 'x';\nvar config = {\n    hosts: {\n"
            "        domain: 'd'\n    }\n};\n",
            "config.hosts.anonymousdomain = 'g.d';\nvar config = {\n    hosts: {\n"
            "        anonymousdomain: 'g.d',\n        domain: 'd'\n    }\n};\n",
        ),
    ],
)
def test_the_new_line_goes_inside_hosts_indented_like_its_first_property(text, expected):
    secured = configjs.secure(text, "g.d")
    assert secured == expected
    assert configjs.anonymous_domain(secured) == "g.d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A one-line hosts object: ours goes first inside it, on its line, nothing else moves.
        (
            "var config = {\n    hosts: { domain: 'd' },\n    bosh: '/http-bind'\n};\n",
            "var config = {\n    hosts: { anonymousdomain: 'g.d', domain: 'd' },\n"
            "    bosh: '/http-bind'\n};\n",
        ),
        # The whole file on one line, without a newline at all.
        (
            "var config = { hosts: { domain: 'd' } };",
            "var config = { hosts: { anonymousdomain: 'g.d', domain: 'd' } };",
        ),
        ("var config = { hosts: {} };\n", "var config = { hosts: { anonymousdomain: 'g.d',} };\n"),
    ],
)
def test_a_hosts_object_on_one_line_gets_the_key_inside_it(text, expected):
    secured = configjs.secure(text, "g.d")
    assert secured == expected
    assert configjs.anonymous_domain(secured) == "g.d"
    assert configjs.secure(secured, "g.d") == secured


@pytest.mark.parametrize(
    "broken",
    [
        "var config = {\n    hosts: {\n        anonymousdomain:\n    }\n};\n",
        # The key's line, not its colon's.
        "var config = {\n    hosts: {\n        anonymousdomain\n        :\n    }\n};\n",
    ],
)
def test_a_key_without_a_value_is_refused_naming_its_line(broken):
    # Broken JavaScript (`anonymousdomain:` and then `}`): never edited into something else.
    assert configjs.anonymous_domain(broken) is None
    with pytest.raises(
        configjs.NotJitsiConfig, match="^hosts.anonymousdomain has no value at line 3$"
    ):
        configjs.secure(broken, "g.d")
