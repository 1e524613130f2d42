"""Runs the Pulumi program under mocks and records every resource it registers.

`run_program(config)` executes __main__.py as `pulumi up` would (config in, resources and
exports out), with Pulumi's mock engine in place of the CLI and the cloud. Each run gets a
fresh recording monitor and fresh config, so nothing leaks from one test to the next.
"""

import dataclasses
import hashlib
import json
import logging
import pathlib
import runpy

import pulumi
from pulumi.runtime import mocks, rpc
from support import ROOT

PROJECT_IP = "203.0.113.10"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockPublicKeyForTestsOnly\n"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nmock-private-key\n-----END OPENSSH PRIVATE KEY-----\n"
)
# Real public keys (made for these tests, private halves discarded): the VM's host keys, as
# authorized_keys lines.
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKJIpUiS2E75d+PYw10jXMywqBET2yzdLd+Ja/jEdQLA"
ECDSA_HOST_KEY = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBP2iHUHng9TjqaEROJIM"
    "epEWbDCyrQ/nDSeDryJWeuaomZ6DyC5bNV9gel9svGrzNoMJSMovsyFleILLUH2rxjc="
)
GUEST_ATTRIBUTES = "gcp:compute/getInstanceGuestAttributes:getInstanceGuestAttributes"
REMOTE_COMMAND = "command:remote:Command"
LOCAL_COMMAND = "command:local:Command"


def stdout_mark(name: str) -> str:
    """The stand-in for what the step `name` prints, in the inputs of the steps that use it."""
    return f"<stdout of {name}>"


@dataclasses.dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    # Inputs as the engine receives them: secrets still wrapped.
    inputs: dict
    dependencies: list[str]
    delete_before_replace: bool
    deleted_with: str
    additional_secret_outputs: list[str]
    # Property paths as the engine receives them (camelCase).
    replace_on_changes: list[str] = dataclasses.field(default_factory=list)
    ignore_changes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Run:
    resources: list[Registration]
    exports: dict
    # Export name -> whether the exported Output is secret.
    secret_exports: dict
    warnings: list[str]
    # The exception that stopped the program, when the caller allowed one.
    error: BaseException | None = None
    # (token, args) of every provider function the program called, in order.
    invokes: list[tuple[str, dict]] = dataclasses.field(default_factory=list)

    def of_type(self, token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == token]

    def named(self, suffix: str) -> Registration:
        found = [r for r in self.resources if r.name.endswith(suffix)]
        assert len(found) == 1, f"expected one resource named *{suffix}, got {found}"
        return found[0]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}


@dataclasses.dataclass(frozen=True)
class CloudAnswers:
    """What the cloud answers for the resources that a rehearsal turns into real things."""

    address: str = PROJECT_IP
    public_key: str = PUBLIC_KEY
    private_key: str = PRIVATE_KEY
    instance_id: str = "4242424242"
    # The VM's ed25519 host key as an authorized_keys line, which its guest agent publishes
    # ("" = none); a rehearsal gives the machine's own (/etc/ssh/ssh_host_ed25519_key.pub).
    host_key: str = HOST_KEY
    # The VM's other host keys, published before it (the agent writes them in any order).
    other_host_keys: tuple[str, ...] = (ECDSA_HOST_KEY,)
    # Reads of the guest attributes that find nothing before the agent has written them.
    host_key_delay: int = 0
    # The VM's internal address, which the videobridges connect to.
    internal_address: str = "10.128.0.2"


