"""Remote step 4: the server's moderator accounts made equal to the stack's list, in one step."""

import dataclasses
import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_command as command
import pulumi_random as random

from components.remote_host import RemoteHost, command_line


@dataclasses.dataclass(frozen=True)
class ModeratorAccountsArgs:
    host: RemoteHost
    domain: pulumi.Input[str]
    # name -> password from the stack's secret config.
    passwords: Mapping[str, str]
    # Names that get a generated password.
    generated: Sequence[str]
    # Accounts can only be created once the main host authenticates (the secured step).
    after: pulumi.Resource


class ModeratorAccounts(pulumi.ComponentResource):
    # {name: password} of every moderator, secret.
    credentials: pulumi.Output[dict]
    # {name: password} of the generated ones, secret.
    generated_passwords: pulumi.Output[dict]
    # The account step: verification comes after it.
    synced: command.remote.Command

    def __init__(
        self, name: str, args: ModeratorAccountsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("jitsi:site:ModeratorAccounts", name, None, opts)
        host = args.host
        generated = {user: self._generate(name, user) for user in args.generated}
        passwords = {**{u: pulumi.Output.secret(p) for u, p in args.passwords.items()}, **generated}
        names = ",".join(sorted(passwords))
        tool = ["sudo", "python3", "-B", host.script("moderators"), "sync", "--domain", args.domain]
        # The names are on the command line so that `pulumi preview` shows who is added or
        # removed; the tool refuses a list that differs from its stdin.
        sync = command_line(*tool, "--names", names)
        self.credentials = _secret_dict(passwords)
        self.synced = command.remote.Command(
            f"{name}s",
            connection=host.connection,
            create=sync,
            # A changed password (a changed stdin) or list runs `update`: the same converge.
            update=sync,
            # No delete: removing the stack deletes the VM and every account with it, and a
            # replaced VM must never be dialled to remove accounts from it.
            # The passwords travel only here: one JSON object on stdin, secret in the state.
            stdin=credentials_json(self.credentials),
            # The output says who was added, changed or removed: names only.
            logging=command.remote.Logging.STDOUT,
            # No password, nor anything derived from one, in the triggers.
            triggers=host.triggers("moderators", "shared"),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[args.after],
                additional_secret_outputs=["stdout", "stderr"],
            ),
        )
        self.generated_passwords = _secret_dict(generated)
        self.register_outputs({"names": sorted(passwords)})

    def _generate(self, name: str, user: str) -> pulumi.Output[str]:
        password = random.RandomPassword(
            f"{name}-{user}-password",
            length=24,
            # Letters and digits only: easy to type in the login dialog, still ~140 bits.
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The engine keeps `result` secret, but mocks do not: make it explicit.
        return pulumi.Output.secret(password.result)


def _secret_dict(values: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[dict]:
    # Output.all() of nothing is a list, not an empty object.
    resolved = pulumi.Output.all(**values) if values else pulumi.Output.from_input({})
    return pulumi.Output.secret(resolved)


def credentials_json(credentials: pulumi.Input[dict]) -> pulumi.Output[str]:
    """A JSON object of every moderator's name and password, secret: the stdin of the account
    step and of the proof."""
    text = pulumi.Output.from_input(credentials).apply(lambda c: json.dumps(c, sort_keys=True))
    return pulumi.Output.secret(text)
