"""Remote steps 1-3: ship scripts/ (waiting for the VM), install Jitsi Meet, secure the domain."""

import dataclasses
from collections.abc import Sequence

import pulumi
import pulumi_command as command

from components.remote_host import RemoteHost, command_line, leftovers
from config import AptSources


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
        stray = leftovers(host.scripts_dir)
        if stray:
            pulumi.log.warn(
                f"{', '.join(stray)} would be copied to the VM with the scripts (the upload "
                "takes the whole folder): remove them with git clean -fdX scripts",
                resource=self,
            )
        # One SSH session ships every script: the provider dials until the new VM's sshd
        # accepts the key (the boot wait), creates the folder, and copies the folder's files
        # into it ("scripts/": its contents, so an older deployment's stored commands find the
        # current tools where they always were; see scripts/moderator.py). It copies again only
        # when a file changed; what each tool step re-runs for is in that step's triggers.
        uploaded = command.remote.CopyToRemote(
            f"{name}-upload",
            connection=host.connection,
            # A relative, '/'-separated path: the state is the same on every machine.
            source=pulumi.FileArchive(f"{host.scripts_dir.as_posix()}/"),
            remote_path=host.remote_dir,
            triggers=[host.instance.instance_id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.ready_after)),
        )
        install_words = [
            "sudo",
            "bash",
            host.script("install_jitsi/install.sh"),
            "--domain",
            args.domain,
        ]
        if args.lets_encrypt_email:
            install_words += ["--letsencrypt-email", args.lets_encrypt_email]
        install_words += args.apt.installer_options()
        installed = command.remote.Command(
            f"{name}-install",
            connection=host.connection,
            # The installer itself waits for cloud-init and the package locks.
            create=command_line(*install_words),
            triggers=host.triggers("install_jitsi"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[uploaded]),
        )
        secure_words = ["sudo", "python3", "-B", host.script("secure_domain")]
        secure_words += ["--domain", args.domain, "--guest-domain", args.guest_domain]
        self.secured = command.remote.Command(
            f"{name}-secure",
            connection=host.connection,
            create=command_line(*secure_words),
            # A re-run install may rewrite the files secure_domain edits: secure again.
            triggers=host.triggers("install_jitsi", "secure_domain", "shared"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[installed]),
        )
        self.register_outputs({"secured": self.secured.stdout})
