"""The configurator's edit rules one at a time, in-process: each test pins one decision the
whole-tool tests (test_secure_domain_edges.py, _upstream.py) only show in passing, or not at all:
where the guest host goes, what an existing guest host gets, how jicofo.conf is indented, how
links are followed, what a failed write leaves behind, the wording and exit of each refusal.
They were written against the mutants tests/mutation.sh found surviving (tests/README.md,
"Mutation testing"); each names the rule it holds, not the mutant.
"""

import os
import pathlib
import sys

import pytest
from support import SCRIPTS, require

sys.path.insert(0, str(SCRIPTS))
from secure_domain import files, jicofo, prosody  # noqa: E402
from secure_domain.files import Refusal  # noqa: E402

DOMAIN, GUEST = "meet.example.com", "guest.meet.example.com"


def secured(text: str, root: pathlib.Path) -> str:
    return prosody.secure(text, DOMAIN, GUEST, root)[0]


# --- the Prosody site file ---------------------------------------------------------------------


def test_an_existing_guest_host_gets_c2s_encryption_off(tmp_path):
    text = (
        f'VirtualHost "{DOMAIN}"\n    authentication = "internal_hashed"\n'
        f'VirtualHost "{GUEST}"\n    c2s_require_encryption = true\n'
        '    authentication = "anonymous"\n'
    )
    assert secured(text, tmp_path) == text.replace("= true", "= false")
    done = text.replace("= true", "= false")
    assert secured(done, tmp_path) == done


def test_a_guest_host_in_two_sections_is_completed_in_its_first(tmp_path):
    text = (
        f'VirtualHost "{DOMAIN}"\n  authentication = "internal_hashed"\n'
        f'VirtualHost "{GUEST}"\n\tx = 1\nVirtualHost "{GUEST}"\n  c2s_require_encryption = true\n'
    )
    assert secured(text, tmp_path) == (
        f'VirtualHost "{DOMAIN}"\n  authentication = "internal_hashed"\n'
        f'VirtualHost "{GUEST}"\n\tauthentication = "anonymous"\n\tx = 1\n'
        f'VirtualHost "{GUEST}"\n  c2s_require_encryption = false\n'
    )


def test_an_existing_guest_host_without_settings_gets_both(tmp_path):
    text = f'VirtualHost "{DOMAIN}"\n\tauthentication = "anonymous"\nVirtualHost "{GUEST}"\n'
    assert secured(text, tmp_path) == (
        f'VirtualHost "{DOMAIN}"\n\tauthentication = "internal_hashed"\n'
        f'VirtualHost "{GUEST}"\n    authentication = "anonymous"\n'
        "    c2s_require_encryption = false\n"
    )


@pytest.mark.parametrize("indent", [" ", "\t", "  \t"])
def test_the_guest_host_follows_the_main_hosts_indented_comments(tmp_path, indent):
    text = (
        f'VirtualHost "{DOMAIN}"\n    authentication = "anonymous"\n'
        f"{indent}-- still the main host\n"
        '-- the next section\'s comment\nComponent "c.x" "muc"\n'
    )
    result = secured(text, tmp_path)
    assert f'{indent}-- still the main host\n\nVirtualHost "{GUEST}"\n' in result
    assert "c2s_require_encryption = false\n-- the next section's comment\n" in result


def test_a_long_comment_is_not_part_of_the_main_hosts_trailing_comments(tmp_path):
    text = f'VirtualHost "{DOMAIN}"\n    authentication = "anonymous"\n    --[[ long\ncomment ]]\n'
    assert f'"internal_hashed"\n\nVirtualHost "{GUEST}"' in secured(text, tmp_path)


def test_a_main_host_with_no_authentication_line_gets_one(tmp_path):
    text = f'VirtualHost "{DOMAIN}"\n  modules_enabled = {{ "bosh" }}\n'
    assert secured(text, tmp_path).startswith(
        f'VirtualHost "{DOMAIN}"\n  authentication = "internal_hashed"\n  modules_enabled'
    )
    bare = f'VirtualHost "{DOMAIN}"'
    assert secured(bare, tmp_path) == (
        f'VirtualHost "{DOMAIN}"\n    authentication = "internal_hashed"\n\n'
        f'VirtualHost "{GUEST}"\n    authentication = "anonymous"\n'
        "    c2s_require_encryption = false"
    )