class _Mocks(mocks.Mocks):
    """Plausible outputs for each resource type; all deterministic."""

    def __init__(self, answers: CloudAnswers = CloudAnswers(), preview: bool = False):
        self.answers = answers
        self.preview = preview
        self.invokes: list[tuple[str, dict]] = []

    def new_resource(self, args: mocks.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "gcp:compute/address:Address":
            outputs["address"] = self.answers.address
        elif args.typ == "gcp:compute/instance:Instance" and not self.preview:
            # A preview of a new VM knows neither (left out, they are unknown).
            outputs["instanceId"] = self.answers.instance_id
            outputs["name"] = f"{args.name}-{self.answers.instance_id[:7]}"
            nic = args.inputs["networkInterfaces"][0]
            outputs["networkInterfaces"] = [{**nic, "networkIp": self.answers.internal_address}]
        elif args.typ == "gcp:compute/disk:Disk":
            outputs["selfLink"] = (
                f"https://www.googleapis.com/compute/v1/projects/{args.inputs['project']}/zones/"
                f"{args.inputs['zone']}/disks/{args.name}-disk"
            )
        elif args.typ == "gcp:serviceaccount/account:Account":
            outputs["email"] = (
                f"{args.inputs['accountId']}@{args.inputs['project']}.iam.gserviceaccount.com"
            )
        elif args.typ == "gcp:compute/instanceTemplate:InstanceTemplate":
            outputs["selfLinkUnique"] = f"{args.name}-template?uniqueId=4711"
        elif args.typ == "tls:index/privateKey:PrivateKey":
            outputs["publicKeyOpenssh"] = self.answers.public_key
            outputs["privateKeyOpenssh"] = self.answers.private_key
        elif args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "gen" + hashlib.sha256(args.name.encode()).hexdigest()[:21]
        elif args.typ in (REMOTE_COMMAND, LOCAL_COMMAND) and not self.preview:
            # What the command will print: a mark that names it, which the rehearsal's engine
            # replaces by the real output when a later step's input carries it.
            outputs["stdout"] = stdout_mark(args.name)
        return f"{args.name}-id", outputs

    def call(self, args: mocks.MockCallArgs):
        self.invokes.append((args.token, dict(args.args)))
        if args.token != GUEST_ATTRIBUTES:
            return {}
        reads = sum(1 for token, _ in self.invokes if token == GUEST_ATTRIBUTES)
        keys = [*self.answers.other_host_keys, self.answers.host_key]
        published = [k.split() for k in keys if k] if reads > self.answers.host_key_delay else []
        if args.args.get("queryPath") != "hostkeys/" or not published:
            # What the provider reports for a namespace nothing has been written to.
            return {}, [("queryPath", "The resource 'guestAttributes' was not found")]
        # As google-guest-agent writes them: key = the type, value = the base64 blob alone.
        values = [{"namespace": "hostkeys", "key": k[0], "value": k[1]} for k in published]
        return {**args.args, "queryValues": values}


class _RecordingMonitor(mocks.MockMonitor):
    def __init__(self, mocks_: mocks.Mocks):
        super().__init__(mocks_)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):  # noqa: N802 (the engine's RPC name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                    dependencies=list(request.dependencies),
                    delete_before_replace=request.deleteBeforeReplace,
                    deleted_with=request.deletedWith,
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    replace_on_changes=list(request.replaceOnChanges),
                    ignore_changes=list(request.ignoreChanges),
                )
            )
        return response


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def install_prints(monkeypatch, stdout: str) -> None:
    """The mocked install step prints `stdout`, as the installer on the VM would."""
    original = _Mocks.new_resource

    def new_resource(mocks_, args):
        resource_id, outputs = original(mocks_, args)
        if args.name.endswith("setup-install"):
            outputs = {**outputs, "stdout": stdout}
        return resource_id, outputs

    monkeypatch.setattr(_Mocks, "new_resource", new_resource)


def stack_config(**overrides) -> tuple[dict, list[str]]:
    """A minimal valid stack (gcp:project and one secret moderator) plus overrides.

    Values are given as the engine passes them: text, or JSON text for objects and lists.
    An override of None removes the key.
    """
    config = {
        "gcp:project": "jitsi-test-project",
        "jitsi:moderators": json.dumps({"alice": "alice-secret-password-1"}),
    }
    config.update({k.replace("__", ":"): v for k, v in overrides.items()})
    config = {k: v for k, v in config.items() if v is not None}
    return config, ["jitsi:moderators"]


