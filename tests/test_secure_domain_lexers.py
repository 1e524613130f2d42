"""The configurator's scanners, token by token: the Lua lexer and sections, the HOCON scanner,
Java-properties logical lines and the config.js scanner (scripts/shared/configjs.py).

Every edit the tool makes rests on these reading a file exactly as Prosody, jicofo, Java and a
browser do; the other tiers run the whole tool on real files, these pin each rule (offsets,
depths, escapes, where a comment or string ends, the line a refusal names), so that a slip in
one shows here at once. Run in-process, in well under a second: the mutation run
(tests/mutation.sh) puts them first.
"""

import sys

import pytest
from support import SCRIPTS

sys.path.insert(0, str(SCRIPTS))
from secure_domain import hocon, lua, properties  # noqa: E402
from secure_domain.files import Refusal  # noqa: E402
from shared import configjs  # noqa: E402

# --- Lua (Prosody's config) --------------------------------------------------------------------

LUA = """-- comment VirtualHost "x"
--[==[ long
comment ]] ]==]
a = 0x1F + 1.5e3 .. .5 ~= 3 // 2 >= 1 <= 2 << 1 >> 1 == 2 ... ::x:: #t
b = [[long "string"]] .. [=[ a ]] b ]=]
c = "esc \\" quote" .. 'single\\n' -- tail
d = { [1] = ( 2 ), x = { y = "z" } }
VirtualHost "meet" -- c
    authentication = "anonymous"
    t.authentication = "no"
    s:authentication = "no2"
Component "focus" "client_proxy"
    x = 1
Host ( "other" )
    authentication="internal_hashed"
"""

# (kind, text, depth) of every token of LUA: comments dropped, strings unquoted (long strings keep
# their brackets), multi-character operators whole, a closing bracket at the depth outside it.
N, OP, D, S = "name", "op", "number", "string"
LUA_TOKENS = [
    (N, "a", 0), (OP, "=", 0), (D, "0x1F", 0), (OP, "+", 0), (D, "1.5e3", 0), (OP, "..", 0),
    (D, ".5", 0), (OP, "~=", 0), (D, "3", 0), (OP, "//", 0), (D, "2", 0), (OP, ">=", 0),
    (D, "1", 0), (OP, "<=", 0), (D, "2", 0), (OP, "<<", 0), (D, "1", 0), (OP, ">>", 0),
    (D, "1", 0), (OP, "==", 0), (D, "2", 0), (OP, "...", 0), (OP, "::", 0), (N, "x", 0),
    (OP, "::", 0), (OP, "#", 0), (N, "t", 0),
    (N, "b", 0), (OP, "=", 0), (S, '[[long "string"]]', 0), (OP, "..", 0), (S, "[=[ a ]] b ]=]", 0),
    (N, "c", 0), (OP, "=", 0), (S, 'esc \\" quote', 0), (OP, "..", 0), (S, "single\\n", 0),
    (N, "d", 0), (OP, "=", 0), (OP, "{", 0), (OP, "[", 1), (D, "1", 2), (OP, "]", 1), (OP, "=", 1),
    (OP, "(", 1), (D, "2", 2), (OP, ")", 1), (OP, ",", 1), (N, "x", 1), (OP, "=", 1), (OP, "{", 1),
    (N, "y", 2), (OP, "=", 2), (S, "z", 2), (OP, "}", 1), (OP, "}", 0),
    (N, "VirtualHost", 0), (S, "meet", 0), (N, "authentication", 0), (OP, "=", 0),
    (S, "anonymous", 0), (N, "t", 0), (OP, ".", 0), (N, "authentication", 0), (OP, "=", 0),
    (S, "no", 0), (N, "s", 0), (OP, ":", 0), (N, "authentication", 0), (OP, "=", 0), (S, "no2", 0),
    (N, "Component", 0), (S, "focus", 0), (S, "client_proxy", 0), (N, "x", 0), (OP, "=", 0),
    (D, "1", 0),
    (N, "Host", 0), (OP, "(", 0), (S, "other", 1), (OP, ")", 0), (N, "authentication", 0),
    (OP, "=", 0), (S, "internal_hashed", 0),
]  # fmt: skip


def test_lua_tokens_kinds_texts_and_depths():
    assert [(t.kind, t.text, t.depth) for t in lua.tokenize(LUA)] == LUA_TOKENS