def test_a_main_host_in_two_sections_without_authentication_gets_it_in_the_first(tmp_path):
    # With the first section's indentation; the guest host takes the last one's.
    text = f'VirtualHost "{DOMAIN}"\n\ta = 1\nVirtualHost "{DOMAIN}"\n  b = 2\n'
    assert secured(text, tmp_path) == (
        f'VirtualHost "{DOMAIN}"\n\tauthentication = "internal_hashed"\n\ta = 1\n'
        f'VirtualHost "{DOMAIN}"\n  b = 2\n\nVirtualHost "{GUEST}"\n'
        '  authentication = "anonymous"\n  c2s_require_encryption = false\n'
    )


def test_every_authentication_line_of_the_main_host_is_secured(tmp_path):
    # Prosody uses the last one; a second section for the same host continues it.
    text = (
        f'VirtualHost "{DOMAIN}"\n    authentication = "anonymous"\n'
        f'VirtualHost "{DOMAIN}"\n    authentication = "jitsi-anonymous"\n'
    )
    result, provider = prosody.secure(text, DOMAIN, GUEST, tmp_path)
    assert result.count('authentication = "internal_hashed"') == 2
    # The guest host goes after the last section of the main host, with Jitsi's provider.
    assert provider == "jitsi-anonymous"
    assert result.endswith(f'VirtualHost "{GUEST}"\n    authentication = "jitsi-anonymous"\n'
                           "    c2s_require_encryption = false\n")  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f'VirtualHost "{DOMAIN}"\n  authentication = provider', "is not a plain string"),
        (f'VirtualHost "{DOMAIN}"\n  authentication = [[anonymous]]', "is not a plain string"),
        (
            f'VirtualHost "{DOMAIN}"\nVirtualHost "{GUEST}"\n  authentication = "token"',
            f'guest host {GUEST} uses authentication = "token" (line 3)',
        ),
        (f'Component "{GUEST}"\nVirtualHost "{DOMAIN}"', f"{GUEST} is a Component"),
        (
            f'VirtualHost "{GUEST}"\nVirtualHost "{DOMAIN}"',
            f'VirtualHost "{GUEST}" comes before VirtualHost "{DOMAIN}" (line 1)',
        ),
        ('VirtualHost "other.example.com"', f'no VirtualHost "{DOMAIN}"'),
        # The first section of the guest host must follow the last one of the main host.
        (
            f'VirtualHost "{GUEST}"\nVirtualHost "{GUEST}"\nVirtualHost "{DOMAIN}"',
            f'VirtualHost "{GUEST}" comes before VirtualHost "{DOMAIN}" (line 1)',
        ),
        (
            f'VirtualHost "{DOMAIN}"\n\nVirtualHost "{GUEST}"\nVirtualHost "{DOMAIN}"',
            f'VirtualHost "{GUEST}" comes before VirtualHost "{DOMAIN}" (line 3)',
        ),
        (
            f'VirtualHost "{GUEST}"\nVirtualHost "{DOMAIN}"\nVirtualHost "{GUEST}"',
            f'VirtualHost "{GUEST}" comes before VirtualHost "{DOMAIN}" (line 1)',
        ),
    ],
)
def test_prosody_refusals(tmp_path, text, message):
    with pytest.raises(Refusal, match=message.replace("(", r"\(").replace(")", r"\)")):
        secured(text, tmp_path)


def test_smacks_on_the_guest_host_only_where_prosody_has_it(tmp_path):
    text = f'VirtualHost "{DOMAIN}"\n    authentication = "anonymous"\n'
    assert "smacks" not in secured(text, tmp_path)
    for found in prosody.SMACKS_FILES:
        root = tmp_path / found.replace("/", "_")
        (root / found).parent.mkdir(parents=True)
        (root / found).write_text("")
        assert secured(text, root).endswith('    modules_enabled = { "smacks" }\n')
    on_another_host = text + 'VirtualHost "x.org"\n    modules_enabled = { "smacks" }\n'
    assert 'c2s_require_encryption = false\n    modules_enabled = { "smacks" }' in secured(
        on_another_host, tmp_path
    )


# --- jicofo.conf -------------------------------------------------------------------------------

NEW_BLOCK = (
    "jicofo {\n  authentication: {\n    enabled: true\n    type: XMPP\n"
    f'    login-url: "{DOMAIN}"\n  }}\n}}\n'
)


def test_new_authentication_block_takes_the_files_indentation():
    text = "jicofo {\n    xmpp: {\n        client: {}\n    }\n}\n"
    assert jicofo.secure(text, DOMAIN) == (
        "jicofo {\n    xmpp: {\n        client: {}\n    }\n    authentication: {\n"
        f'      enabled: true\n      type: XMPP\n      login-url: "{DOMAIN}"\n    }}\n}}\n'
    )


