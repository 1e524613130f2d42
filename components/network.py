"""The instance's public address, and a firewall that opens exactly what is declared.

A network's own rules reach every VM in it: on the `default` network, default-allow-ssh and
default-allow-rdp open 22 and 3389 to the world, default-allow-icmp answers pings, and
default-allow-internal opens every port to the rest of the VPC, all at priority 65534. So this
VM's rules do not stop at allows: a deny of all ingress at priority DENY_PRIORITY, for this VM's
tag, beats every rule of the network but those at priority 0 (the lower number wins; at equal
priority a deny wins), and the program's own allows sit at ALLOW_PRIORITY, the one priority that
beats the deny. Whatever else the network holds, what reaches the VM is what is declared here.
"""

import dataclasses
from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from config_ingress import IngressRule

ANYWHERE = "0.0.0.0/0"
ANYWHERE_V6 = "::/0"
ALLOW_PRIORITY = 0
DENY_PRIORITY = 1


@dataclasses.dataclass(frozen=True)
class Scope:
    """Where a set of rules lives: the project, the network, and the tag they target."""

    project: str
    network: str
    tag: str
    parent: pulumi.Resource
    # What every rule's description starts with.
    label: str = "Jitsi Meet"

    def rule(self, name: str, description: str, priority: int, **match) -> gcp.compute.Firewall:
        """An ingress rule for the tagged VMs only."""
        return gcp.compute.Firewall(
            name,
            project=self.project,
            network=self.network,
            direction="INGRESS",
            priority=priority,
            description=f"{self.label}: {description}",
            target_tags=[self.tag],
            opts=pulumi.ResourceOptions(parent=self.parent),
            **match,
        )

    def deny_everything_else(self, name: str) -> list[gcp.compute.Firewall]:
        """All other ingress, from anywhere: one rule per address family (a rule holds one)."""
        return [
            self.rule(
                f"{name}-{suffix}",
                "deny what the program does not open",
                DENY_PRIORITY,
                denies=[gcp.compute.FirewallDenyArgs(protocol="all")],
                source_ranges=[source],
            )
            for suffix, source in (("deny-all", ANYWHERE), ("deny-all-v6", ANYWHERE_V6))
        ]


@dataclasses.dataclass(frozen=True)
class NetworkArgs:
    project: str
    region: str
    # VPC network name the rules apply to (the VM joins the same network).
    network: str
    # Network tag the rules target: they open ports on this deployment's VM only.
    target_tag: str
    # Who may reach port 22 (the deployment itself connects over SSH).
    ssh_source_ranges: Sequence[str]
    # The user's own openings (jitsi:extraIngress).
    extra_ingress: Sequence[IngressRule] = ()


class Network(pulumi.ComponentResource):
    address: pulumi.Output[str]
    firewalls: list[gcp.compute.Firewall]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jitsi:site:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Reserved, so the address (and a sslip.io domain made from it) survives a VM rebuild.
        ip = gcp.compute.Address(
            f"{name}-ip",
            project=args.project,
            region=args.region,
            address_type="EXTERNAL",
            description="Jitsi Meet public address",
            opts=child,
        )

        scope = Scope(args.project, args.network, args.target_tag, self)

        def ingress(suffix: str, description: str, allows: dict[str, list[str]], sources):
            """An allow rule for this deployment's VM only (its network tag)."""
            return scope.rule(
                f"{name}-{suffix}",
                description,
                ALLOW_PRIORITY,
                allows=[
                    gcp.compute.FirewallAllowArgs(protocol=protocol, ports=ports or None)
                    for protocol, ports in allows.items()
                ],
                source_ranges=list(sources),
            )

        web = ingress(
            "web",
            "HTTPS, HTTP (Let's Encrypt, redirect), media over UDP",
            {"tcp": ["80", "443"], "udp": ["10000"]},
            [ANYWHERE],
        )
        # coturn (jitsi-meet-turnserver, installed with jitsi-meet) relays media for clients
        # whose network blocks UDP 10000 to the bridge: 3478/udp (STUN/TURN) and 5349/tcp (TURN
        # over TLS, for networks that let only TCP out). A rule of its own, so it can be named.
        turn = ingress(
            "turn",
            "TURN relay (coturn) for clients behind restrictive networks",
            {"udp": ["3478"], "tcp": ["5349"]},
            [ANYWHERE],
        )
        ssh = ingress(
            "ssh",
            "SSH for the deployment and administrators",
            {"tcp": ["22"]},
            args.ssh_source_ranges,
        )
        if ANYWHERE in args.ssh_source_ranges:
            pulumi.log.warn(
                "jitsi:sshSourceRanges lets the whole Internet reach SSH (0.0.0.0/0); allow only "
                "your address: pulumi config set --path 'jitsi:sshSourceRanges[0]' 203.0.113.7/32",
                resource=self,
            )
        extra = []
        for rule in args.extra_ingress:
            what = rule.description or f"{rule.name} (jitsi:extraIngress)"
            extra.append(
                ingress(
                    f"extra-{rule.name}",
                    what,
                    {rule.protocol: list(rule.ports)},
                    rule.source_ranges,
                )
            )
            if ANYWHERE in rule.source_ranges:
                pulumi.log.warn(
                    f"jitsi:extraIngress rule {rule.name!r} opens {rule.protocol} "
                    f"{','.join(rule.ports) or ''} to the whole Internet (0.0.0.0/0)",
                    resource=self,
                )
        denies = scope.deny_everything_else(name)
        self.address = ip.address
        self.firewalls = [web, turn, ssh, *extra, *denies]
        self.register_outputs({"address": self.address})
