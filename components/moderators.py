"""Remote step 4: one Prosody account per moderator, plus generated passwords."""

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
    # The last account step (or `after` when there is none): verification comes after it.
    last: pulumi.Resource

    def __init__(
        self, name: str, args: ModeratorAccountsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("jitsi:site:ModeratorAccounts", name, None, opts)
        generated = {user: self._generate(name, user) for user in args.generated}
        passwords = {**{u: pulumi.Output.secret(p) for u, p in args.passwords.items()}, **generated}
        # One account after another: 50 moderators must not open 50 SSH sessions at once.
        previous = args.after
        for user in sorted(passwords):
            previous = self._account(name, args, user, passwords[user], previous)
        self.last = previous
        self.credentials = _secret_dict(passwords)
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

    def _account(
        self,
        name: str,
        args: ModeratorAccountsArgs,
        user: str,
        password: pulumi.Output[str],
        previous: pulumi.Resource,
    ) -> command.remote.Command:
        host = args.host
        tool = ["sudo", "python3", host.script("moderator.py")]
        set_password = command_line(*tool, "set", user, "--domain", args.domain)
        return command.remote.Command(
            f"{name}-{user}",
            connection=host.connection,
            create=set_password,
            # A changed password (a changed stdin) runs `update`: set it again in place.
            update=set_password,
            delete=command_line(*tool, "remove", user, "--domain", args.domain),
            # The password travels only here: one line on stdin, secret in the state.
            stdin=pulumi.Output.secret(password.apply(lambda p: p + "\n")),
            logging=command.remote.Logging.NONE,
            # No password, nor anything derived from it, in the triggers.
            triggers=host.triggers("moderator"),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[previous],
                additional_secret_outputs=["stdout", "stderr"],
                # Replacement would otherwise create the account, then delete it.
                delete_before_replace=True,
                # When the VM goes, its accounts go with it: no SSH to a deleted machine.
                deleted_with=host.instance,
            ),
        )


def _secret_dict(values: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[dict]:
    # Output.all() of nothing is a list, not an empty object.
    resolved = pulumi.Output.all(**values) if values else pulumi.Output.from_input({})
    return pulumi.Output.secret(resolved)


def credentials_json(credentials: pulumi.Input[dict]) -> pulumi.Output[str]:
    """The verifier's stdin: a JSON object of every moderator's name and password, secret."""
    text = pulumi.Output.from_input(credentials).apply(lambda c: json.dumps(c, sort_keys=True))
    return pulumi.Output.secret(text)
