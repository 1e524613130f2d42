"""Secrets stay secret, and a second run with the same config changes nothing."""

import hashlib
import json
import shlex
import shutil

import pytest
from program_mocks import fake_checkout, outside_secrets, run_program, stack_config, unwrap

PASSWORDS = {"alice": "alice-secret-password-1", "bob": "bob-secret-pass-2"}
COMMAND = "command:remote:Command"
LOCAL = "command:local:Command"


@pytest.fixture
def scripts(tmp_path, monkeypatch):
    return fake_checkout(tmp_path, monkeypatch)


@pytest.fixture
def run(scripts, monkeypatch):
    def go(passwords=PASSWORDS, **overrides):
        cfg, keys = stack_config(
            jitsi__moderators=json.dumps(passwords),
            jitsi__generatedModerators='["carol"]',
            **overrides,
        )
        return run_program(cfg, keys, monkeypatch)

    return go


def _all_passwords(result) -> list[str]:
    return [*PASSWORDS.values(), *result.exports["generatedPasswords"].values()]


def _forms(password: str) -> list[str]:
    """The password and the digests someone might put in a trigger."""
    data = password.encode()
    return [password] + [hashlib.new(a, data).hexdigest() for a in ("md5", "sha1", "sha256")]


def test_no_password_or_digest_appears_outside_a_secret(run):
    result = run()
    assert len(_all_passwords(result)) == 3
    for resource in result.resources:
        plain = json.dumps(outside_secrets(resource.inputs))
        for password in _all_passwords(result):
            for form in _forms(password):
                assert form not in plain, f"{resource.name} exposes a password"


def _commands(result):
    """Every command the deployment runs: on the VM, and on the deployer's machine."""
    return result.of_type(COMMAND) + result.of_type(LOCAL)


def test_no_password_in_any_command_line_or_environment_even_inside_a_secret(run):
    result = run()
    for command in _commands(result):
        words = ("create", "update", "delete", "environment")
        lines = json.dumps([unwrap(command.inputs.get(k)) for k in words])
        triggers = json.dumps(unwrap(command.inputs.get("triggers")))
        for password in _all_passwords(result):
            for form in _forms(password):
                assert form not in lines and form not in triggers, command.name


def test_every_stdin_carrying_a_password_is_secret(run):
    result = run()
    carrying = []
    for command in _commands(result):
        stdin = command.inputs.get("stdin")
        if any(p in json.dumps(unwrap(stdin)) for p in _all_passwords(result)):
            carrying.append(command.name)
            assert outside_secrets(stdin) == "[secret]", command.name
    # The account step and the two proofs.
    assert sorted(carrying) == ["jitsi-moderators", "jitsi-prove-outside", "jitsi-verify-auth"]


def test_the_account_step_keeps_the_passwords_on_stdin_only(run):
    result = run()
    generated = result.exports["generatedPasswords"]["carol"]
    step = result.named("moderators")
    assert json.loads(unwrap(step.inputs["stdin"])) == {**PASSWORDS, "carol": generated}
    # Its output names who was added or removed; it never holds a password.
    assert step.inputs["logging"] == "stdout"
    assert {"stdout", "stderr"} <= set(step.additional_secret_outputs)
    assert "environment" not in step.inputs
    words = shlex.split(step.inputs["create"])
    assert words[:3] == ["sudo", "python3", "-B"] and words[3].endswith("/moderators")
    assert words[4:7] == ["sync", "--domain", "203-0-113-10.sslip.io"]
    assert words[-2:] == ["--names", "alice,bob,carol"]
    assert step.inputs["update"] == step.inputs["create"]
    # No delete: a replaced or destroyed VM is never dialled to remove accounts.
    assert "delete" not in step.inputs


def test_verification_gets_every_credential_as_secret_json(run):
    result = run()
    stdin = result.named("verify-auth").inputs["stdin"]
    assert outside_secrets(stdin) == "[secret]"
    expected = {**PASSWORDS, "carol": result.exports["generatedPasswords"]["carol"]}
    assert json.loads(unwrap(stdin)) == expected


def test_secret_outputs_are_secret_and_the_rest_hold_no_password(run):
    result = run()
    assert result.secret_exports["generatedPasswords"] is True
    assert result.secret_exports["sshPrivateKey"] is True
    assert result.exports["moderators"] == ["alice", "bob", "carol"]
    plain = json.dumps({k: v for k, v in result.exports.items() if not result.secret_exports[k]})
    for password in _all_passwords(result):
        assert password not in plain
    assert "PRIVATE KEY" not in plain


def test_ssh_private_key_is_secret_wherever_it_is_used(run):
    result = run()
    for resource in result.resources:
        assert "PRIVATE KEY" not in json.dumps(outside_secrets(resource.inputs)), resource.name


def test_second_run_with_the_same_config_changes_no_input(run):
    first, second = run().by_urn(), run().by_urn()
    assert first.keys() == second.keys()
    for urn, a in first.items():
        b = second[urn]
        assert unwrap(a.inputs) == unwrap(b.inputs), a.name
        assert outside_secrets(a.inputs) == outside_secrets(b.inputs), a.name


