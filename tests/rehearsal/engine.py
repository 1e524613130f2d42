"""Replays the program's remote steps over real SSH, as Pulumi's engine and pulumi-command do.

The program runs under mocks (`program_mocks.run_program`); every `command:remote:Command`,
`command:remote:CopyToRemote` and `command:local:Command` it registers becomes a `Step` with its
own inputs. An input that carries an earlier step's output (the mocks give each command's stdout
as a mark naming it) gets that step's real output, as the engine resolves outputs before it
diffs. `Engine.up` compares the steps with those of the previous `up` and runs what the engine
would run:

- a new step is created: a Command runs `create` (over SSH, or on this machine in the program's
  folder with `/bin/sh -c` for a local one); a CopyToRemote copies its file over SFTP;
- a step whose `triggers` changed is replaced (replaceOnChanges in pulumi-command 1.2.1): with
  `delete_before_replace` the old `delete` runs first, otherwise the new one is created first
  and the old one deleted at the end;
- any other changed input is an update: a Command runs `update`, or `create` when there is no
  `update` (the provider's Update); a CopyToRemote copies again only if its content or path
  changed;
- a step that left the program is deleted after every create and update, in reverse order,
  with its **old** inputs, unless the resource named in its `deleted_with` goes too.

A step that fails stops the `up` (later steps do not run) and keeps the state it had before, so
the next `up` tries it again. (The real engine may instead record the failed update's new inputs
with an initialization error, which also makes the next `up` run it again.)

Nothing here knows a command string: each comes from the registration, so a change in
`components/` changes what runs.
"""

import dataclasses
import graphlib
import hashlib
import json
import os
import pathlib
import re
import subprocess
import time
from collections.abc import Callable

from program_mocks import LOCAL_COMMAND, Run, stdout_mark, unwrap
from rehearsal.ssh import COMMAND_TIMEOUT, CommandFailed, Connection, SshClient

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
STEP_TYPES = (COMMAND, COPY, LOCAL_COMMAND)
MARK = re.compile(re.escape(stdout_mark("@")).replace("@", "([^<>]+)"))
# Inputs the provider reads when it runs a Command; any change of these is an update.
COMMAND_INPUTS = ("create", "update", "delete", "stdin", "logging", "connection", "environment")


@dataclasses.dataclass(frozen=True)
class Step:
    urn: str
    type: str
    name: str
    # Secrets unwrapped; a copy's source as {"fileAsset": path} or {"fileArchive": path}.
    inputs: dict
    dependencies: tuple[str, ...]
    delete_before_replace: bool
    deleted_with: str
    # A copy's source on this machine (the path resolved against the program's folder, with a
    # folder's trailing "/" kept) and the sha256 of its content, as the engine hashes assets.
    source: str = ""
    source_hash: str = ""

    @property
    def connection(self) -> Connection:
        return Connection.from_inputs(self.inputs["connection"])


@dataclasses.dataclass
class Record:
    """One thing the engine did: for the report."""

    step: str
    action: str
    seconds: float
    ssh_sessions: int
    # What a delete printed (a create's or update's output is in the state).
    output: str = ""
    # Ran on this machine (a local Command), not over SSH.
    local: bool = False


def steps_of(run: Run, project_dir: pathlib.Path) -> list[Step]:
    """The remote steps a program run registered, in an order that respects dependencies."""
    by_urn = run.by_urn()
    graph = graphlib.TopologicalSorter()
    for resource in run.resources:
        graph.add(resource.urn, *[d for d in resource.dependencies if d in by_urn])
        if resource.parent in by_urn:
            graph.add(resource.urn, resource.parent)
    steps = []
    for urn in graph.static_order():
        resource = by_urn[urn]
        if resource.type not in STEP_TYPES:
            continue
        inputs = unwrap(resource.inputs)
        source = source_hash = ""
        if resource.type == COPY:
            source, source_hash = _source(inputs["source"], project_dir)
        steps.append(
            Step(
                urn=urn,
                type=resource.type,
                name=resource.name,
                inputs=inputs,
                dependencies=tuple(resource.dependencies),
                delete_before_replace=resource.delete_before_replace,
                deleted_with=resource.deleted_with,
                source=source,
                source_hash=source_hash,
            )
        )
    return steps


