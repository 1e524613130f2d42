"""Remote step 5: prove from the VM that only moderators can open rooms."""

import dataclasses

import pulumi
import pulumi_command as command

from components.moderators import credentials_json
from components.remote_host import RemoteHost, command_line

# Every folder the deployment runs: the proof runs again when any of them changed.
TOOLS = ("install_jitsi", "secure_domain", "moderators", "verify_auth", "shared")
# Seconds the proof waits for jicofo to answer after its restart (it usually takes 5-20 s).
FOCUS_WAIT = "120"
# Seconds the proof waits for the pool's bridges to join their room: the group does not wait
# for them, and a new bridge installs Java and the bridge at its first boot.
BRIDGES_WAIT = "900"


@dataclasses.dataclass(frozen=True)
class VerificationArgs:
    host: RemoteHost
    domain: pulumi.Input[str]
    guest_domain: pulumi.Input[str]
    # {name: password} of every moderator, secret.
    credentials: pulumi.Input[dict]
    # The last account step.
    after: pulumi.Resource
    # The installed packages (HostSetup.release): a new release is proven again.
    release: pulumi.Input[str] = ""
    # With a pool of videobridges: how many bridges must have joined their room (the pool's
    # `min` and the VM's own), and the pool's group, which makes them. 0 and None: no pool.
    bridges: int = 0
    bridge_group: pulumi.Resource | None = None


class Verification(pulumi.ComponentResource):
    report: pulumi.Output[str]
    # The proof's step: what comes after the proof depends on it.
    step: command.remote.Command

    def __init__(
        self, name: str, args: VerificationArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("jitsi:site:Verification", name, None, opts)
        host = args.host
        # Runs on the VM against https://<domain>/http-bind through nginx, with the domain
        # resolving to the VM itself: no dependence on the deployer's Python, on DNS
        # propagation or on sslip.io. --insecure is honest: the connection never leaves the
        # machine, and a self-signed certificate is the default. --focus-wait: jicofo is still
        # reconnecting after secure_domain restarted it, and a focus that never answers must
        # fail the deployment rather than skip the one check that proves jicofo's side.
        words = ["python3", "-B", host.script("verify_auth"), "--domain", args.domain]
        words += ["--guest-domain", args.guest_domain, "--insecure", "--focus-wait", FOCUS_WAIT]
        # The web client logs in over WebSocket today, older clients and tools over BOSH.
        words += ["--transports", "bosh,websocket"]
        # --bridges (check 8): a guest cannot join the bridges' room, and enough bridges have.
        if args.bridges:
            words += ["--bridges", str(args.bridges), "--bridges-wait", BRIDGES_WAIT]
        after = [args.after, *([args.bridge_group] if args.bridge_group else [])]
        verified = command.remote.Command(
            f"{name}-auth",
            connection=host.connection,
            create=command_line(*words),
            # A changed moderator set or password changes stdin, which runs the proof again.
            stdin=credentials_json(args.credentials),
            triggers=[*host.triggers(*TOOLS), args.release],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=after,
                additional_secret_outputs=["stdout", "stderr"],
            ),
        )
        self.step = verified
        self.report = verified.stdout
        self.register_outputs({"report": self.report})
