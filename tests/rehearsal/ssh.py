"""An SSH client that behaves as pulumi-command 1.2.1's (paramiko in place of x/crypto/ssh).

What it keeps from the provider (provider/pkg/provider/remote/{connection,commandOutputs,
copyController}.go): one dial per step, retried up to `dialErrorLimit` times with a growing pause,
each bounded by `perDialTimeout`; the host key checked against `hostKey` when given, and accepted
whatever it is when not (InsecureIgnoreHostKey); one session per command, without a terminal, its
stdin sent then closed; stdout and stderr captured, a trailing newline dropped; a non-zero exit
reported with the command and its whole output, as `pulumi up` prints it; SFTP for copies, with
the parent folders created.
"""

import base64
import dataclasses
import io
import pathlib
import posixpath
import socket
import stat
import time

import paramiko

# The provider's defaults when the connection does not set them.
DEFAULT_DIAL_ERROR_LIMIT = 10
DEFAULT_PER_DIAL_TIMEOUT = 15
# Pulumi's retry loop: 100 ms, growing by half each time, at most 5 s between dials.
FIRST_PAUSE, GROWTH, LONGEST_PAUSE = 0.1, 1.5, 5.0
# A step that runs longer than this is cut off (the install is the longest: minutes).
COMMAND_TIMEOUT = 1800.0


class CommandFailed(Exception):
    """A remote command exited non-zero or could not run; the message is what `up` prints."""

    def __init__(self, message: str, exit_status: int | None, output: str, first_error: str = ""):
        super().__init__(message)
        self.exit_status = exit_status
        self.output = output
        # For a dial that never succeeded: the first attempt's error (the message, like the
        # provider's, names the last one, which a server's penalties for failed handshakes
        # may have turned into a refused banner).
        self.first_error = first_error


@dataclasses.dataclass(frozen=True)
class Connection:
    host: str
    user: str
    private_key: str
    port: int = 22
    dial_error_limit: int = DEFAULT_DIAL_ERROR_LIMIT
    per_dial_timeout: int = DEFAULT_PER_DIAL_TIMEOUT
    # An authorized_keys-style line ("ssh-ed25519 AAAA..."), or None: any key is accepted.
    host_key: str | None = None

    @classmethod
    def from_inputs(cls, inputs: dict) -> "Connection":
        """From the `connection` input as registered (camelCase keys, secrets unwrapped)."""
        known = {"host", "user", "privateKey", "port", "dialErrorLimit", "perDialTimeout"}
        unmodelled = set(inputs) - known - {"hostKey"}
        if unmodelled:
            raise NotImplementedError(
                f"connection settings the rehearsal does not model: {unmodelled}"
            )
        return cls(
            host=inputs["host"],
            user=inputs["user"],
            private_key=inputs["privateKey"],
            port=int(inputs.get("port", 22)),
            dial_error_limit=int(inputs.get("dialErrorLimit", DEFAULT_DIAL_ERROR_LIMIT)),
            per_dial_timeout=int(inputs.get("perDialTimeout", DEFAULT_PER_DIAL_TIMEOUT)),
            host_key=inputs.get("hostKey"),
        )


@dataclasses.dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str


