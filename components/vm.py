"""The Compute Engine VM and the SSH key the deployment logs in with."""

import dataclasses
from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp
import pulumi_tls as tls


@dataclasses.dataclass(frozen=True)
class VmArgs:
    project: str
    zone: str
    machine_type: str
    # Public image family, e.g. "debian-cloud/debian-12".
    image_family: str
    disk_size_gb: int
    # Spot VMs cost far less but Google may stop them at any time: for test stacks.
    spot: bool
    network: str
    # The tag the firewall rules target.
    network_tag: str
    labels: Mapping[str, str]
    # The account created from the `ssh-keys` metadata; the remote steps log in as it.
    ssh_user: str
    address: pulumi.Input[str]


class JitsiVm(pulumi.ComponentResource):
    instance: gcp.compute.Instance
    private_key: pulumi.Output[str]

    def __init__(self, name: str, args: VmArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jitsi:site:Vm", name, None, opts)
        key = tls.PrivateKey(
            f"{name}-deploy-key", algorithm="ED25519", opts=pulumi.ResourceOptions(parent=self)
        )
        user = args.ssh_user
        ssh_keys = key.public_key_openssh.apply(lambda k: f"{user}:{k.strip()} {user}")
        self.instance = gcp.compute.Instance(
            f"{name}-vm",
            project=args.project,
            zone=args.zone,
            machine_type=args.machine_type,
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                auto_delete=True,
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image=args.image_family, size=args.disk_size_gb, type="pd-balanced"
                ),
            ),
            network_interfaces=[
                gcp.compute.InstanceNetworkInterfaceArgs(
                    network=args.network,
                    access_configs=[
                        gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(nat_ip=args.address)
                    ],
                )
            ],
            tags=[args.network_tag],
            # `app` last: the documented label cannot be overridden by jitsi:labels.
            labels={**args.labels, "app": "jitsi-meet"},
            metadata={
                "ssh-keys": ssh_keys,
                # Project-wide OS Login would ignore `ssh-keys` and lock the deployment out.
                "enable-oslogin": "FALSE",
            },
            shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(
                enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            scheduling=_scheduling(args.spot),
            # No service account: nothing on the VM calls Google APIs, so it gets no token.
            # Changing machine type or shielded settings stops the VM instead of failing.
            allow_stopping_for_update=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The reserved address can be attached to one VM at a time.
                delete_before_replace=True,
            ),
        )
        self.private_key = pulumi.Output.secret(key.private_key_openssh)
        self.register_outputs({"instance_id": self.instance.instance_id})


def _scheduling(spot: bool) -> gcp.compute.InstanceSchedulingArgs:
    if spot:
        # Spot VMs cannot live-migrate: TERMINATE is the only host-maintenance behaviour
        # Compute Engine allows for them (the provider documents SPOT as needing preemptible
        # and no automatic restart). Set explicitly, so no MIGRATE (the standard VM's value,
        # computed in the state) can reach the API with SPOT.
        return gcp.compute.InstanceSchedulingArgs(
            provisioning_model="SPOT",
            preemptible=True,
            automatic_restart=False,
            on_host_maintenance="TERMINATE",
            instance_termination_action="STOP",
        )
    return gcp.compute.InstanceSchedulingArgs(
        provisioning_model="STANDARD", automatic_restart=True, on_host_maintenance="MIGRATE"
    )
