"""Builds the rehearsal's stand-in Jitsi packages as a signed, flat apt repository.

    repo = build_repository(dest)   # serve repo.root; trust repo.key_file
    # deb [signed-by=KEYRING] URL stable/
    two = build_repository(dest, releases=[Release(NEW, {...}), Release(OLD, {...})])

Jitsi's own repository (download.jitsi.org) is out of reach where the rehearsal runs. These
packages carry upstream's names, dependencies, debconf questions and the maintainer-script
behaviour the project relies on, with small stand-ins for the Java services (see README.md).
They are built at call time from the templates in packages/ and upstream's files of the newest
fixture, which are read from ../shared and never stored in this repository.

Everything a call writes is under its own `dest`, apart from a private temporary GnuPG home
when `dest` is too deep for gpg-agent's socket path; that one is removed before returning.

    python3 build.py DEST [VERSION]   # builds, then prints the folder and a sources line
"""

import contextlib
import dataclasses
import gzip
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
UPSTREAM = ROOT.parent / "shared" / "fixtures" / "jitsi-upstream"
FIXTURE = UPSTREAM / "2026-07_master-abf901a"  # the newest upstream version
TEMPLATES = HERE / "packages"
STANDINS = HERE / "standins"
COMMON = TEMPLATES / "maintscript-common.sh"
COMMON_TOKEN = "#REHEARSAL_COMMON#"
PACKAGES = (
    "jitsi-meet",
    "jitsi-meet-web",
    "jitsi-meet-web-config",
    "jitsi-meet-prosody",
    "jicofo",
    "jitsi-videobridge2",
)
MAINTAINER_SCRIPTS = ("config", "preinst", "postinst", "prerm", "postrm")
EXECUTABLES = {
    "jitsi-meet-web-config": ("usr/share/jitsi-meet/scripts/install-letsencrypt-cert.sh",)
}
SUITE = "stable/"
KEY_NAME = "jitsi-key.gpg.key"  # as download.jitsi.org names its key
RELEASE_FIELDS = {
    "Origin": "jitsi-rehearsal",
    "Label": "Jitsi rehearsal stand-ins",
    "Suite": "stable",
}
VERSION_RE = re.compile(r"[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)*")
# In templates: the package's own version, and (in jitsi-meet's control) each part's.
VERSION_TOKEN = "@VERSION@"
PART_TOKEN = re.compile(r"@VERSION:([a-z0-9-]+)@")
TIMEOUT = 120  # seconds for any one tool
# gpg-agent's socket lives in GNUPGHOME; a Unix socket path has at most 107 bytes.
MAX_GNUPG_HOME = 80

WEB_CONFIG = "usr/share/jitsi-meet-web-config"
PLUGINS = "usr/share/jitsi-meet/prosody-plugins"
PROJECT_PLUGIN = ROOT / "tests/prosody_plugins/mod_auth_jitsi-anonymous.lua"
# jitsi-meet ships mod_muc_filter_access; the project's test stand-in behaves as it does.
FILTER_PLUGIN = ROOT / "tests/prosody_plugins/mod_muc_filter_access.lua"
JICOFO_STANDIN = ("xmpp_client.py", "hocon_config.py", "jicofo_standin.py")
JVB_STANDIN = ("xmpp_client.py", "hocon_config.py", "jvb_standin.py")

# What each package carries besides its template: upstream's files (from the fixture, where
# upstream ships them for its maintainer scripts to render) and files of this project.
EXTRA_FILES = {
    "jitsi-meet-web-config": {
        f"{WEB_CONFIG}/config.js": FIXTURE / "etc/jitsi/meet/meet.example.com-config.js",
        f"{WEB_CONFIG}/jitsi-meet.example": FIXTURE
        / "etc/nginx/sites-available/meet.example.com.conf",
    },
    "jitsi-meet-prosody": {
        "usr/share/jitsi-meet-prosody/prosody.cfg.lua-jvb.example": FIXTURE
        / "etc/prosody/conf.avail/meet.example.com.cfg.lua",
        f"{PLUGINS}/mod_auth_jitsi-anonymous.lua": PROJECT_PLUGIN,
        f"{PLUGINS}/mod_muc_filter_access.lua": FILTER_PLUGIN,
    },
    "jicofo": {
        "usr/share/jicofo/jicofo.conf.example": FIXTURE / "etc/jitsi/jicofo/jicofo.conf",
        "usr/share/jicofo/config.example": FIXTURE / "etc/jitsi/jicofo/config",
        **{f"usr/share/jicofo/rehearsal/{name}": STANDINS / name for name in JICOFO_STANDIN},
    },
    "jitsi-videobridge2": {
        f"usr/share/jitsi-videobridge/rehearsal/{name}": STANDINS / name for name in JVB_STANDIN
    },
}


@dataclasses.dataclass(frozen=True)
class Release:
    """One Jitsi release: the metapackage's version and the version of each part it pins.
    Upstream numbers the parts on their own (jitsi-meet 2.0.10590-1 pins jicofo 1.0-1140-1,
    ...); `Release.of(version)` gives every part the metapackage's version."""

    version: str
    parts: Mapping[str, str]

    @classmethod
    def of(cls, version: str) -> "Release":
        return cls(version, {name: version for name in PACKAGES if name != "jitsi-meet"})

    def of_package(self, name: str) -> str:
        return self.version if name == "jitsi-meet" else self.parts[name]