def test_lua_token_offsets_cover_exactly_their_source():
    for t in lua.tokenize(LUA):
        source = LUA[t.start : t.end]
        if t.kind == "string" and not t.text.startswith("["):
            assert source == source[0] + t.text + source[0]
        else:
            assert source == t.text


def test_lua_sections_and_top_level_assignments():
    found = [
        (s.kind, s.name, LUA[s.start : s.header_end], len(s.tokens)) for s in lua.sections(LUA)
    ]
    assert found == [
        ("global", "*", "", 56),
        ("VirtualHost", "meet", 'VirtualHost "meet"', 13),
        ("Component", "focus", 'Component "focus" "client_proxy"', 3),
        ("VirtualHost", "other", 'Host ( "other" )', 3),
    ]
    auth = [[t.text for t in lua.assignments(s, "authentication")] for s in lua.sections(LUA)]
    # t.authentication and s:authentication are fields of other tables, not the host's setting.
    assert auth == [[], ["anonymous"], [], ["internal_hashed"]]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # A header needs a string name at depth 0, not after `.` or `:`, not inside brackets.
        ('x.VirtualHost "a"\nVirtualHost "b"', ["*", "b"]),
        ('x:VirtualHost "a"\nVirtualHost "b"', ["*", "b"]),
        ('t = { VirtualHost "a" }\nVirtualHost "b"', ["*", "b"]),
        ("VirtualHost = 1\nVirtualHost 'b'", ["*", "b"]),
        ('VirtualHost("a")\nComponent "c"\nVirtualHost', ["*", "a", "c"]),
        ('VirtualHost ( "a"', None),
        ('Component "c" VirtualHost "d"', ["*", "c", "d"]),
        ('VirtualHost "a" "b"', ["*", "a"]),
    ],
)
def test_lua_section_headers(text, names):
    if names is None:
        with pytest.raises(Refusal, match="'\\(' at line 1 is never closed"):
            lua.sections(text)
        return
    assert [s.name for s in lua.sections(text)] == names


def test_lua_headers_at_the_end_of_the_file():
    assert [(s.kind, s.name) for s in lua.sections('x = 1\nComponent "c.x"')] == [
        ("global", "*"),
        ("Component", "c.x"),
    ]
    assert [s.name for s in lua.sections('VirtualHost ( "a" )')] == ["*", "a"]
    assert [s.name for s in lua.sections("VirtualHost")] == ["*"]


def test_lua_assignment_at_the_end_of_a_section_and_in_tables():
    (_, host) = lua.sections(
        'VirtualHost "a"\n  x = { authentication = "no" }\n  authentication = "y"'
    )
    assert [t.text for t in lua.assignments(host, "authentication")] == ["y"]
    (_, short) = lua.sections('VirtualHost "a"\n  authentication =')
    assert lua.assignments(short, "authentication") == []


def test_lua_escaped_quote_and_backslash_at_the_end_of_strings():
    tokens = lua.tokenize("a = 'it\\'s' b = \"\\\\\" c = '\\\\'")
    assert [t.text for t in tokens if t.kind == "string"] == ["it\\'s", "\\\\", "\\\\"]
    assert [(t.start, t.end) for t in tokens if t.kind == "string"] == [(4, 11), (16, 20), (25, 29)]


def test_lua_long_comment_hides_code_and_a_short_comment_ends_at_its_line():
    text = '--[[ VirtualHost "a" ]] VirtualHost "b"\n-- VirtualHost "c"\nVirtualHost "d"'
    assert [s.name for s in lua.sections(text)] == ["*", "b", "d"]
    assert lua.tokenize("x = 1 -- the end") == lua.tokenize("x = 1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('a = 1\nb = "open', "unfinished string at line 2"),
        ("a = 1\nb = 'open\n'", "unfinished string at line 2"),
        ('a = "ends with backslash\\', "unfinished string at line 1"),
        ('a = "\\"', "unfinished string at line 1"),  # the quote is escaped: none closes it
        ("a = 1\n\nb = [==[ open ]=]", "unfinished long string starting at line 3"),
        ("a = 1\n--[[ open", "unfinished long comment starting at line 2"),
        ("a = 1\nb = ( 1 ]", "unbalanced ']' at line 2"),
        ("a = 1\n}", "unbalanced '}' at line 2"),
        ("a = {\n1", "'{' at line 1 is never closed"),
        ("a = {\n b = (\n", "'(' at line 2 is never closed"),  # the innermost one
        ("a = 1\nb = @", "unexpected character '@' at line 2"),
        ("a = 1 ! 2", "unexpected character '!' at line 1"),
    ],
)
def test_lua_refusals_name_the_line(text, message):
    with pytest.raises(Refusal) as refused:
        lua.tokenize(text)
    assert str(refused.value) == message