class SshClient:
    """One connection, dialled on first use; `dials` counts the SSH sessions it opened."""

    def __init__(self, connection: Connection, pause_scale: float = 1.0):
        self.connection = connection
        # Tests may shorten the pauses between dials; the number of dials stays the provider's.
        self.pause_scale = pause_scale
        self.dials = 0
        self.failed_dials = 0
        self._transport: paramiko.Transport | None = None

    def __enter__(self) -> "SshClient":
        return self

    def __exit__(self, *_exc) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _dial_once(self) -> paramiko.Transport:
        c = self.connection
        sock = socket.create_connection((c.host, c.port), timeout=c.per_dial_timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.banner_timeout = transport.auth_timeout = c.per_dial_timeout
            transport.start_client(timeout=c.per_dial_timeout)
            _check_host_key(transport.get_remote_server_key(), c.host_key)
            key = paramiko.Ed25519Key.from_private_key(io.StringIO(c.private_key))
            transport.auth_publickey(c.user, key)
        except BaseException:
            transport.close()
            raise
        return transport

    def transport(self) -> paramiko.Transport:
        if self._transport is not None:
            return self._transport
        pause, last_error, first_error = FIRST_PAUSE, None, None
        for _ in range(self.connection.dial_error_limit):
            try:
                self._transport = self._dial_once()
                self.dials += 1
                return self._transport
            except (OSError, paramiko.SSHException) as exc:
                self.failed_dials += 1
                last_error = exc
                first_error = first_error or exc
                time.sleep(pause * self.pause_scale)
                pause = min(pause * GROWTH, LONGEST_PAUSE)
        raise CommandFailed(
            f"after {self.connection.dial_error_limit} failed attempts: {last_error}",
            None,
            "",
            str(first_error),
        )

    def run(
        self,
        command: str,
        stdin: str | None = None,
        environment: dict | None = None,
    ) -> Result:
        """Runs `command` in one session, as the provider's CommandOutputs.run does."""
        # Not modelled, as neither changes what runs: the previous output the provider offers
        # as PULUMI_COMMAND_STDOUT (sshd refuses it without AcceptEnv, and the provider goes on)
        # and `logging` (what `up` displays).
        if environment:
            # Go's Setenv asks for a reply and fails the step when sshd refuses (stock Debian
            # accepts only LANG and LC_*); nothing in this program may rely on it.
            raise NotImplementedError(f"environment is not modelled: {sorted(environment)}")
        channel = self.transport().open_session(timeout=self.connection.per_dial_timeout)
        try:
            channel.settimeout(COMMAND_TIMEOUT)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            stdout, stderr, combined = _collect(channel)
            status = channel.recv_exit_status()
        finally:
            channel.close()
        if status != 0:
            raise CommandFailed(
                f"Process exited with status {status}: running {command!r}:\n{combined}",
                status,
                combined,
            )
        return Result(stdout.removesuffix("\n"), stderr.removesuffix("\n"))

    def copy(self, source: str, remote_path: str) -> None:
        """The provider's sftpCopy: a file to remote_path (or into it, when it is a folder); a
        folder into remote_path/<name>, or with a trailing "/" its contents into remote_path."""
        local = pathlib.Path(source)
        sftp = paramiko.SFTPClient.from_transport(self.transport())
        try:
            existing = _remote_stat(sftp, remote_path)
            if local.is_dir():
                target = remote_path
                if existing is None:
                    _mkdir_all(sftp, remote_path)
                if not source.endswith("/"):
                    target = posixpath.join(remote_path, local.name)
                    if _remote_stat(sftp, target) is None:
                        sftp.mkdir(target)
                _copy_folder(sftp, local, target)
            else:
                target = remote_path
                if existing is not None and stat.S_ISDIR(existing.st_mode):
                    target = posixpath.join(remote_path, local.name)
                elif existing is None:
                    _mkdir_all(sftp, posixpath.dirname(remote_path))
                sftp.put(str(local), target)
        finally:
            sftp.close()


def _collect(channel: paramiko.Channel) -> tuple[str, str, str]:
    """stdout, stderr and both interleaved, read until the command ends (bounded)."""
    out, err, both = bytearray(), bytearray(), bytearray()
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while True:
        got = False
        while channel.recv_ready():
            data = channel.recv(65536)
            out += data
            both += data
            got = True
        while channel.recv_stderr_ready():
            data = channel.recv_stderr(65536)
            err += data
            both += data
            got = True
        if (
            channel.exit_status_ready()
            and not channel.recv_ready()
            and not (channel.recv_stderr_ready())
        ):
            break
        if time.monotonic() > deadline:
            raise CommandFailed(f"no end within {COMMAND_TIMEOUT:.0f} s", None, both.decode())
        if not got:
            time.sleep(0.02)
    return out.decode(errors="replace"), err.decode(errors="replace"), both.decode(errors="replace")


def _check_host_key(key: paramiko.PKey, expected: str | None) -> None:
    if expected is None:
        return
    kind, blob = expected.split()[:2]
    if key.get_name() != kind or key.asbytes() != base64.b64decode(blob):
        raise paramiko.SSHException(
            f"ssh: handshake failed: ssh: host key mismatch ({key.get_name()} offered)"
        )


def _remote_stat(sftp: paramiko.SFTPClient, path: str):
    try:
        return sftp.stat(path)
    except FileNotFoundError:
        return None


def _copy_folder(sftp: paramiko.SFTPClient, local: pathlib.Path, remote: str) -> None:
    """copyDir: every file and folder below `local`, created or overwritten; nothing deleted."""
    for path in sorted(local.iterdir()):
        target = posixpath.join(remote, path.name)
        if path.is_dir():
            if _remote_stat(sftp, target) is None:
                sftp.mkdir(target)
            _copy_folder(sftp, path, target)
        else:
            sftp.put(str(path), target)


def _mkdir_all(sftp: paramiko.SFTPClient, folder: str) -> None:
    if folder in ("", "/"):
        return
    try:
        sftp.stat(folder)
        return
    except FileNotFoundError:
        pass
    _mkdir_all(sftp, posixpath.dirname(folder))
    sftp.mkdir(folder)