@dataclasses.dataclass(frozen=True)
class Repository:
    root: pathlib.Path  # the folder to serve over HTTP (or use as file:)
    suite: str  # what follows the URL in a sources line: a flat repository's folder
    key_file: pathlib.Path  # ASCII-armored public key, inside root
    version: str  # the newest release's jitsi-meet
    releases: tuple[Release, ...] = ()  # newest first

    def deb(self, package: str, release: Release | None = None) -> pathlib.Path:
        version = (release or self.releases[0]).of_package(package)
        return self.root / self.suite / f"{package}_{version}_all.deb"

    def sources_line(self, url: str, keyring: str) -> str:
        return f"deb [signed-by={keyring}] {url} {self.suite}"


def _run(args: list, **kwargs) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=TIMEOUT, **kwargs
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed: {done.stderr.strip()}")
    return done.stdout


def _versioned(text: str, name: str, release: Release) -> str:
    text = text.replace(VERSION_TOKEN, release.of_package(name))
    return PART_TOKEN.sub(lambda part: release.parts[part[1]], text)


def _package_tree(name: str, tree: pathlib.Path, release: Release) -> None:
    """The package's files under `tree`, as dpkg-deb --build wants them."""
    shutil.copytree(TEMPLATES / name, tree)
    for target, source in EXTRA_FILES.get(name, {}).items():
        (tree / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, tree / target)
    control = tree / "DEBIAN" / "control"
    control.write_text(_versioned(control.read_text(), name, release))
    for path in [tree, *tree.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for script in MAINTAINER_SCRIPTS:
        path = tree / "DEBIAN" / script
        if path.exists():
            text = path.read_text().replace(COMMON_TOKEN, COMMON.read_text().strip())
            path.write_text(_versioned(text, name, release))
            path.chmod(0o755)
    for program in EXECUTABLES.get(name, ()):
        (tree / program).chmod(0o755)


@contextlib.contextmanager
def _gnupg_home(dest: pathlib.Path):
    """A fresh GnuPG home for one throwaway key; its agent is stopped on the way out."""
    home = dest / "gnupg"
    if len(str(home)) > MAX_GNUPG_HOME:
        home = pathlib.Path(tempfile.mkdtemp(prefix="jitsi-repo-gpg-"))
    home.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        yield env
    finally:
        subprocess.run(
            ["gpgconf", "--kill", "all"], env=env, capture_output=True, timeout=30, check=False
        )
        shutil.rmtree(home, ignore_errors=True)


def _sign(suite_dir: pathlib.Path, key_file: pathlib.Path, dest: pathlib.Path) -> None:
    """InRelease and Release.gpg for suite_dir/Release, with a new key exported to key_file."""
    params = (
        "%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\n"
        "Name-Real: Jitsi rehearsal repository\nName-Email: rehearsal@jitsi.invalid\n"
        "Expire-Date: 0\n%commit\n"
    )
    with _gnupg_home(dest) as env:
        gpg = ["gpg", "--batch", "--no-tty", "--quiet"]
        _run([*gpg, "--generate-key"], input=params, env=env)
        listing = _run([*gpg, "--with-colons", "--list-secret-keys"], env=env)
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:"
        )
        key_file.write_text(_run([*gpg, "--armor", "--export", fingerprint], env=env))
        signer = [*gpg, "--yes", "--local-user", fingerprint, "--digest-algo", "SHA512"]
        release = suite_dir / "Release"
        _run([*signer, "--clearsign", "--output", suite_dir / "InRelease", release], env=env)
        _run(
            [*signer, "--armor", "--detach-sign", "--output", release.with_suffix(".gpg"), release],
            env=env,
        )


def build_repository(
    dest: pathlib.Path, version: str = "2.0.10590-1", releases: Sequence[Release] = ()
) -> Repository:
    """Builds every package at `version` into a signed flat repository under dest/repo; with
    `releases` (newest first), every package of each of them instead."""
    releases = tuple(releases) or (Release.of(version),)
    for release in releases:
        for wanted in (release.version, *release.parts.values()):
            if not VERSION_RE.fullmatch(wanted):
                raise ValueError(f"{wanted!r} is not a Debian version like 2.0.10590-1")
    missing = [str(s) for files in EXTRA_FILES.values() for s in files.values() if not s.is_file()]
    if missing:
        raise FileNotFoundError(f"upstream or project files missing: {', '.join(missing)}")
    dest = pathlib.Path(dest).resolve()
    build, root = dest / "build", dest / "repo"
    for folder in (build, root):
        shutil.rmtree(folder, ignore_errors=True)
    suite_dir = root / SUITE
    suite_dir.mkdir(parents=True)
    for release in releases:
        for name in PACKAGES:
            own = release.of_package(name)
            tree = build / f"{name}_{own}"
            if tree.exists():  # a part two releases pin at the same version
                continue
            _package_tree(name, tree, release)
            deb = suite_dir / f"{name}_{own}_all.deb"
            _run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree, deb])
    # Flat repository: Filename fields are relative to the URL, hence "stable/x.deb".
    packages = _run(["apt-ftparchive", "packages", SUITE.rstrip("/")], cwd=root)
    (suite_dir / "Packages").write_text(packages)
    with gzip.GzipFile(suite_dir / "Packages.gz", "wb", mtime=0) as packed:
        packed.write(packages.encode())
    fields = [("-o", f"APT::FTPArchive::Release::{k}={v}") for k, v in RELEASE_FIELDS.items()]
    options = [part for pair in fields for part in pair]
    release = _run(["apt-ftparchive", *options, "release", "."], cwd=suite_dir)
    (suite_dir / "Release").write_text(release)
    key_file = root / KEY_NAME
    _sign(suite_dir, key_file, dest)
    return Repository(root, SUITE, key_file, releases[0].version, releases)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: build.py DEST [VERSION]")
    repo = build_repository(pathlib.Path(sys.argv[1]), *sys.argv[2:])
    print(repo.root)
    print(repo.sources_line(f"file:{repo.root}", "/usr/share/keyrings/jitsi-keyring.gpg"))
