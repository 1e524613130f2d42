#!/usr/bin/env python3
"""Wait, with time limits, until a fresh VM is ready for apt.

Fresh cloud VMs run cloud-init, apt-daily and unattended-upgrades for minutes after boot;
an install started meanwhile fails on the dpkg lock. This waits for cloud-init (where it
exists) and then for every dpkg/apt lock to be free, and ends with a one-line error naming
what it waited for when a limit runs out. Exit status: 0 ready, 1 a wait ran out.

    wait.py --root R --cloud-init-timeout S --lock-timeout S --poll S
"""

import argparse
import fcntl
import os
import shutil
import struct
import subprocess
import sys
import time

# The locks apt and dpkg take, root-relative. dpkg and apt lock them with fcntl (POSIX record
# locks), which is what F_GETLK reports; an unlocked file that is merely open does not count.
LOCK_FILES = (
    "var/lib/dpkg/lock-frontend",
    "var/lib/dpkg/lock",
    "var/lib/apt/lists/lock",
    "var/cache/apt/archives/lock",
)
# struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len,
# pid_t l_pid, padded to 32 bytes.
FLOCK = "@hhqqi4x"
# cloud-init status --wait: 0 done, 2 done with recoverable errors ("degraded").
CLOUD_INIT_DONE = (0, 2)


def say(message: str) -> None:
    print(message, flush=True)


def lock_holder(path: str) -> int | None:
    """The pid holding a write-conflicting lock on path, or None when it is free (or absent)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        query = struct.pack(FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, _, _, _, pid = struct.unpack(FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    finally:
        os.close(fd)
    return None if l_type == fcntl.F_UNLCK else pid


def describe(pid: int) -> str:
    """'process 812 (unattended-upgr)', so the user knows who holds the lock."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
            return f"process {pid} ({comm.read().strip()})"
    except OSError:
        return f"process {pid}"


def held_lock(root: str) -> tuple[str, int] | None:
    for relative in LOCK_FILES:
        pid = lock_holder(os.path.join(root or "/", relative))
        if pid is not None:
            return "/" + relative, pid
    return None


def wait_for_cloud_init(timeout: int) -> bool:
    if shutil.which("cloud-init") is None:
        say("Skip cloud-init wait (cloud-init not installed)")
        return True
    say("Wait for cloud-init to finish")
    try:
        # stdout holds only dots and a status word; keep the progress lines short.
        done = subprocess.run(
            ["cloud-init", "status", "--wait"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(
            f"install_jitsi: error: waited {timeout} s for cloud-init to finish "
            "('cloud-init status --wait'); see 'cloud-init status --long', then re-run, "
            "or raise INSTALL_JITSI_CLOUD_INIT_TIMEOUT",
            file=sys.stderr,
        )
        return False
    if done.returncode not in CLOUD_INIT_DONE:
        # cloud-init's own failures are not ours to fix; the lock wait still protects apt.
        say(f"WARNING: cloud-init finished with errors (exit {done.returncode}); continuing")
    return True


def wait_for_locks(root: str, timeout: int, poll: float) -> bool:
    say("Wait for package manager locks")
    deadline = time.monotonic() + timeout
    reported = None
    while (held := held_lock(root)) is not None:
        path, pid = held
        if time.monotonic() >= deadline:
            print(
                f"install_jitsi: error: waited {timeout} s for the package manager lock {path}, "
                f"still held by {describe(pid)}; let it finish and re-run, "
                "or raise INSTALL_JITSI_LOCK_TIMEOUT",
                file=sys.stderr,
            )
            return False
        if held != reported:
            say(f"Wait for {path} (held by {describe(pid)})")
            reported = held
        time.sleep(poll)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="")
    parser.add_argument("--cloud-init-timeout", type=int, required=True)
    parser.add_argument("--lock-timeout", type=int, required=True)
    parser.add_argument("--poll", type=float, required=True)
    args = parser.parse_args()
    if not wait_for_cloud_init(args.cloud_init_timeout):
        return 1
    return 0 if wait_for_locks(args.root, args.lock_timeout, args.poll) else 1


if __name__ == "__main__":
    sys.exit(main())
