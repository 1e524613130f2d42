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


def _stray(path: pathlib.Path) -> bool:
    """Byte code, a hidden file or an editor's leftover: nothing a tool runs."""
    name = path.name
    return name == "__pycache__" or (
        path.is_file() and (name.startswith((".", "#")) or name.endswith(("~", ".pyc")))
    )


def leftovers(scripts_dir: pathlib.Path) -> list[str]:
    """Stray files in the folder: the upload copies the whole folder, so they would travel to
    the VM (and a new one would upload again)."""
    found = [path.as_posix() for path in sorted(scripts_dir.rglob("*")) if _stray(path)]
    # A folder already named is enough; not every file in it.
    return [f for f in found if not any(f.startswith(d + "/") for d in found)]


def folder_digest(scripts_dir: pathlib.Path, folder: str) -> str:
    """sha256 over the files of `scripts/<folder>/` (one tool, or the shared code), by path.
    Its README is left out: a documentation change runs nothing again."""
    root = scripts_dir / folder
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not _stray(p) and "__pycache__" not in p.parts and p.suffix != ".md"
    )
    if not files:
        raise MissingScript(
            f"{root.as_posix()}/ not found or empty: run `pulumi up` from a full checkout"
        )
    digest = hashlib.sha256()
    for path in files:
        name = path.relative_to(root).as_posix()
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
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

    def script(self, path: str) -> str:
        """A tool's entry point on the VM (`secure_domain`, `install_jitsi/install.sh`)."""
        return f"{self.remote_dir}/{path}"

    def triggers(self, *folders: str) -> list[pulumi.Input[str]]:
        """Replacement triggers: the VM's id and the digest of each folder a step runs (its
        tool's, and `shared` when the tool imports from it)."""
        return [self.instance.instance_id, *(folder_digest(self.scripts_dir, f) for f in folders)]