def run_program(
    config: dict,
    secret_keys: list[str],
    monkeypatch,
    allow_error=False,
    answers: CloudAnswers = CloudAnswers(),
    main: pathlib.Path = ROOT / "__main__.py",
    preview: bool = False,
) -> Run:
    """Runs `main` (the program) under mocks from the current directory (which holds `scripts/`).

    With allow_error, an exception from the program is returned in `Run.error` together
    with whatever was registered before it, instead of being raised. `answers` sets what
    the mocked cloud returns (the rehearsal gives a real machine's address and keys).
    `preview`: `pulumi preview` of a new stack, in which the VM's id and name are unknown.
    """
    cloud = _Mocks(answers, preview)
    monitor = _RecordingMonitor(cloud)
    warnings = _Warnings()
    logger = logging.getLogger(f"program-under-test-{id(monitor)}")
    logger.addHandler(warnings)
    pulumi.runtime.set_mocks(
        cloud,
        project="jitsi",
        stack="test",
        preview=preview,
        monitor=monitor,
        logger=logger,
    )
    exported: dict = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exported.__setitem__(name, value))
    pulumi.runtime.set_all_config(config, secret_keys)
    values: dict = {}
    secret: dict = {}

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(main), run_name="__main__")
        waits = []
        for name, value in exported.items():
            out = pulumi.Output.from_input(value)
            waits.append(out.apply(lambda v, n=name: values.__setitem__(n, v)))
            waits.append(
                pulumi.Output.from_input(out.is_secret()).apply(
                    lambda s, n=name: secret.__setitem__(n, s)
                )
            )
        return pulumi.Output.all(*waits)

    error = None
    try:
        program()
    except Exception as exc:
        if not allow_error:
            raise
        error = exc
    finally:
        pulumi.runtime.set_all_config({}, [])
        logger.removeHandler(warnings)
    return Run(monitor.registrations, values, secret, warnings.messages, error, cloud.invokes)


# The folders the remote steps run, each with an entry point and a helper, as stand-ins for
# scripts/ (and the old flat launcher older stacks' deletes call).
FAKE_SCRIPTS = (
    "install_jitsi/install.sh",
    "install_jitsi/wait.py",
    "secure_domain/__main__.py",
    "secure_domain/prosody.py",
    "moderators/__main__.py",
    "verify_auth/__main__.py",
    "certificate/__main__.py",
    "bridge_account/__main__.py",
    "shared/configjs.py",
    "moderator.py",
)


def fake_checkout(tmp_path, monkeypatch):
    """A project directory with a scripts/ folder of stand-ins; the program runs from it."""
    scripts = tmp_path / "scripts"
    for name in FAKE_SCRIPTS:
        (scripts / name).parent.mkdir(parents=True, exist_ok=True)
        (scripts / name).write_text(f"# stand-in for {name}\n")
    # Byte code must neither be shipped nor change a fingerprint.
    (scripts / "moderators" / "__pycache__").mkdir()
    (scripts / "moderators" / "__pycache__" / "sync.cpython-311.pyc").write_bytes(b"\0")
    monkeypatch.chdir(tmp_path)
    return scripts


def unwrap(value):
    """The value with every secret wrapper removed (for comparing and searching)."""
    if isinstance(value, pulumi.FileAsset):
        return {"fileAsset": value.path}
    if isinstance(value, pulumi.FileArchive):
        return {"fileArchive": value.path}
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def outside_secrets(value):
    """The value with every secret replaced by a placeholder: what is stored in plain text."""
    if isinstance(value, pulumi.FileAsset):
        return {"fileAsset": value.path}
    if isinstance(value, pulumi.FileArchive):
        return {"fileArchive": value.path}
    if rpc.is_rpc_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: outside_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [outside_secrets(v) for v in value]
    return value
