"""The domain's A record in a Cloud DNS zone (optional: sslip.io needs none)."""

import dataclasses

import pulumi
import pulumi_gcp as gcp


@dataclasses.dataclass(frozen=True)
class DnsRecordArgs:
    project: str
    # Name of the Cloud DNS managed zone that holds `domain`.
    managed_zone: str
    domain: str
    address: pulumi.Input[str]


class DnsRecord(pulumi.ComponentResource):
    record: gcp.dns.RecordSet

    def __init__(self, name: str, args: DnsRecordArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jitsi:site:DnsRecord", name, None, opts)
        # A short TTL: a rebuilt stack with a new address is reachable again within minutes.
        self.record = gcp.dns.RecordSet(
            f"{name}-a",
            project=args.project,
            managed_zone=args.managed_zone,
            name=f"{args.domain}.",
            type="A",
            ttl=300,
            rrdatas=[args.address],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.record.name})
