"""The instance's public address and the firewall rules that open it."""

import dataclasses
from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

ANYWHERE = "0.0.0.0/0"


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

        def ingress(suffix: str, description: str, allows: dict[str, list[str]], sources):
            """An allow rule for this deployment's VM only (its network tag)."""
            return gcp.compute.Firewall(
                f"{name}-{suffix}",
                project=args.project,
                network=args.network,
                direction="INGRESS",
                description=f"Jitsi Meet: {description}",
                allows=[
                    gcp.compute.FirewallAllowArgs(protocol=protocol, ports=ports)
                    for protocol, ports in allows.items()
                ],
                source_ranges=list(sources),
                target_tags=[args.target_tag],
                opts=child,
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
        self.address = ip.address
        self.firewalls = [web, turn, ssh]
        self.register_outputs({"address": self.address})
