"""What reaches a bridge, and who reaches Prosody's 5222, whatever else the network holds.

The registered rules are evaluated with the `default` network's rules and a hand-made allow-all,
by Compute Engine's documented order (test_program_firewall.py): the rules whose target tags
match the VM, the lowest priority number first, a deny before an allow of the same priority,
and ingress no rule matches denied. A rule with source tags matches the internal address of a
VM that carries one of them, and nothing else.
"""

import ipaddress
import json
import shutil

import pytest
from program_mocks import fake_checkout, run_program, stack_config
from rehearsal.firewall import DEFAULT_NETWORK, HAND_MADE
from support import ROOT

FIREWALL = "gcp:compute/firewall:Firewall"
BRIDGE = ["jitsi-bridges-test"]
SIGNALLING = ["jitsi-test"]
# Internal addresses: a bridge (it carries the bridges' tag), another VM of the VPC.
A_BRIDGE = ("10.128.0.9", BRIDGE)
A_VPC_VM = ("10.128.0.5", [])
INTERNET = ("203.0.113.50", [])
PROBER = ("35.191.3.4", [])
LB_PROBER = ("130.211.1.1", [])
V6 = ("2001:db8::1", [])

# (target VM's tags, source, protocol, port) -> the deciding rule and the action.
TABLE = [
    # A bridge: media from anyone, its health port from Google's checks, nothing else.
    ((BRIDGE, INTERNET, "udp", 10000), ("jitsi-bridges-media", "allow")),
    ((BRIDGE, PROBER, "tcp", 8080), ("jitsi-bridges-probes", "allow")),
    ((BRIDGE, LB_PROBER, "tcp", 8080), ("jitsi-bridges-probes", "allow")),
    ((BRIDGE, INTERNET, "tcp", 8080), ("jitsi-bridges-deny-all", "deny")),
    ((BRIDGE, A_VPC_VM, "tcp", 8080), ("jitsi-bridges-deny-all", "deny")),
    ((BRIDGE, PROBER, "tcp", 22), ("jitsi-bridges-deny-all", "deny")),
    ((BRIDGE, INTERNET, "tcp", 22), ("jitsi-bridges-deny-all", "deny")),
    ((BRIDGE, A_VPC_VM, "tcp", 22), ("jitsi-bridges-deny-all", "deny")),
    ((BRIDGE, INTERNET, "icmp", None), ("jitsi-bridges-deny-all", "deny")),
    ((BRIDGE, INTERNET, "tcp", 443), ("jitsi-bridges-deny-all", "deny")),
    ((BRIDGE, A_BRIDGE, "tcp", 5222), ("jitsi-bridges-deny-all", "deny")),
    ((BRIDGE, V6, "udp", 10000), ("jitsi-bridges-deny-all-v6", "deny")),
    # The signalling node: 5222 for the bridges alone; the rest as before.
    ((SIGNALLING, A_BRIDGE, "tcp", 5222), ("jitsi-bridges-xmpp", "allow")),
    ((SIGNALLING, A_VPC_VM, "tcp", 5222), ("jitsi-net-deny-all", "deny")),
    ((SIGNALLING, INTERNET, "tcp", 5222), ("jitsi-net-deny-all", "deny")),
    ((SIGNALLING, PROBER, "tcp", 5222), ("jitsi-net-deny-all", "deny")),
    ((SIGNALLING, A_BRIDGE, "tcp", 5280), ("jitsi-net-deny-all", "deny")),
    ((SIGNALLING, A_BRIDGE, "tcp", 5347), ("jitsi-net-deny-all", "deny")),
    ((SIGNALLING, INTERNET, "tcp", 443), ("jitsi-net-web", "allow")),
    ((SIGNALLING, INTERNET, "udp", 10000), ("jitsi-net-web", "allow")),
]


@pytest.fixture(scope="module")
def firewall(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        scripts = fake_checkout(tmp_path_factory.mktemp("checkout"), monkeypatch)
        shutil.copytree(ROOT / "scripts" / "bridge", scripts / "bridge")
        cfg, keys = stack_config(jitsi__videobridges=json.dumps({"max": 3}))
        yield run_program(cfg, keys, monkeypatch).of_type(FIREWALL)


def _rules(firewall, vm_tags: list[str]) -> list[tuple]:
    """(name, priority, action, protocols, sources, source tags) of the rules for these tags."""
    rules = []
    for resource in firewall:
        inputs = resource.inputs
        if inputs["direction"] != "INGRESS" or not set(inputs["targetTags"]) & set(vm_tags):
            continue
        action, key = ("allow", "allows") if inputs.get("allows") else ("deny", "denies")
        protocols = [(p["protocol"], list(p.get("ports") or [])) for p in inputs[key]]
        rules.append(
            (
                resource.name,
                int(inputs["priority"]),
                action,
                protocols,
                inputs.get("sourceRanges", []),
                inputs.get("sourceTags", []),
            )
        )
    network = [(*rule, []) for rule in DEFAULT_NETWORK + HAND_MADE]
    return rules + network


def _port_matches(protocols, protocol, port) -> bool:
    for name, ports in protocols:
        if name in ("all", protocol) and (not ports or port is None):
            return True
        if name == protocol and any(
            int(p.partition("-")[0]) <= port <= int(p.partition("-")[2] or p) for p in ports
        ):
            return True
    return False


def decide(rules, source, protocol, port) -> tuple[str | None, str]:
    address, tags = ipaddress.ip_address(source[0]), source[1]
    matching = [
        (priority, action != "deny", name, action)
        for name, priority, action, protocols, ranges, source_tags in rules
        if (
            any(
                address.version == ipaddress.ip_network(r).version
                and address in ipaddress.ip_network(r)
                for r in ranges
            )
            # A source tag stands for the internal addresses of the VMs that carry it.
            or (address.is_private and bool(set(source_tags) & set(tags)))
        )
        and _port_matches(protocols, protocol, port)
    ]
    if not matching:
        return None, "deny"
    _, _, name, action = min(matching)
    return name, action


@pytest.mark.parametrize(("packet", "decision"), TABLE, ids=[str(p) for p, _ in TABLE])
def test_each_packet_is_decided_by_the_programs_own_rules(firewall, packet, decision):
    vm_tags, source, protocol, port = packet
    assert decide(_rules(firewall, vm_tags), source, protocol, port) == decision


def test_the_bridges_rules_have_the_signalling_nodes_shape(firewall):
    ours = [r for r in _rules(firewall, BRIDGE) if r[0].startswith("jitsi-bridges-")]
    assert {r[1] for r in ours if r[2] == "allow"} == {0}
    denies = sorted((r[1], r[3], tuple(r[4])) for r in ours if r[2] == "deny")
    assert denies == [(1, [("all", [])], ("0.0.0.0/0",)), (1, [("all", [])], ("::/0",))]
    # No rule of the bridges reaches the signalling node's tag, but the one for 5222, by tag.
    (xmpp,) = [r for r in _rules(firewall, SIGNALLING) if r[0].startswith("jitsi-bridges-")]
    assert (xmpp[0], xmpp[1], xmpp[3], xmpp[4], xmpp[5]) == (
        "jitsi-bridges-xmpp",
        0,
        [("tcp", ["5222"])],
        [],
        BRIDGE,
    )


def test_without_the_deny_the_networks_rules_would_expose_the_bridges(firewall):
    allows_only = [r for r in _rules(firewall, BRIDGE) if r[2] == "allow"]
    assert decide(allows_only, INTERNET, "tcp", 22)[1] == "allow"
    assert decide(allows_only, A_VPC_VM, "tcp", 8080)[1] == "allow"