def test_an_indented_jicofo_block_after_an_empty_first_line():
    text = "\n  jicofo {\n    a = 1\n  }\n"
    assert jicofo.secure(text, DOMAIN) == (
        "\n  jicofo {\n    a = 1\n    authentication: {\n      enabled: true\n      type: XMPP\n"
        f'      login-url: "{DOMAIN}"\n    }}\n  }}\n'
    )


def test_an_indented_one_line_jicofo_block_after_an_empty_first_line():
    assert jicofo.secure("\n  jicofo { a = 1 }\n", DOMAIN) == (
        "\n  jicofo { a = 1 \n    authentication: {\n      enabled: true\n      type: XMPP\n"
        f'      login-url: "{DOMAIN}"\n    }}\n  }}\n'
    )


def test_missing_fields_go_inside_a_one_line_object():
    text = "jicofo { authentication { enabled = false } }"
    assert jicofo.secure(text, DOMAIN) == (
        f'jicofo {{ authentication {{ enabled = true \n  type: XMPP\n  login-url: "{DOMAIN}"\n}} }}'
    )


def test_missing_fields_of_an_indented_one_line_object_keep_its_indentation():
    text = "jicofo {\n    authentication { enabled = true }\n}\n"
    assert jicofo.secure(text, DOMAIN) == (
        "jicofo {\n    authentication { enabled = true \n      type: XMPP\n"
        f'      login-url: "{DOMAIN}"\n    }}\n}}\n'
    )


def test_missing_fields_before_a_closing_brace_that_follows_a_value():
    text = "jicofo {\n  authentication {\n    enabled = false }\n}\n"
    assert jicofo.secure(text, DOMAIN) == (
        "jicofo {\n  authentication {\n    enabled = true \n    type: XMPP\n"
        f'    login-url: "{DOMAIN}"\n  }}\n}}\n'
    )


def test_a_new_authentication_object_goes_into_the_first_jicofo_block():
    text = "jicofo {\n  a = 1\n}\njicofo {\n  b = 2\n}\n"
    assert jicofo.secure(text, DOMAIN) == (
        "jicofo {\n  a = 1\n  authentication: {\n    enabled: true\n    type: XMPP\n"
        f'    login-url: "{DOMAIN}"\n  }}\n}}\njicofo {{\n  b = 2\n}}\n'
    )


def test_the_last_authentication_object_and_the_last_of_a_repeated_key_are_edited():
    # HOCON merges the objects and lets the last value of a key win: that is the one to set.
    two = (
        "jicofo { authentication { enabled = false } }\n"
        "jicofo { authentication { type = SHIBBOLETH } }\n"
    )
    assert jicofo.secure(two, DOMAIN) == (
        "jicofo { authentication { enabled = false } }\njicofo { authentication { type = XMPP \n"
        f'  enabled: true\n  login-url: "{DOMAIN}"\n}} }}\n'
    )
    repeated = (
        "jicofo { authentication { enabled = true, type = XMPP, type = SHIBBOLETH, "
        f'login-url = "{DOMAIN}" }} }}'
    )
    assert jicofo.secure(repeated, DOMAIN) == repeated.replace("SHIBBOLETH", "XMPP")


def test_jicofo_block_without_root_braces_and_with_them():
    assert jicofo.secure("{ jicofo { } }", DOMAIN) == (
        "{ jicofo { \n  authentication: {\n    enabled: true\n    type: XMPP\n"
        f'    login-url: "{DOMAIN}"\n  }}\n}} }}'
    )
    assert jicofo.secure("jicofo {\n}\n", DOMAIN) == NEW_BLOCK
    # Inside root braces, on one line: the first key right after the block's brace counts too.
    inline = "{ jicofo { authentication { enabled = false } } }"
    assert jicofo.secure(inline, DOMAIN) == (
        "{ jicofo { authentication { enabled = true \n  type: XMPP\n"
        f'  login-url: "{DOMAIN}"\n}} }} }}'
    )
    # `jicofo = 5` is no block: a new one is added.
    assert jicofo.secure("jicofo = 5", DOMAIN).startswith("jicofo = 5\njicofo {\n")


def test_jicofo_without_any_block_gets_a_new_one():
    assert jicofo.secure("", DOMAIN) == NEW_BLOCK
    assert jicofo.secure("a = 1", DOMAIN) == "a = 1\n" + NEW_BLOCK
    assert jicofo.secure("a = 1\n", DOMAIN) == "a = 1\n" + NEW_BLOCK


