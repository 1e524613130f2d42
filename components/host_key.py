"""The VM's own SSH host key, as its guest agent published it: what every remote step trusts."""

import asyncio
import base64
import struct
import time
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_gcp as gcp

# The guest agent writes each host key at the VM's first boot as guest attribute
# hostkeys/<type>, the value being the key's base64 blob alone (google-guest-agent, firstboot).
HOST_KEYS = "hostkeys/"
# Preferred first. No RSA: pulumi-command offers the server only the pinned key's type, and for
# RSA that is SHA-1 "ssh-rsa", which current OpenSSH servers refuse.
HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256")
# The keys appear some seconds after boot. Compute Engine asks for at most 10 guest-attribute
# queries a minute per VM, and may drop attributes being written beyond that.
HOST_KEY_WAIT_SECONDS = 300
HOST_KEY_POLL_SECONDS = 15


class HostKeyMissing(pulumi.RunError):
    """The VM published no host key: the deployment does not connect to an unproven machine."""


def pinned_host_key(vm: gcp.compute.Instance, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The VM's own host key as an authorized_keys line ("ssh-ed25519 AAAA..."), read after the
    VM exists (in a preview of a new VM its id is unknown: nothing is read)."""
    return pulumi.Output.all(vm.instance_id, vm.project, vm.zone, vm.name).apply(
        lambda a: _host_key(a[1], a[2], a[3], parent)
    )


def _host_key(project: str, zone: str, name: str, vm: pulumi.Resource) -> pulumi.Output[str]:
    line = pulumi.Output.from_input(_wait_for_host_key(project, zone, name, vm))
    # A preview reads once; a VM that has published nothing yet leaves the key unknown.
    return line.apply(lambda k: k or pulumi.Output.from_input(pulumi.output.UNKNOWN))


async def _wait_for_host_key(project: str, zone: str, name: str, vm: pulumi.Resource) -> str | None:
    deadline = time.monotonic() + HOST_KEY_WAIT_SECONDS
    # A preview pins nothing (the `up` reads again), so it reads once and takes what is there.
    settled, last, told = pulumi.runtime.is_dry_run(), "nothing", False
    while True:
        try:
            found = gcp.compute.get_instance_guest_attributes(
                project=project, zone=zone, name=name, query_path=HOST_KEYS
            )
            published = published_host_keys(found.query_values)
            last = ", ".join(sorted(published)) or "no usable key"
        except Exception as error:  # noqa: BLE001 - the API answers 404 until the agent writes
            published, last = {}, (str(error) or repr(error)).splitlines()[0]
        # ECDSA only if a read after one with keys still has no ed25519: never a key pinned
        # while the agent is between two writes (the next `up` would pin another).
        line = choose_host_key(published, settled)
        if line or pulumi.runtime.is_dry_run():
            return line
        if time.monotonic() >= deadline:
            raise HostKeyMissing(
                f"the VM published no SSH host key within {HOST_KEY_WAIT_SECONDS} s (last read: "
                f"{last}), and the deployment trusts no other key; see what it published: gcloud "
                f"compute instances get-guest-attributes {name} --zone {zone} --project {project} "
                f"--query-path={HOST_KEYS} (a stopped VM: gcloud compute instances start {name} "
                f"--zone {zone}; the agent publishes only at a VM's first boot with "
                "enable-guest-attributes=TRUE, so an older VM needs replacing: see README)"
            )
        if not told:
            pulumi.log.info("waiting for the VM to publish its SSH host key", resource=vm)
            told = True
        settled = bool(published)
        await asyncio.sleep(HOST_KEY_POLL_SECONDS)


def published_host_keys(values: Sequence | None) -> dict[str, str]:
    """{type: base64 blob} of the guest attributes whose blob really is a key of that type.

    Takes the value as the agent writes it (the blob) or as a whole line ("TYPE BLOB [comment]").
    """
    keys = {}
    for item in values or []:
        words = str(item.value).split()
        blob = words[1] if len(words) > 1 and words[0] == item.key else (words or [""])[0]
        if _blob_type(blob) == item.key:
            keys[item.key] = blob
    return keys


def choose_host_key(published: Mapping[str, str], settled: bool) -> str | None:
    """The authorized_keys line of the preferred published key: ed25519 at once, the others
    only once `settled`."""
    for kind in HOST_KEY_TYPES if settled else HOST_KEY_TYPES[:1]:
        if kind in published:
            return f"{kind} {published[kind]}"
    return None


def _blob_type(blob: str) -> str | None:
    """The key type written inside an SSH public key blob: its first length-prefixed string."""
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        return raw[4 : 4 + length].decode("ascii") if len(raw) >= 4 + length else None
    except (ValueError, struct.error, UnicodeDecodeError):
        return None