def _source(source: dict, project_dir: pathlib.Path) -> tuple[str, str]:
    """Where a copy's source is, and its hash; refuses what pulumi-command 1.2.1's Check refuses:
    an archive must be a path to a file or folder (an AssetArchive is not accepted)."""
    if "fileAsset" in source:
        path = project_dir / source["fileAsset"]
        return str(path), hashlib.sha256(path.read_bytes()).hexdigest()
    if "fileArchive" not in source:
        raise ValueError(f"pulumi-command 1.2.1 refuses this source: {source}")
    relative = source["fileArchive"]
    folder = project_dir / relative
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    # Keep the trailing "/": the provider copies a folder's contents, not the folder, then.
    return str(folder) + ("/" if relative.endswith("/") else ""), digest.hexdigest()


def _diff(old: Step, new: Step) -> str:
    """'replace', 'update' or 'same', as the provider's schema decides."""
    if old.inputs.get("triggers") != new.inputs.get("triggers"):
        return "replace"
    if new.type == COPY:
        same = (
            old.source_hash == new.source_hash
            and old.inputs["remotePath"] == new.inputs["remotePath"]
            and old.inputs["connection"] == new.inputs["connection"]
        )
    else:
        same = all(old.inputs.get(k) == new.inputs.get(k) for k in COMMAND_INPUTS)
    return "same" if same else "update"