# --- HOCON (jicofo.conf) -----------------------------------------------------------------------

HOCON = """# comment { not
// also { not
jicofo {
  a = \"\"\"raw "x" \"\"\"\"
  b: "q\\"s" // c
  c = ${?X}
  d = [1, {e: f}]
  "k.y" += x
}
"""


def test_hocon_tokens_offsets_and_depths():
    assert hocon.tokens(HOCON) == [
        ("jicofo", 30, 0), ("{", 37, 0),
        ("a", 41, 1), ("=", 43, 1), ('"""raw "x" """"', 45, 1),
        ("b", 63, 1), (":", 64, 1), ('"q\\"s"', 66, 1),
        ("c", 80, 1), ("=", 82, 1), ("${?X}", 84, 1),
        ("d", 92, 1), ("=", 94, 1), ("[", 96, 1), ("1", 97, 2), (",", 98, 2), ("{", 100, 2),
        ("e", 101, 3), (":", 102, 3), ("f", 104, 3), ("}", 105, 2), ("]", 106, 1),
        ('"k.y"', 110, 1), ("+", 116, 1), ("=", 117, 1), ("x", 119, 1),
        ("}", 121, 0),
    ]  # fmt: skip


def test_hocon_fields_values_and_closing_brace():
    toks = hocon.tokens(HOCON)
    fields = hocon.object_fields(HOCON, toks, 1)
    assert fields == {"a": [2], "b": [5], "c": [8], "d": [11], "k.y": [22]}
    assert [toks[hocon.value_index(toks, k[0])][0] for k in fields.values()][:4] == [
        '"""raw "x" """"', '"q\\"s"', "${?X}", "[",
    ]  # fmt: skip
    assert hocon.value_index(toks, 0) == 1  # `jicofo {`: no separator
    assert hocon.matching_close(toks, 1) == len(toks) - 1
    assert hocon.matching_close(toks, 13) == 21  # the list, past the object inside it
    assert hocon.object_fields(HOCON, toks, 16) == {"e": [17]}


def test_hocon_fields_after_commas_new_lines_and_repeats():
    text = "o { a = 1, b = 2\n  c: 3\n  a: {\n x = 1 }\n d =\n  e }"
    toks = hocon.tokens(text)
    fields = hocon.object_fields(text, toks, 1)
    # `e` sits on a new line after `=`: it is d's value, not a key.
    assert fields == {"a": [2, 12], "b": [6], "c": [9], "d": [19]}
    assert hocon.unquote('"a"') == "a" and hocon.unquote('"""a"""') == '"""a"""'
    assert hocon.unquote("a") == "a"


def test_hocon_scanning_goes_on_right_after_a_triple_quoted_string_or_a_substitution():
    assert hocon.tokens('o { a = """x"""}') == [
        ("o", 0, 0), ("{", 2, 0), ("a", 4, 1), ("=", 6, 1), ('"""x"""', 8, 1), ("}", 15, 0),
    ]  # fmt: skip
    assert hocon.tokens("o { a = ${x}}") == [
        ("o", 0, 0), ("{", 2, 0), ("a", 4, 1), ("=", 6, 1), ("${x}", 8, 1), ("}", 12, 0),
    ]  # fmt: skip


def test_hocon_triple_quoted_strings_may_start_and_end_with_quotes():
    assert [t for t, _, _ in hocon.tokens('a = """"x""""" b = """""" c = """""y"""')] == [
        "a", "=", '""""x"""""', "b", "=", '""""""', "c", "=", '"""""y"""',
    ]  # fmt: skip


def test_hocon_unquoted_strings_stop_at_forbidden_characters():
    assert [t for t, _, _ in hocon.tokens("a.b-c:d//x\ne$f")] == ["a.b-c", ":", "d", "e", "$", "f"]
    assert [t for t, _, _ in hocon.tokens("k = a b#c")] == ["k", "=", "a", "b"]
    assert [t for t, _, _ in hocon.tokens('x = "a\\\\" y')] == ["x", "=", '"a\\\\"', "y"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('a = 1\nb = """open', 'unfinished """ string at line 2'),
        ('a = 1\nb = "open\n"', "unfinished string at line 2"),
        ("a = 1\nb = ${open", "unfinished substitution at line 2"),
        ("a = 1\nb = [ }", "unbalanced '}' at line 2"),
        ("a = 1\n]", "unbalanced ']' at line 2"),
        ("a = 1\nb { [", "'[' at line 2 is never closed"),
        ("a {\n b [\n c {", "'{' at line 3 is never closed"),  # the innermost one
    ],
)
def test_hocon_refusals_name_the_line(text, message):
    with pytest.raises(Refusal) as refused:
        hocon.tokens(text)
    assert str(refused.value) == f"jicofo.conf: {message}"


