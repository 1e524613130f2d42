"""Stand-in for Google's guest agent, run once at boot inside the rehearsal VM.

It does what GCE's google-guest-agent (GoogleCloudPlatform/guest-agent, default config) does with
the instance metadata on a Debian image, reading it from a JSON file instead of the metadata
server (usage: google_guest_agent.py METADATA_JSON):

- instance setup: makes the SSH host keys the image lacks (ecdsa, ed25519, rsa);
- hostname: sets the kernel host name to the first label of the metadata `hostname` (the instance
  name; GCE's `fqdn_as_hostname = false`) and writes the agent's block in /etc/hosts;
- accounts (skipped when `enable-oslogin` is TRUE, as the agent does): creates the
  `/etc/sudoers.d/google_sudoers` file (0440, only when missing) and the `google-sudoers` group;
  for each `user:key` line of `ssh-keys` creates a missing user with `useradd -m -s /bin/bash
  -p * USER`, adds it to adm,dip,docker,lxd,plugdev,video (the groups that exist) and to
  google-sudoers, records it in /var/lib/google/google_users, and writes ~/.ssh (0700) and
  ~/.ssh/authorized_keys (0600, owned by the user, each key after a `# Added by Google` line,
  keys not added by Google kept) through a temporary file renamed into place.
"""

import fcntl
import ipaddress
import json
import os
import pwd
import socket
import struct
import subprocess
import sys
from datetime import datetime, timezone

GROUPS = "adm,dip,docker,lxd,plugdev,video"
SUDOERS_FILE = "/etc/sudoers.d/google_sudoers"
USERS_FILE = "/var/lib/google/google_users"
MARK = "# Added by Google"
HOSTS_BEGIN = "#google-guest-agent-hosts-begin"
HOSTS_END = "#google-guest-agent-hosts-end"


def log(message: str) -> None:
    print(message, flush=True)


def host_keys() -> None:
    for kind in ("ecdsa", "ed25519", "rsa"):
        path = f"/etc/ssh/ssh_host_{kind}_key"
        if not os.path.exists(path):
            subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", path], check=True)


def ipv4_addresses() -> list[str]:
    """The non-loopback IPv4 addresses, as the agent lists them (no iproute2 on the image)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                reply = fcntl.ioctl(probe.fileno(), 0x8915, request)  # SIOCGIFADDR
            except OSError:
                continue
            address = ipaddress.IPv4Address(reply[20:24])
            if not address.is_loopback:
                found.append(str(address))
    return found


def hostname(fqdn: str) -> None:
    name, dot, _ = fqdn.partition(".")
    if not dot:
        log(f"metadata hostname {fqdn} is not an FQDN; host name left as it is")
        return
    socket.sethostname(name)
    block = [HOSTS_BEGIN, "# Changes in this section will be overwritten"]
    block.append("169.254.169.254 metadata.google.internal")
    block += [f"{address} {fqdn} {name}" for address in ipv4_addresses()]
    block.append(HOSTS_END)
    with open("/etc/hosts") as f:
        lines = f.read().splitlines()
    if HOSTS_BEGIN in lines and HOSTS_END in lines:
        lines[lines.index(HOSTS_BEGIN) : lines.index(HOSTS_END) + 1] = block
    else:
        lines = block + lines
    atomic_write("/etc/hosts", "\n".join(lines) + "\n", 0o644, 0, 0)
    log(f"host name set to {name}")


def atomic_write(path: str, text: str, mode: int, uid: int, gid: int) -> None:
    temporary = path + ".google"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(temporary, uid, gid)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def expired(key: str) -> bool:
    """A `google-ssh {"expireOn": ...}` key past its date is ignored, as by the agent."""
    fields = key.split(None, 3)
    if len(fields) < 4 or fields[2] != "google-ssh":
        return False
    try:
        expire_on = json.loads(fields[3])["expireOn"]
        when = datetime.strptime(expire_on, "%Y-%m-%dT%H:%M:%S%z")
    except (ValueError, KeyError, TypeError):
        return True
    return when < datetime.now(timezone.utc)


def keys_by_user(ssh_keys: str) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for line in ssh_keys.splitlines():
        user, colon, key = line.strip().partition(":")
        if not colon or not user or not key.strip() or expired(key.strip()):
            continue
        users.setdefault(user, []).append(key.strip())
    return users


def authorized_keys(user: str, keys: list[str]) -> None:
    entry = pwd.getpwnam(user)
    ssh_dir = os.path.join(entry.pw_dir, ".ssh")
    if not os.path.exists(ssh_dir):
        os.mkdir(ssh_dir, 0o700)
        os.chown(ssh_dir, entry.pw_uid, entry.pw_gid)
    path = os.path.join(ssh_dir, "authorized_keys")
    kept, skip_next = [], False
    if os.path.exists(path):
        with open(path) as f:
            for line in f.read().splitlines():
                if skip_next:
                    skip_next = False
                elif line == MARK:
                    skip_next = True
                elif line:
                    kept.append(line)
    lines = kept + [part for key in keys for part in (MARK, key)]
    atomic_write(path, "\n".join(lines) + "\n", 0o600, entry.pw_uid, entry.pw_gid)


def accounts(ssh_keys: str) -> None:
    if not os.path.exists(SUDOERS_FILE):
        atomic_write(SUDOERS_FILE, "%google-sudoers ALL=(ALL:ALL) NOPASSWD:ALL\n", 0o440, 0, 0)
    # groupadd exits 9 when the group exists already.
    if subprocess.run(["groupadd", "google-sudoers"]).returncode not in (0, 9):
        raise SystemExit("groupadd google-sudoers failed")
    os.makedirs(os.path.dirname(USERS_FILE), mode=0o755, exist_ok=True)
    known = set()
    if os.path.exists(USERS_FILE):
        with open(USERS_FILE) as f:
            known = set(f.read().split())
    for user, keys in keys_by_user(ssh_keys).items():
        try:
            pwd.getpwnam(user)
        except KeyError:
            log(f"Creating user {user}.")
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-p", "*", user], check=True)
            for group in GROUPS.split(","):
                # Groups the image lacks are skipped, as the agent ignores these failures.
                subprocess.run(["gpasswd", "-a", user, group], capture_output=True)
            known.add(user)
            subprocess.run(["gpasswd", "-a", user, "google-sudoers"], check=True)
        if user not in known:
            subprocess.run(["gpasswd", "-a", user, "google-sudoers"], check=True)
            known.add(user)
        authorized_keys(user, keys)
        log(f"Updated keys for user {user}.")
    atomic_write(USERS_FILE, "".join(f"{u}\n" for u in sorted(known)), 0o600, 0, 0)


def main() -> None:
    with open(sys.argv[1]) as f:
        metadata = json.load(f)
    host_keys()
    if metadata.get("hostname"):
        hostname(metadata["hostname"])
    if str(metadata.get("enable-oslogin", "")).lower() == "true":
        log("OS Login is enabled: accounts are not managed from ssh-keys")
    else:
        accounts(metadata.get("ssh-keys", ""))


if __name__ == "__main__":
    main()
