"""The Compute Engine VM, its boot disk, the deploy key it accepts, and its own SSH host key."""

import dataclasses
from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp
import pulumi_tls as tls

from components.host_key import pinned_host_key


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
    # The domain the install is made for: a new one is a new boot disk, so a new VM.
    domain: pulumi.Input[str]


class JitsiVm(pulumi.ComponentResource):
    instance: gcp.compute.Instance
    private_key: pulumi.Output[str]
    # The VM's own host key as an authorized_keys line ("ssh-ed25519 AAAA..."), read from what
    # its guest agent published; unknown in a preview of a new VM.
    host_key: pulumi.Output[str]

    def __init__(self, name: str, args: VmArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jitsi:site:Vm", name, None, opts)
        key = tls.PrivateKey(
            f"{name}-deploy-key", algorithm="ED25519", opts=pulumi.ResourceOptions(parent=self)
        )
        user = args.ssh_user
        ssh_keys = key.public_key_openssh.apply(lambda k: f"{user}:{k.strip()} {user}")
        # `app` last: the documented label cannot be overridden by jitsi:labels.
        labels = {**args.labels, "app": "jitsi-meet"}
        disk = _boot_disk(self, name, args, labels)
        self.instance = gcp.compute.Instance(
            f"{name}-vm",
            project=args.project,
            zone=args.zone,
            machine_type=args.machine_type,
            # Kept when the VM alone is replaced (Pulumi deletes it last, when it goes).
            boot_disk=gcp.compute.InstanceBootDiskArgs(source=disk.self_link, auto_delete=False),
            network_interfaces=[
                gcp.compute.InstanceNetworkInterfaceArgs(
                    network=args.network,
                    access_configs=[
                        gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(nat_ip=args.address)
                    ],
                )
            ],
            tags=[args.network_tag],
            labels=labels,
            metadata={
                "ssh-keys": ssh_keys,
                # Project-wide OS Login would ignore `ssh-keys` and lock the deployment out.
                "enable-oslogin": "FALSE",
                # Only the deploy key opens the VM, not every key in the project's metadata.
                "block-project-ssh-keys": "TRUE",
                # The guest agent publishes the host keys (at first boot) only where enabled.
                "enable-guest-attributes": "TRUE",
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
                # A new boot disk is a new VM, whether or not the provider calls it force-new.
                replace_on_changes=["bootDisk"],
            ),
        )
        self.private_key = pulumi.Output.secret(key.private_key_openssh)
        vm = self.instance
        # After the VM exists (in a preview of a new VM its id is unknown: nothing is read).
        self.host_key = pinned_host_key(vm, self)
        self.register_outputs({"instance_id": vm.instance_id, "host_key": self.host_key})


def _boot_disk(
    parent: pulumi.Resource, name: str, args: VmArgs, labels: Mapping[str, str]
) -> gcp.compute.Disk:
    """The boot disk, a resource of its own so that the image is fixed when it is created.

    The state keeps the concrete image, which a family's name may not match (ubuntu-2404-lts-
    amd64): `image` is ignored after creation, so a newer image never replaces anything. Pulumi
    also carries an ignored value into a replacement, so the disk is named after its family: a
    new jitsi:image is a new disk, made from the new family. A new domain or size replaces the
    disk (a fresh install), and with it the VM.
    """
    family = args.image_family.rsplit("/", 1)[-1]
    return gcp.compute.Disk(
        f"{name}-disk-{family}",
        project=args.project,
        zone=args.zone,
        image=args.image_family,
        size=args.disk_size_gb,
        type="pd-balanced",
        labels=labels,
        description=pulumi.Output.concat("Jitsi Meet for ", args.domain),
        opts=pulumi.ResourceOptions(
            parent=parent, ignore_changes=["image"], replace_on_changes=["description", "size"]
        ),
    )


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
