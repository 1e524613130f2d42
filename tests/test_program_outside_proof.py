"""The proof from outside, under mocks: what the deployer's machine runs, with what, and when."""

import os
import shlex
import sys

import pytest
from program_mocks import (
    PROJECT_IP,
    fake_checkout,
    outside_secrets,
    run_program,
    stack_config,
    stdout_mark,
    unwrap,
)

LOCAL = "command:local:Command"
DOMAIN, GUEST = "meet.example.org", "guest.meet.example.org"


@pytest.fixture
def run(tmp_path, monkeypatch):
    fake_checkout(tmp_path, monkeypatch)

    def go(**overrides):
        cfg, keys = stack_config(jitsi__domain=DOMAIN, **overrides)
        return run_program(cfg, keys, monkeypatch)

    return go


def test_the_probe_runs_against_the_reserved_address_trusting_the_served_certificate(run):
    result = run(jitsi__sshUser="deployer")
    outside = result.named("prove-outside")
    assert shlex.split(outside.inputs["create"]) == [
        "python3",
        "-B",
        "scripts/verify_auth",
        "--domain",
        DOMAIN,
        "--guest-domain",
        GUEST,
        "--connect",
        PROJECT_IP,
        "--expect-address",
        PROJECT_IP,
        "--ca-env",
        "JITSI_SERVED_CERTIFICATE",
        "--transports",
        "bosh,websocket",
        "--closed-ports",
        "5222,5269,5280,5347,8080,8888,9090",
        "--focus-wait",
        "120",
    ]
    # The certificate comes from the VM, read over the pinned SSH connection, never from config.
    certificate = result.named("prove-certificate")
    assert shlex.split(certificate.inputs["create"]) == [
        "python3",
        "-B",
        "/home/deployer/jitsi-deploy/certificate",
        "--domain",
        DOMAIN,
    ]
    assert outside.inputs["environment"] == {
        "JITSI_SERVED_CERTIFICATE": stdout_mark("jitsi-prove-certificate")
    }
    assert certificate.urn in outside.dependencies
    assert result.named("verify-auth").urn in certificate.dependencies
    # The moderators' passwords on the secret stdin only, as for the proof on the VM.
    assert outside_secrets(outside.inputs["stdin"]) == "[secret]"
    assert {"stdout", "stderr"} <= set(outside.additional_secret_outputs)


def test_two_deployers_on_two_machines_get_the_same_inputs(tmp_path, monkeypatch):
    seen = []
    for machine in ("laptop", "ci-runner"):
        home = tmp_path / machine
        home.mkdir()
        fake_checkout(home, monkeypatch)
        # Another interpreter, another PATH, another home and checkout folder.
        monkeypatch.setattr(sys, "executable", f"/opt/{machine}/bin/python3.12")
        monkeypatch.setenv("PATH", f"/opt/{machine}/bin:/usr/bin")
        monkeypatch.setenv("HOME", str(home))
        cfg, keys = stack_config(jitsi__domain=DOMAIN)
        result = run_program(cfg, keys, monkeypatch)
        seen.append({r.name: unwrap(r.inputs) for r in result.of_type(LOCAL)})
    assert seen[0] == seen[1] and seen[0]
    assert not any(machine in repr(seen) for machine in ("laptop", "ci-runner", os.sep + "tmp"))


def test_what_reaches_the_vm_changing_runs_the_proof_again(run):
    def triggers(**overrides):
        return unwrap(run(**overrides).named("prove-outside").inputs["triggers"])

    base = triggers()
    assert triggers(jitsi__sshSourceRanges='["198.51.100.0/24"]') != base
    extra = (
        '[{"name": "mon", "protocol": "tcp", "ports": ["9100"], "sourceRanges": ["10.0.0.5/32"]}]'
    )
    assert triggers(jitsi__extraIngress=extra) != base
    assert triggers(jitsi__dnsZone="example-org") != base
    # A password is not a reason to replace it: its stdin changes, and it runs as an update.
    assert triggers(jitsi__moderators='{"alice": "another-secret-password"}') == base


def test_the_switch_leaves_the_proof_on_the_vm_only(run):
    result = run(jitsi__outsideProof="false")
    assert result.of_type(LOCAL) == []
    assert not [r for r in result.resources if "prove" in r.name]
    assert result.named("verify-auth")
    with pytest.raises(Exception, match="must be true or false"):
        run(jitsi__outsideProof="sometimes")
