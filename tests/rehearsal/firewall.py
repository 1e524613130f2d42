"""The program's firewall rules, applied to the rehearsal machine as Compute Engine applies them.

Compute Engine filters a VM's ingress with the network's rules that target it (its tags, or no
target at all): the rule with the lowest priority number decides, a deny before an allow of the
same priority, and what no rule matches is dropped; replies to the VM's own connections pass.
`ruleset` turns the registered `gcp:compute/firewall:Firewall` resources into one nftables table
with exactly that order, for the input hook of the machine's network namespace. The network's
own rules come along: those of Compute Engine's `default` network, and a colleague's hand-made
allow-all, which only the program's deny keeps out. So the proof from outside meets what the
program declared, and nothing else.
"""

import ipaddress
import subprocess

from program_mocks import Run

FIREWALL = "gcp:compute/firewall:Firewall"
TABLE = "jitsi_gce"
EVERY_PORT = ["0-65535"]
# (name, priority, action, [(protocol, ports)], sources): the rules Compute Engine's `default`
# network comes with, for every VM in it.
DEFAULT_NETWORK = [
    ("default-allow-ssh", 65534, "allow", [("tcp", ["22"])], ["0.0.0.0/0"]),
    ("default-allow-rdp", 65534, "allow", [("tcp", ["3389"])], ["0.0.0.0/0"]),
    ("default-allow-icmp", 65534, "allow", [("icmp", [])], ["0.0.0.0/0"]),
    (
        "default-allow-internal",
        65534,
        "allow",
        [("tcp", EVERY_PORT), ("udp", EVERY_PORT), ("icmp", [])],
        ["10.128.0.0/9"],
    ),
]
# A rule someone made by hand, at the console's default priority, for every VM.
HAND_MADE = [("hand-made-allow-all", 1000, "allow", [("all", [])], ["0.0.0.0/0"])]


def _applies(inputs: dict, vm_tags: list[str]) -> bool:
    targets = inputs.get("targetTags") or []
    return inputs.get("direction", "INGRESS") == "INGRESS" and (
        not targets or bool(set(targets) & set(vm_tags))
    )


def _match(protocol: str, ports: list[str]) -> str:
    if protocol == "all":
        return ""
    if protocol in ("tcp", "udp") and ports:
        return f"{protocol} dport {{ {', '.join(ports)} }} "
    name = {"icmp": "icmp", "tcp": "tcp", "udp": "udp"}[protocol]
    return f"meta l4proto {name} "


def registered(run: Run, vm_tags: list[str], tagged: dict | None = None) -> list[tuple]:
    """The program's rules that apply to the VM, as (name, priority, action, protocols,
    sources). `tagged`: network tag -> the addresses of the machines that carry it, which a
    rule's source tags stand for (as Compute Engine matches them, by the VMs' addresses)."""
    rules = []
    for resource in run.of_type(FIREWALL):
        inputs = resource.inputs
        if not _applies(inputs, vm_tags):
            continue
        action, key = ("allow", "allows") if inputs.get("allows") else ("deny", "denies")
        protocols = [(p["protocol"], list(p.get("ports") or [])) for p in inputs[key]]
        priority = int(inputs.get("priority", 1000))
        # A rule by source tag (the bridges' 5222) matches no address of the rehearsal's host,
        # only the machines given as carrying the tag.
        sources = list(inputs.get("sourceRanges") or [])
        for tag in inputs.get("sourceTags") or []:
            sources += [f"{address}/32" for address in (tagged or {}).get(tag, [])]
        rules.append((resource.name, priority, action, protocols, sources))
    return rules


def ruleset(rules: list[tuple]) -> str:
    """An nftables script that replaces the table with these rules, in decision order."""
    lines = [
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        "  chain ingress {",
        "    type filter hook input priority 0; policy drop;",
        '    iif "lo" accept',
        "    ct state established,related accept",
    ]
    # Lowest priority number first; at equal priority a deny first.
    for name, _, action, protocols, sources in sorted(rules, key=lambda r: (r[1], r[2] != "deny")):
        verdict = "drop" if action == "deny" else "accept"
        for source in sources:
            family = "ip" if ipaddress.ip_network(source).version == 4 else "ip6"
            for protocol, ports in protocols:
                match = _match(protocol, ports)
                lines.append(f'    {family} saddr {source} {match}{verdict} comment "{name}"')
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def apply(netns: str, script: str) -> None:
    """Loads the script into the machine's network namespace (atomically: one transaction)."""
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nft refused the firewall model: {done.stderr.strip()}\n{script}")
