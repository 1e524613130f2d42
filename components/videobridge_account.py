"""The bridges' account on the signalling node: its generated password, and their room closed to
everyone else (scripts/bridge_account). Without it the bridges cannot log in: Prosody still holds
the install's 8-character secret."""

import pulumi
import pulumi_command as command

from components.remote_host import RemoteHost, command_line


def bridge_account(
    parent: pulumi.Resource,
    name: str,
    host: RemoteHost,
    domain: pulumi.Input[str],
    password: pulumi.Output[str],
    after: pulumi.Resource,
    release: pulumi.Input[str] = "",
) -> command.remote.Command:
    """The remote step, after `after` (the secured domain): the password only on its stdin; again
    on a new `release` (the installed versions), after the upgrade is secured."""
    tool = command_line("sudo", "python3", "-B", host.script("bridge_account"), "--domain", domain)
    return command.remote.Command(
        f"{name}-account",
        connection=host.connection,
        create=tool,
        # A new password (a changed stdin) runs `update`: the same converge.
        update=tool,
        # No delete: the account and the files go with the VM.
        stdin=pulumi.Output.secret(pulumi.Output.concat(password, "\n")),
        # It says what it kept or changed, never the password; kept secret all the same.
        logging=command.remote.Logging.STDOUT,
        # The tool's folder and those it imports, and the installed versions; nothing derived
        # from the password.
        triggers=[
            *host.triggers("bridge_account", "moderators", "secure_domain", "shared"),
            release,
        ],
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[after], additional_secret_outputs=["stdout", "stderr"]
        ),
    )
