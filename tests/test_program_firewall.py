"""What reaches the VM is what the program declares, whatever other rules the network holds.

The registered firewall rules are evaluated together with the rules the `default` network comes
with (and ones made by hand), by Compute Engine's documented rules: only rules whose target
matches the VM count, the lowest priority number wins, a deny wins a tie, and ingress no rule
matches is denied. (The rehearsal loads the same rules into a real packet filter.)
"""

import ipaddress

import pytest
from program_mocks import fake_checkout, run_program, stack_config
from rehearsal.firewall import DEFAULT_NETWORK, HAND_MADE, registered

FIREWALL = "gcp:compute/firewall:Firewall"
SSH_RANGE = "198.51.100.0/24"
# The `default` network's rules, a hand-made allow-all at the console's default priority, and
# someone's exception at a high priority, for Prosody's BOSH port.
NETWORK_RULES = [
    *DEFAULT_NETWORK,
    *HAND_MADE,
    ("hand-made-bosh", 100, "allow", [("tcp", ["5280"])], ["0.0.0.0/0"]),
]

# (source, protocol, port) -> the deciding rule (None: the implied deny), and the action.
TABLE = [
    (("203.0.113.50", "tcp", 443), "jitsi-net-web", "allow"),
    (("203.0.113.50", "tcp", 80), "jitsi-net-web", "allow"),
    (("203.0.113.50", "udp", 10000), "jitsi-net-web", "allow"),
    (("203.0.113.50", "udp", 3478), "jitsi-net-turn", "allow"),
    (("203.0.113.50", "tcp", 5349), "jitsi-net-turn", "allow"),
    (("198.51.100.7", "tcp", 22), "jitsi-net-ssh", "allow"),
    # SSH from elsewhere: default-allow-ssh would open it; the deny beats it.
    (("203.0.113.50", "tcp", 22), "jitsi-net-deny-all", "deny"),
    (("203.0.113.50", "tcp", 3389), "jitsi-net-deny-all", "deny"),
    (("203.0.113.50", "icmp", None), "jitsi-net-deny-all", "deny"),
    # Prosody, jicofo and the bridge's internal ports: not from the VPC, not from the Internet.
    (("10.128.0.5", "tcp", 5222), "jitsi-net-deny-all", "deny"),
    (("10.128.0.5", "tcp", 5347), "jitsi-net-deny-all", "deny"),
    (("203.0.113.50", "tcp", 5280), "jitsi-net-deny-all", "deny"),
    (("203.0.113.50", "tcp", 8080), "jitsi-net-deny-all", "deny"),
    # The user's declared opening, and only from where it says.
    (("10.0.0.5", "tcp", 9100), "jitsi-net-extra-monitoring", "allow"),
    (("10.0.0.6", "tcp", 9100), "jitsi-net-deny-all", "deny"),
    (("2001:db8::1", "tcp", 22), "jitsi-net-deny-all-v6", "deny"),
    (("2001:db8::1", "tcp", 443), "jitsi-net-deny-all-v6", "deny"),
]
EXTRA = (
    '[{"name": "monitoring", "protocol": "tcp", "ports": ["9100"], '
    '"sourceRanges": ["10.0.0.5/32"], "description": "Prometheus node exporter"}]'
)


@pytest.fixture
def deployed(tmp_path, monkeypatch):
    fake_checkout(tmp_path, monkeypatch)
    cfg, keys = stack_config(jitsi__sshSourceRanges=f'["{SSH_RANGE}"]', jitsi__extraIngress=EXTRA)
    return run_program(cfg, keys, monkeypatch)


def _registered(run) -> tuple[list[tuple], list[str]]:
    tags = run.named("host-vm").inputs["tags"]
    return registered(run, tags), tags


def _port_matches(protocols, protocol, port) -> bool:
    for name, ports in protocols:
        if name not in ("all", protocol):
            continue
        if not ports or port is None:
            return True
        for item in ports:
            low, _, high = item.partition("-")
            if int(low) <= port <= int(high or low):
                return True
    return False


def decide(rules, source, protocol, port) -> tuple[str | None, str]:
    address = ipaddress.ip_address(source)
    matching = [
        (priority, action != "deny", name, action)
        for name, priority, action, protocols, sources in rules
        if any(
            address.version == ipaddress.ip_network(s).version
            and address in ipaddress.ip_network(s)
            for s in sources
        )
        and _port_matches(protocols, protocol, port)
    ]
    if not matching:
        return None, "deny"
    # Lowest priority number first; at equal priority the deny (False sorts first) wins.
    _, _, name, action = min(matching)
    return name, action


def test_every_packet_is_decided_by_the_programs_own_rules(deployed):
    ours, vm_tags = _registered(deployed)
    for r in deployed.of_type(FIREWALL):
        # Every rule of the program targets this VM's tag, never the whole network.
        assert r.inputs["direction"] == "INGRESS" and r.inputs["targetTags"] == vm_tags
    for packet, rule, action in TABLE:
        assert decide(ours + NETWORK_RULES, *packet) == (rule, action), packet


