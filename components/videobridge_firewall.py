"""What reaches the bridges, and the one opening they need on the signalling node.

The same shape as the signalling node's rules (components/network.py, `Scope`): for the bridges'
tag a deny of all ingress at DENY_PRIORITY, which beats every rule of the network but those at
priority 0, and the bridges' allows at ALLOW_PRIORITY, which beat it. So whatever else the
network holds (default-allow-ssh, default-allow-internal, a hand-made allow-all), a bridge is
reached on media and by Google's health checks only.
"""

import dataclasses

import pulumi
import pulumi_gcp as gcp

from components.network import ALLOW_PRIORITY, ANYWHERE, Scope

# Where Google's health checks come from (Compute Engine's documented ranges).
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
MEDIA_PORT = "10000"
XMPP_PORT = "5222"


@dataclasses.dataclass(frozen=True)
class BridgeFirewallArgs:
    project: str
    network: str
    bridge_tag: str
    signalling_tag: str
    # The bridge's private HTTP port, where /about/health answers.
    health_port: int


def bridge_firewall(
    parent: pulumi.Resource, name: str, args: BridgeFirewallArgs
) -> list[gcp.compute.Firewall]:
    bridges = Scope(args.project, args.network, args.bridge_tag, parent, "Jitsi videobridges")
    signalling = Scope(args.project, args.network, args.signalling_tag, parent, bridges.label)

    def allow(protocol: str, port: str) -> list[gcp.compute.FirewallAllowArgs]:
        return [gcp.compute.FirewallAllowArgs(protocol=protocol, ports=[port])]

    return [
        bridges.rule(
            f"{name}-media",
            "media over UDP",
            ALLOW_PRIORITY,
            allows=allow("udp", MEDIA_PORT),
            source_ranges=[ANYWHERE],
        ),
        # The bridge's private server listens on every address for these checks. Its REST API
        # (graceful shutdown) shares the port: only Google's probers send from these ranges.
        bridges.rule(
            f"{name}-probes",
            "Google's health checks",
            ALLOW_PRIORITY,
            allows=allow("tcp", str(args.health_port)),
            source_ranges=list(HEALTH_CHECK_RANGES),
        ),
        *bridges.deny_everything_else(name),
        # Prosody's client port on the signalling node, for the bridges alone: a source tag
        # matches the tagged VMs' internal addresses, so no range of addresses can stand in.
        signalling.rule(
            f"{name}-xmpp",
            "Prosody's client port, for the bridges only",
            ALLOW_PRIORITY,
            allows=allow("tcp", XMPP_PORT),
            source_tags=[args.bridge_tag],
        ),
    ]
