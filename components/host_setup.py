"""Remote steps 1-3: wait for the VM, ship scripts/, install Jitsi Meet, secure the domain."""

import dataclasses
import shlex
from collections.abc import Sequence

import pulumi
import pulumi_command as command

from components.remote_host import RemoteHost, command_line, script_files
from config import AptSources

# Ubuntu images boot through cloud-init and hold the package locks until it is done; GCE's
# Debian images have no cloud-init. `status --wait` exits 2 for "done, with recoverable
# errors", which still means booted, so only its absence or its end matters here.
WAIT_FOR_BOOT = (
    "if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null || true; fi"
)


@dataclasses.dataclass(frozen=True)
class HostSetupArgs:
    host: RemoteHost
    domain: pulumi.Input[str]
    guest_domain: pulumi.Input[str]
    # None: the installer makes a self-signed certificate.
    lets_encrypt_email: str | None
    # Where apt gets Jitsi and Prosody.
    apt: AptSources
    # Must exist before anything runs on the VM: firewall rules (SSH, and port 80 for
    # Let's Encrypt) and the DNS record Let's Encrypt resolves.
    ready_after: Sequence[pulumi.Resource]


class HostSetup(pulumi.ComponentResource):
    # The last step; moderator accounts need the secured domain.
    secured: command.remote.Command

    def __init__(self, name: str, args: HostSetupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jitsi:site:HostSetup", name, None, opts)
        host = args.host
        booted = command.remote.Command(
            f"{name}-wait-for-boot",
            connection=host.connection,
            # The folder exists before the copies: older providers create only a path's last
            # element, and here that is the file.
            create=f"{WAIT_FOR_BOOT}; mkdir -p {shlex.quote(host.remote_dir)}",
            triggers=[host.instance.instance_id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.ready_after)),
        )
        # One file per copy, one after another: a file's copy runs again only when it
        # changes, nothing else in the folder (byte code, editor files) is shipped, and
        # sshd never sees a burst of parallel handshakes.
        previous: pulumi.Resource = booted
        for path in script_files(host.scripts_dir):
            previous = command.remote.CopyToRemote(
                f"{name}-copy-{path.name}",
                connection=host.connection,
                # A relative, '/'-separated path: the state is the same on every machine.
                source=pulumi.FileAsset(path.as_posix()),
                remote_path=host.script(path.name),
                triggers=[host.instance.instance_id],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[previous]),
            )
        install_words = ["sudo", "bash", host.script("install_jitsi.sh"), "--domain", args.domain]
        if args.lets_encrypt_email:
            install_words += ["--letsencrypt-email", args.lets_encrypt_email]
        install_words += args.apt.installer_options()
        installed = command.remote.Command(
            f"{name}-install",
            connection=host.connection,
            create=command_line(*install_words),
            triggers=host.triggers("install_jitsi"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[previous]),
        )
        secure_words = ["sudo", "python3", host.script("secure_domain.py")]
        secure_words += ["--domain", args.domain, "--guest-domain", args.guest_domain]
        self.secured = command.remote.Command(
            f"{name}-secure",
            connection=host.connection,
            create=command_line(*secure_words),
            # A re-run install may rewrite the files secure_domain.py edits: secure again.
            triggers=host.triggers("install_jitsi", "secure_domain"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[installed]),
        )
        self.register_outputs({"secured": self.secured.stdout})