class Engine:
    """The state of one stack: what the last `up` left, and how to reach its VM."""

    def __init__(self, say: Callable[[str], None] = print):
        self.say = say
        # 1.0: the provider's pauses between failed dials; a test of a dial that must fail
        # may shorten them (the number of dials is the connection's own).
        self.pause_scale = 1.0
        # urn -> (the step as last applied, its stdout)
        self.state: dict[str, tuple[Step, str]] = {}
        # Where local commands run: the program's folder of the last `up`.
        self.project_dir = pathlib.Path(".")

    def _resolved(self, step: Step) -> Step:
        """`step` with each earlier step's output mark replaced by what that step printed."""
        printed = {s.name: stdout for s, stdout in self.state.values()}

        def real(match: re.Match) -> str:
            if match[1] not in printed:
                raise RuntimeError(f"{step.name} needs the output of {match[1]}, not run yet")
            return printed[match[1]]

        text = json.dumps(step.inputs)
        if not MARK.search(text):
            return step
        # Replaced in the decoded strings, so an output's quotes and newlines stay intact.
        inputs = json.loads(text, object_hook=lambda d: {k: _fill(v, real) for k, v in d.items()})
        return dataclasses.replace(step, inputs=inputs)

    def up(self, run: Run, project_dir: pathlib.Path) -> list[Record]:
        """Applies one program run (made in `project_dir`); returns what ran. Raises
        CommandFailed like `pulumi up`. A delete whose `deleted_with` resource is still in
        the program runs; one whose resource left is skipped."""
        new_steps = steps_of(run, project_dir)
        self.project_dir = project_dir
        alive = {r.urn for r in run.resources}
        records: list[Record] = []
        pending_deletes: list[tuple[Step, str]] = []
        for step in new_steps:
            step = self._resolved(step)
            previous = self.state.get(step.urn)
            if previous is None:
                records.append(self._apply(step, "create", None))
                continue
            old, stdout = previous
            change = _diff(old, step)
            if change == "same":
                self.state[step.urn] = (step, stdout)
            elif change == "update":
                records.append(self._apply(step, "update", previous))
            elif step.delete_before_replace:
                del self.state[step.urn]
                records.append(self._delete(old, stdout, "replace: delete old"))
                records.append(self._apply(step, "replace: create new", None))
            else:
                records.append(self._apply(step, "replace: create new", None))
                pending_deletes.append((old, stdout))
        new_urns = {s.urn for s in new_steps}
        gone = [s for urn, (s, _) in self.state.items() if urn not in new_urns]
        for old in reversed(gone):
            _, stdout = self.state.pop(old.urn)
            if old.deleted_with and old.deleted_with not in alive:
                records.append(Record(old.name, "delete skipped (deleted_with)", 0.0, 0))
                continue
            records.append(self._delete(old, stdout, "delete"))
        for old, stdout in reversed(pending_deletes):
            records.append(self._delete(old, stdout, "replace: delete old"))
        return records

    def rerun_all(self) -> list[Record]:
        """Every step in the state run again as a first create would (idempotence check)."""
        return [self._apply(step, "create", None) for step, _ in list(self.state.values())]

    def _apply(self, step: Step, action: str, previous: tuple[Step, str] | None) -> Record:
        started = time.monotonic()
        self.say(f"  {action:<20} {step.name}")
        if step.type == LOCAL_COMMAND:
            stdout = _run_local(step, action, self.project_dir)
            self.state[step.urn] = (step, stdout)
            return Record(step.name, action, time.monotonic() - started, 0, local=True)
        with SshClient(step.connection, self.pause_scale) as client:
            if step.type == COPY:
                old = previous[0] if previous else None
                if (
                    old is None
                    or old.source_hash != step.source_hash
                    or (old.inputs["remotePath"] != step.inputs["remotePath"])
                ):
                    client.copy(step.source, step.inputs["remotePath"])
                stdout = ""
            else:
                command = step.inputs.get("create")
                if action == "update" and step.inputs.get("update"):
                    command = step.inputs["update"]
                stdout = previous[1] if previous else ""
                if command:
                    result = client.run(
                        command,
                        stdin=step.inputs.get("stdin"),
                        environment=step.inputs.get("environment") or {},
                    )
                    stdout = result.stdout
            sessions = client.dials
        self.state[step.urn] = (step, stdout)
        return Record(step.name, action, time.monotonic() - started, sessions)

    def _delete(self, old: Step, stdout: str, action: str) -> Record:
        started = time.monotonic()
        command = old.inputs.get("delete") if old.type == COMMAND else None
        if not command:
            return Record(old.name, f"{action} (nothing to run)", 0.0, 0)
        self.say(f"  {action:<20} {old.name}")
        with SshClient(old.connection, self.pause_scale) as client:
            result = client.run(
                command,
                stdin=old.inputs.get("stdin"),
                environment=old.inputs.get("environment") or {},
            )
            sessions = client.dials
        return Record(old.name, action, time.monotonic() - started, sessions, result.stdout)


def _fill(value, real: Callable[[re.Match], str]):
    if isinstance(value, str):
        return MARK.sub(real, value)
    if isinstance(value, list):
        return [_fill(v, real) for v in value]
    return value


def _run_local(step: Step, action: str, project_dir: pathlib.Path) -> str:
    """A local Command as pulumi-command runs it: `/bin/sh -c` in the program's folder, with
    the provider's environment plus the step's, stdin from the step."""
    command = step.inputs.get("create")
    if action == "update" and step.inputs.get("update"):
        command = step.inputs["update"]
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=project_dir,
        input=step.inputs.get("stdin") or "",
        env={**os.environ, **(step.inputs.get("environment") or {})},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    if done.returncode != 0:
        raise CommandFailed(
            f"exit status {done.returncode}: running {command!r}:\n{done.stdout}{done.stderr}",
            done.returncode,
            done.stdout + done.stderr,
        )
    return done.stdout


__all__ = ["CommandFailed", "Engine", "Record", "Step", "steps_of"]