def test_the_deny_beats_every_other_rule_of_the_network_and_the_allows_beat_the_deny(deployed):
    ours, _ = _registered(deployed)
    allows = {priority for _, priority, action, _, _ in ours if action == "allow"}
    denies = {priority for _, priority, action, _, _ in ours if action == "deny"}
    assert allows == {0} and denies == {1}
    deny_rules = [r for r in ours if r[2] == "deny"]
    # All protocols from every IPv4 and IPv6 source, one rule per family (Compute Engine's limit).
    assert sorted((r[3], tuple(r[4])) for r in deny_rules) == [
        ([("all", [])], ("0.0.0.0/0",)),
        ([("all", [])], ("::/0",)),
    ]


def test_without_the_deny_the_networks_rules_would_expose_the_vm(deployed):
    # The control: the same evaluation, the deny rules taken out, lets SSH and the VPC in.
    ours, _ = _registered(deployed)
    allows_only = [r for r in ours if r[2] == "allow"]
    assert decide(allows_only + NETWORK_RULES, "203.0.113.50", "tcp", 22)[1] == "allow"
    assert decide(allows_only + NETWORK_RULES, "10.128.0.5", "tcp", 5222)[1] == "allow"


def test_an_extra_opening_to_the_world_is_warned_about(tmp_path, monkeypatch):
    fake_checkout(tmp_path, monkeypatch)
    world = (
        '[{"name": "status", "protocol": "tcp", "ports": ["8443"], "sourceRanges": ["0.0.0.0/0"]}]'
    )
    cfg, keys = stack_config(jitsi__extraIngress=world)
    run = run_program(cfg, keys, monkeypatch)
    assert run.named("net-extra-status").inputs["sourceRanges"] == ["0.0.0.0/0"]
    assert any("'status'" in w and "whole Internet" in w for w in run.warnings)
    # It names what is open, so the deployer sees at once whether that was meant.
    assert any("opens tcp 8443 to the whole Internet" in w for w in run.warnings)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"name": "x"}', "must be a list of rules"),
        (
            '[{"name": "Mon", "protocol": "tcp", "ports": ["1"], "sourceRanges": ["10.0.0.5/32"]}]',
            ".name must be lowercase",
        ),
        (
            '[{"name": "m", "protocol": "gre", "ports": ["1"], "sourceRanges": ["10.0.0.5/32"]}]',
            ".protocol must be tcp, udp or icmp",
        ),
        (
            '[{"name": "m", "protocol": "tcp", "ports": ["70000"], '
            '"sourceRanges": ["10.0.0.5/32"]}]',
            "is not a port (1-65535)",
        ),
        (
            '[{"name": "m", "protocol": "tcp", "ports": ["9-2"], "sourceRanges": ["10.0.0.5/32"]}]',
            "is not a port (1-65535)",
        ),
        (
            '[{"name": "m", "protocol": "tcp", "ports": [], "sourceRanges": ["10.0.0.5/32"]}]',
            ".ports must list the tcp ports",
        ),
        (
            '[{"name": "m", "protocol": "icmp", "ports": ["1"], "sourceRanges": ["10.0.0.5/32"]}]',
            "icmp has no ports",
        ),
        (
            '[{"name": "m", "protocol": "tcp", "ports": ["1"], "sourceRanges": ["10.0.0.5/24"]}]',
            "is not an IPv4 CIDR",
        ),
        (
            '[{"name": "m", "protocol": "tcp", "ports": ["1"], "sourceRanges": ["2001:db8::/32"]}]',
            "is not an IPv4 CIDR",
        ),
        (
            '[{"name": "m", "protocol": "tcp", "ports": ["1"]}]',
            ".sourceRanges must be a non-empty list of IPv4 CIDRs",
        ),
        (
            '[{"name": "m", "protocol": "tcp", "port": ["1"], "sourceRanges": ["10.0.0.5/32"]}]',
            ".port is not a rule field",
        ),
        (
            '[{"name": "m", "protocol": "icmp", "sourceRanges": ["10.0.0.5/32"]},'
            ' {"name": "m", "protocol": "icmp", "sourceRanges": ["10.0.0.6/32"]}]',
            "used twice",
        ),
    ],
)
def test_a_bad_extra_rule_fails_with_its_message_before_any_resource(
    tmp_path, monkeypatch, value, message
):
    fake_checkout(tmp_path, monkeypatch)
    cfg, keys = stack_config(jitsi__extraIngress=value)
    run = run_program(cfg, keys, monkeypatch, allow_error=True)
    assert message in str(run.error)
    assert str(run.error).count("\n") == 0
    assert run.resources == []
