"""The proof from outside: the deployer's machine checks the VM over the Internet, as users meet it.

The proof on the VM cannot see a closed or missing firewall rule, a DNS record that points
elsewhere or a certificate that does not match: it talks to its own nginx. This one runs where
`pulumi up` runs, against the reserved address with the domain as TLS server name (so DNS
propagation does not matter), trusting the system's authorities plus exactly the certificate the
VM serves, read over the SSH connection pinned to the VM's host key.

Nothing in its inputs depends on the machine running `up`: the interpreter is `python3` from the
PATH and the probe's path is relative to the project, so two people deploying the same stack get
no diff.
"""

import dataclasses
import json

import pulumi
import pulumi_command as command

from components.moderators import credentials_json
from components.remote_host import RemoteHost, command_line, folder_digest

# Prosody's client, server-to-server, BOSH/WebSocket and component ports, the bridge's and
# jicofo's REST ports: nginx is the only way in, so from outside each must be closed.
INTERNAL_PORTS = "5222,5269,5280,5347,8080,8888,9090"
# The probe reads the VM's certificate from this environment variable (public data).
CERTIFICATE_VARIABLE = "JITSI_SERVED_CERTIFICATE"


@dataclasses.dataclass(frozen=True)
class OutsideProofArgs:
    host: RemoteHost
    address: pulumi.Input[str]
    domain: pulumi.Input[str]
    guest_domain: pulumi.Input[str]
    credentials: pulumi.Input[dict]
    # What decides what reaches the VM (firewall declaration, DNS): a change re-runs the proof.
    exposure: dict
    # Seconds the probe waits for jicofo (as the proof on the VM).
    focus_wait: str
    # The proof on the VM, and the resources whose effect this one observes.
    after: list[pulumi.Resource]
    # The folders the proof on the VM re-runs for: this one re-runs for them too.
    tools: tuple[str, ...]
    # The installed packages (HostSetup.release): a new release is proven again.
    release: pulumi.Input[str] = ""


class OutsideProof(pulumi.ComponentResource):
    report: pulumi.Output[str]

    def __init__(
        self, name: str, args: OutsideProofArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("jitsi:site:OutsideProof", name, None, opts)
        host = args.host
        served = command.remote.Command(
            f"{name}-certificate",
            connection=host.connection,
            create=command_line(
                "python3", "-B", host.script("certificate"), "--domain", args.domain
            ),
            # A new certificate comes with an install step's run (Let's Encrypt) or a new VM.
            triggers=[*host.triggers("certificate", "shared", "install_jitsi")],
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.after),
        )
        probe = f"{host.scripts_dir.as_posix()}/verify_auth"
        words = ["python3", "-B", probe, "--domain", args.domain]
        words += ["--guest-domain", args.guest_domain, "--connect", args.address]
        words += ["--expect-address", args.address, "--ca-env", CERTIFICATE_VARIABLE]
        words += ["--transports", "bosh,websocket", "--closed-ports", INTERNAL_PORTS]
        words += ["--focus-wait", args.focus_wait]
        exposure = json.dumps(args.exposure, sort_keys=True)
        proved = command.local.Command(
            f"{name}-outside",
            create=command_line(*words),
            environment={CERTIFICATE_VARIABLE: served.stdout},
            stdin=credentials_json(args.credentials),
            triggers=[
                host.instance.instance_id,
                *(folder_digest(host.scripts_dir, f) for f in args.tools),
                exposure,
                args.release,
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[served],
                additional_secret_outputs=["stdout", "stderr"],
            ),
        )
        self.report = proved.stdout
        self.register_outputs({"report": self.report})
