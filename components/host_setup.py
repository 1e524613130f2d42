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
    # The jitsi-meet release to have, or "stable" (the installer's default: the newest at the
    # first install, never moved later).
    jitsi_version: str = "stable"


class HostSetup(pulumi.ComponentResource):
    # The last step; moderator accounts need the secured domain.
    secured: command.remote.Command
    # {package: version} the install step's last run found on the VM.
    versions: pulumi.Output[dict]
    # The same as one line of NAME=VERSION words: a trigger for what must run again after
    # the packages changed.
    release: pulumi.Output[str]

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
        if args.jitsi_version != "stable":
            # A new release on the command line moves the installed one in place (an update
            # of this step, which runs its create again).
            install_words += ["--jitsi-version", args.jitsi_version]
        install_words += args.apt.installer_options()
        installed = command.remote.Command(
            f"{name}-install",
            connection=host.connection,
            # The installer itself waits for cloud-init and the package locks.
            create=command_line(*install_words),
            triggers=host.triggers("install_jitsi"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[uploaded]),
        )
        self.release = installed.stdout.apply(_release_key)
        secure_words = ["sudo", "python3", "-B", host.script("secure_domain")]
        secure_words += ["--domain", args.domain, "--guest-domain", args.guest_domain]
        self.secured = command.remote.Command(
            f"{name}-secure",
            connection=host.connection,
            create=command_line(*secure_words),
            # Packages that changed may have rewritten the files secure_domain edits (their
            # maintainer scripts do on upgrades): secure again after every change of the
            # installed versions, and after a re-run of a changed installer.
            triggers=[*host.triggers("install_jitsi", "secure_domain", "shared"), self.release],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[installed]),
        )
        self.versions = installed.stdout.apply(installed_versions)
        self.register_outputs({"secured": self.secured.stdout, "versions": self.versions})


# The installer ends every run with this line and one "  NAME VERSION" line per installed
# package (scripts/install_jitsi/README.md); those lines depend on the packages alone.
VERSIONS_HEADER = "Installed packages:"


def installed_versions(stdout: str | None) -> dict[str, str]:
    """{package: version} from the install step's output: what its last run found on the VM."""
    lines = (stdout or "").splitlines()
    if VERSIONS_HEADER not in lines:
        return {}
    versions = {}
    for line in lines[len(lines) - lines[::-1].index(VERSIONS_HEADER) :]:
        name, _, version = line.strip().partition(" ")
        if not line.startswith("  ") or not version:
            break
        versions[name] = version
    return versions


def _release_key(stdout: str | None) -> str:
    """The installed versions as one line of apt's NAME=VERSION words, for a trigger."""
    return " ".join(f"{p}={v}" for p, v in sorted(installed_versions(stdout).items()))
