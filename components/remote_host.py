"""How the remote steps reach the VM, and what makes each of them run again.

Not a resource itself: a small value shared by the components that run commands over SSH.
"""

import dataclasses
import hashlib
import pathlib
import shlex

import pulumi
import pulumi_command as command
import pulumi_gcp as gcp

# A fresh VM needs a minute or two before sshd accepts the deploy key (boot, then the guest
# agent creates the user). The provider waits 100 ms growing to 5 s between dials, so 60
# failed dials span about five minutes; 10 s per dial bounds a silent network.
DIAL_ERROR_LIMIT = 60
PER_DIAL_TIMEOUT = 10


class MissingScript(pulumi.RunError):
    """A remote step's script is not in the scripts folder (a broken checkout)."""


def script_files(scripts_dir: pathlib.Path) -> list[pathlib.Path]:
    """The files shipped to the VM: regular, visible, top-level files, no byte code."""
    return sorted(
        path
        for path in scripts_dir.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix != ".pyc"
    )


def leftovers(scripts_dir: pathlib.Path) -> list[str]:
    """Byte code, hidden and editor files in the folder: the upload copies the whole folder,
    so they would travel to the VM (and a new one would upload again)."""
    found = []
    for path in sorted(scripts_dir.rglob("*")):
        name = path.name
        if name == "__pycache__" or (
            path.is_file() and (name.startswith((".", "#")) or name.endswith(("~", ".pyc")))
        ):
            found.append(path.as_posix())
    # A folder already named is enough; not every file in it.
    return [f for f in found if not any(f.startswith(d + "/") for d in found)]


def tool_digest(scripts_dir: pathlib.Path, tool: str) -> str:
    """sha256 over the files `scripts/<tool>*` (a tool and its helper modules)."""
    files = [path for path in script_files(scripts_dir) if path.name.startswith(tool)]
    if not files:
        raise MissingScript(
            f"{scripts_dir}/{tool}* not found: run `pulumi up` from a full checkout"
        )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def command_line(*words: pulumi.Input[str]) -> pulumi.Output[str]:
    """One shell command line, every word quoted, so no value can change its meaning."""
    return pulumi.Output.all(*words).apply(lambda ws: " ".join(shlex.quote(w) for w in ws))


@dataclasses.dataclass(frozen=True)
class RemoteHost:
    """The VM as the remote steps see it."""

    connection: command.remote.ConnectionArgs
    # Every step is keyed to this VM: a new VM (new instance id) runs every step again.
    instance: gcp.compute.Instance
    # Local folder copied to `remote_dir`; relative paths keep the state the same on any machine.
    scripts_dir: pathlib.Path
    remote_dir: str

    def script(self, file_name: str) -> str:
        return f"{self.remote_dir}/{file_name}"

    def triggers(self, *tools: str) -> list[pulumi.Input[str]]:
        """Replacement triggers: the VM's id and the digest of each tool's files."""
        return [self.instance.instance_id, *(tool_digest(self.scripts_dir, t) for t in tools)]