def test_jicofo_values_are_corrected_in_place():
    text = 'jicofo { authentication: { enabled: false, type: "SHIBBOLETH", login-url: "XMPP:x" } }'
    assert jicofo.secure(text, DOMAIN) == (
        f'jicofo {{ authentication: {{ enabled: true, type: XMPP, login-url: "{DOMAIN}" }} }}'
    )
    right = f'jicofo {{ authentication: {{ enabled: true, type: "XMPP", login-url: {DOMAIN} }} }}'
    assert jicofo.secure(right, DOMAIN) == right


def test_plainly_set_only_without_includes_dotted_keys_or_substitutions():
    plain = f'jicofo {{ authentication {{ enabled = true, type = XMPP, login-url = "{DOMAIN}" }} }}'
    assert jicofo.plainly_set(plain)
    assert not jicofo.plainly_set(plain + "\ninclude file(x)")
    assert not jicofo.plainly_set(plain + "\njicofo.authentication.enabled = false")
    assert not jicofo.plainly_set(plain + "\nx = ${y}")
    assert not jicofo.plainly_set("jicofo { }")


def test_a_non_object_authentication_is_refused():
    with pytest.raises(Refusal) as refused:
        jicofo.secure("jicofo {\n  authentication = true\n}", DOMAIN)
    assert str(refused.value) == (
        "jicofo.conf: jicofo.authentication at line 2 is not an object; set it by hand to "
        "{ enabled = true, type = XMPP, login-url = DOMAIN }"
    )


# --- files -------------------------------------------------------------------------------------


def test_links_are_followed_inside_the_root(tmp_path):
    (tmp_path / "etc/a").mkdir(parents=True)
    (tmp_path / "etc/a/real").write_text("x")
    (tmp_path / "etc/b").mkdir()
    (tmp_path / "etc/b/relative").symlink_to("../a/real")
    (tmp_path / "etc/b/absolute").symlink_to("/etc/b/relative")
    assert files.resolve_in_root(tmp_path, tmp_path / "etc/b/absolute") == (
        tmp_path / "etc/b/../a/real"
    )
    (tmp_path / "etc/b/loop").symlink_to("loop")
    with pytest.raises(Refusal, match="too many levels of symbolic links"):
        files.resolve_in_root(tmp_path, tmp_path / "etc/b/loop")


def test_up_to_19_links_in_a_row_are_followed(tmp_path):
    (tmp_path / "real").write_text("x")
    for k in range(1, 21):
        (tmp_path / f"link{k}").symlink_to("real" if k == 1 else f"link{k - 1}")
    assert files.resolve_in_root(tmp_path, tmp_path / "link19") == tmp_path / "real"
    with pytest.raises(Refusal, match="too many levels of symbolic links"):
        files.resolve_in_root(tmp_path, tmp_path / "link20")


def test_a_failed_write_leaves_the_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "f.cfg.lua"
    path.write_text("old")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(OSError):
        files.replace_with_backup(path, "old", "new")
    assert sorted(os.listdir(tmp_path)) == ["f.cfg.lua"]
    assert path.read_text() == "old"


@pytest.mark.parametrize("mode", [0o640, 0o755])
def test_backup_and_file_keep_owner_mode_and_bytes(tmp_path, mode):
    # jicofo.conf holds a password and belongs to jicofo: a root-owned copy would lock it out.
    require(os.geteuid() == 0, "giving a file to another owner needs root")
    path = tmp_path / "jicofo.conf"
    path.write_text("old\r\n")
    path.chmod(mode)
    os.chown(path, 4321, 4322)
    backup = files.replace_with_backup(path, "old\r\n", "new\r\n")
    assert backup == tmp_path / "jicofo.conf.bak"
    assert (backup.read_bytes(), path.read_bytes()) == (b"old\r\n", b"new\r\n")
    modes = {(p.stat().st_mode & 0o7777, p.stat().st_uid, p.stat().st_gid) for p in (backup, path)}
    assert modes == {(mode, 4321, 4322)}


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "config.js"
    path.write_bytes(b"\xff")
    with pytest.raises(Refusal, match="config.js is not UTF-8 text"):
        files.read_text(path)


def test_line_numbers_and_diffs():
    assert [files.line_no("a\nb\nc", k) for k in (0, 1, 2, 4)] == [1, 1, 2, 3]
    assert files.line_no("\nx", 1) == 2
    assert files.unified_diff("x", "a\nb\n", "a\nc\n") == (
        "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    )