# --- Java properties (sip-communicator.properties) ---------------------------------------------

PROPERTIES = (
    "# c\n! c2\n  org.jitsi.jicofo.auth.URL = XMPP:old \\\n   continued\r\nother=1\n"
    "org.jitsi.jicofo.auth.URL:XMPP:meet.example.com\nkey\\=x=2\norg.jitsi.jicofo.auth.URLx=3\n"
    "last\\\\\norg.jitsi.jicofo.auth.URL   XMPP:spaced"
)


def test_properties_logical_lines():
    assert list(properties._logical_lines(PROPERTIES)) == [
        (0, 3, "# c"),
        (4, 8, "! c2"),
        (9, 63, "  org.jitsi.jicofo.auth.URL = XMPP:old continued"),
        (64, 71, "other=1"),
        (72, 119, "org.jitsi.jicofo.auth.URL:XMPP:meet.example.com"),
        (120, 128, "key\\=x=2"),
        (129, 157, "org.jitsi.jicofo.auth.URLx=3"),
        (158, 164, "last\\\\"),
        (165, 204, "org.jitsi.jicofo.auth.URL   XMPP:spaced"),
    ]
    # A backslash on the last line continues nothing.
    assert list(properties._logical_lines("a=1\\")) == [(0, 4, "a=1\\")]
    assert list(properties._logical_lines("a=\\\nb\n")) == [(0, 5, "a=b")]
    # Three backslashes: an escaped one, then the continuation.
    assert list(properties._logical_lines("a=x\\\\\\\nb\n")) == [(0, 8, "a=x\\\\b")]


def test_properties_values_and_secured_text():
    assert properties.auth_urls(PROPERTIES) == [
        "XMPP:old continued",
        "XMPP:meet.example.com",
        "XMPP:spaced",
    ]
    assert properties.secure(PROPERTIES, "meet.example.com") == (
        "# c\n! c2\norg.jitsi.jicofo.auth.URL=XMPP:meet.example.com\nother=1\n"
        "org.jitsi.jicofo.auth.URL:XMPP:meet.example.com\nkey\\=x=2\norg.jitsi.jicofo.auth.URLx=3\n"
        "last\\\\\norg.jitsi.jicofo.auth.URL=XMPP:meet.example.com"
    )
    # A file that starts with an empty line: its first line ends at offset 0.
    assert properties.secure("\norg.jitsi.jicofo.auth.URL=XMPP:old\n", "d.e") == (
        "\norg.jitsi.jicofo.auth.URL=XMPP:d.e\n"
    )
    wanted = "org.jitsi.jicofo.auth.URL=XMPP:d.e\n"
    assert properties.secure("a=1", "d.e") == "a=1\n" + wanted
    assert properties.secure("a=1\n", "d.e") == "a=1\n" + wanted
    assert properties.secure("", "d.e") == wanted
    assert properties.auth_urls("  \n\t# org.jitsi.jicofo.auth.URL=x\n") == []
    # Only a line's first character makes it a comment, and a comment may be that alone.
    assert properties.auth_urls("org.jitsi.jicofo.auth.URL=XMPP:x#\n") == ["XMPP:x#"]
    assert properties.auth_urls("#\n!\norg.jitsi.jicofo.auth.URL=XMPP:y\n") == ["XMPP:y"]


# --- config.js (scripts/shared/configjs.py) ----------------------------------------------------

CONFIG_JS = """var re = /a\\/b[/]c/g; x = 4 / 2 / 1;
// anonymousdomain: 'no',
/* block { */
var config = {
    hosts: {
        domain: 'meet.example.com',
        // anonymousdomain: 'guest.example.com',
        muc: `conference.${x}`
    },
    other: { anonymousdomain: 'nested' },
    s: "a\\"b"
};
"""