def test_the_moderators_listed_in_another_order_give_the_same_stdin_so_nothing_reruns(run):
    # `pulumi config set --path` may write the object's keys in any order.
    turned = dict(reversed(PASSWORDS.items()))
    assert list(turned) != list(PASSWORDS)
    first, second = run(), run(passwords=turned)
    for step in ("moderators", "verify-auth", "prove-outside"):
        stdin = unwrap(first.named(step).inputs["stdin"])
        assert unwrap(second.named(step).inputs["stdin"]) == stdin, step


def test_generated_moderator_passwords_are_letters_and_digits_easy_to_type(run):
    generated = run().named("moderator-carol-password").inputs
    assert generated["special"] is False
    assert generated["length"] >= 20


def _triggers(result) -> dict[str, list]:
    return {r.name: r.inputs.get("triggers") for r in result.resources if "triggers" in r.inputs}


def test_a_changed_script_reruns_its_step_and_what_builds_on_it(run, scripts):
    before = _triggers(run())
    (scripts / "install_jitsi" / "wait.py").write_text("# changed\n")
    after = _triggers(run())
    changed = {name for name in before if before[name] != after[name]}
    # (The certificate step re-runs with the installer: a re-run install may bring a new one.)
    assert changed == {
        "jitsi-setup-install",
        "jitsi-setup-secure",
        "jitsi-verify-auth",
        "jitsi-prove-certificate",
        "jitsi-prove-outside",
    }

    (scripts / "moderators" / "sync.py").write_text("# changed\n")
    again = _triggers(run())
    changed = {name for name in after if after[name] != again[name]}
    assert changed == {"jitsi-moderators", "jitsi-verify-auth", "jitsi-prove-outside"}

    # The code the tools share re-runs every step whose tool imports it, and not the installer.
    (scripts / "shared" / "configjs.py").write_text("# changed\n")
    shared = _triggers(run())
    changed = {name for name in again if again[name] != shared[name]}
    assert changed == {
        "jitsi-setup-secure",
        "jitsi-moderators",
        "jitsi-verify-auth",
        "jitsi-prove-certificate",
        "jitsi-prove-outside",
    }

    # The old path's launcher is shipped (the upload's archive changes) but runs in no step.
    (scripts / "moderator.py").write_text("# changed\n")
    assert _triggers(run()) == shared

    # An editor's leftover inside a tool's folder, or its README, re-runs nothing.
    (scripts / "secure_domain" / "plan.py~").write_text("backup")
    (scripts / "secure_domain" / "README.md").write_text("# secure_domain, documented\n")
    assert _triggers(run()) == shared


def test_a_changed_password_updates_stdin_only_so_the_step_runs_update(run):
    first = run().by_urn()
    second = run(passwords={**PASSWORDS, "bob": "a-brand-new-password"}).by_urn()
    assert first.keys() == second.keys()
    for urn, a in first.items():
        b = second[urn]
        differs = {k for k in a.inputs if unwrap(a.inputs[k]) != unwrap(b.inputs.get(k))}
        if a.name in ("jitsi-moderators", "jitsi-verify-auth", "jitsi-prove-outside"):
            # stdin differs, triggers do not: Pulumi updates in place instead of replacing.
            assert differs == {"stdin"}, a.name
        else:
            assert differs == set(), a.name


@pytest.mark.parametrize("count", [1, 3, 50])
def test_one_changed_password_reruns_two_steps_and_a_new_list_the_same_two(run, count):
    passwords = {f"user{i:02d}": f"password-number-{i:02d}" for i in range(count)}
    first = run(passwords=passwords).by_urn()
    changed = run(passwords={**passwords, "user00": "a-brand-new-password"}).by_urn()
    grown = run(passwords={**passwords, "zoe": "zoe-secret-password"}).by_urn()
    for other in (changed, grown):
        assert other.keys() == first.keys()
        touched = {
            a.name
            for urn, a in first.items()
            if a.type.startswith("command:remote:")
            and unwrap(a.inputs) != unwrap(other[urn].inputs)
        }
        assert touched == {"jitsi-moderators", "jitsi-verify-auth"}
    # Neither is a replacement: the triggers stay.
    assert _triggers(run(passwords=passwords)) == _triggers(
        run(passwords={**passwords, "zoe": "x" * 12})
    )


def test_missing_script_stops_the_program_with_its_name(run, scripts):
    shutil.rmtree(scripts / "verify_auth")
    with pytest.raises(Exception, match=r"scripts/verify_auth/ not found"):
        run()


def test_a_new_jitsi_version_updates_the_install_step_in_place_and_nothing_else(run):
    before = run(jitsi__version="2.0.10314-1").by_urn()
    after = run(jitsi__version="2.0.10590-1").by_urn()
    assert before.keys() == after.keys()
    for urn, a in before.items():
        differs = {k for k in a.inputs if unwrap(a.inputs[k]) != unwrap(after[urn].inputs.get(k))}
        # Its command line, not its triggers: Pulumi updates it (runs create again on the same
        # VM) rather than replacing anything; the securing step follows the versions it prints.
        assert differs == ({"create"} if a.name == "jitsi-setup-install" else set()), a.name