def test_configjs_tokens_regexes_divisions_comments_and_strings():
    assert configjs.tokens(CONFIG_JS) == [
        ("var", 0, 0), ("re", 4, 0), ("=", 7, 0), ("/a\\/b[/]c/", 9, 0), ("g", 19, 0),
        (";", 20, 0), ("x", 22, 0), ("=", 24, 0), ("4", 26, 0), ("/", 28, 0), ("2", 30, 0),
        ("/", 32, 0), ("1", 34, 0), (";", 35, 0),
        ("var", 77, 0), ("config", 81, 0), ("=", 88, 0), ("{", 90, 0),
        ("hosts", 96, 1), (":", 101, 1), ("{", 103, 1),
        ("domain", 113, 2), (":", 119, 2), ("'meet.example.com'", 121, 2), (",", 139, 2),
        ("muc", 198, 2), (":", 201, 2), ("`conference.${x}`", 203, 2), ("}", 225, 1),
        (",", 226, 1), ("other", 232, 1), (":", 237, 1), ("{", 239, 1),
        ("anonymousdomain", 241, 2), (":", 256, 2), ("'nested'", 258, 2), ("}", 267, 1),
        (",", 268, 1), ("s", 274, 1), (":", 275, 1), ('"a\\"b"', 277, 1), ("}", 284, 0),
        (";", 285, 0),
    ]  # fmt: skip


def test_configjs_takes_the_commented_line_inside_hosts_only():
    secured = configjs.secure(CONFIG_JS, "guest.d")
    assert secured == CONFIG_JS.replace(
        "// anonymousdomain: 'guest.example.com',", "anonymousdomain: 'guest.d',"
    )
    assert configjs.anonymous_domain(CONFIG_JS) is None
    assert configjs.anonymous_domain(secured) == "guest.d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("var config = {\n hosts: { a: 'open\n' } };", "unfinished string at line 2"),
        ("var config = {\n hosts: { a: `open } };", "unfinished string at line 2"),
        ("var config = {\n hosts: {} }; x = /open\n", "unfinished regular expression at line 2"),
        ("var config = {\n hosts: {} }; /* open", "unfinished comment at line 2"),
        ("var config = {\n hosts: {} ]", "unbalanced ']' at line 2"),
        ("var config = {\n hosts: {}", "'{' at line 1 never closed"),
        ("var config = {\n other: {} };", "no `hosts: { ... }` inside `var config = { ... }`"),
        ("x" * (configjs.MAX_CONFIG_BYTES + 1), "it is larger than 2 MB"),
    ],
)
def test_configjs_refusals_name_the_line(text, message):
    with pytest.raises(configjs.NotJitsiConfig) as refused:
        configjs.secure(text, "guest.d")
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("var config = { hosts: { anonymousdomain: x } };", None),
        ("var config = { hosts: { 'anonymousdomain': \"g.d\" } };", "g.d"),
        (
            "var config = { hosts: { anonymousdomain: 'a' } }; config.hosts.anonymousdomain = 'b';",
            "b",
        ),
        ("var config = { hosts: {} };\nconfig.hosts.anonymousdomain = 'b';", "b"),
        ("var config = { hosts: { anonymousdomain: `t` } };", "t"),
        ("var config = { hosts: { x: 1 }, anonymousdomain: 'top' };", None),
        ("var config = { hosts: { x: { anonymousdomain: 'deep' } } };", None),
    ],
)
def test_configjs_reads_what_a_browser_gets(text, expected):
    assert configjs.anonymous_domain(text) == expected


def test_configjs_secures_assignments_and_an_empty_hosts_object():
    # An empty hosts object: the new line takes the indentation of its closing brace.
    later = "var config = {\n  hosts: {\n  }\n};\nconfig.hosts.anonymousdomain = 'old';\n"
    assert configjs.secure(later, "g.d") == (
        "var config = {\n  hosts: {\n  anonymousdomain: 'g.d',\n  }\n};\n"
        "config.hosts.anonymousdomain = 'g.d';\n"
    )
    two = "var config = {\n  hosts: {\n    domain: 'd'\n  }\n};\n"
    assert configjs.secure(two, "g.d") == (
        "var config = {\n  hosts: {\n    anonymousdomain: 'g.d',\n    domain: 'd'\n  }\n};\n"
    )
    same = 'var config = { hosts: { anonymousdomain: "g.d" } };'
    assert configjs.secure(same, "g.d") == same
    template = "var config = { hosts: { anonymousdomain: `g.d` } };"
    assert configjs.secure(template, "g.d") == template.replace("`g.d`", "'g.d'")
