"""The rehearsal's stand-in Jitsi packages, checked without a booted machine.

The repository builds and verifies as apt would verify it, each package has upstream's name,
dependencies and debconf questions, and the maintainer scripts are shellcheck clean. (The
stand-in services: tests/test_rehearsal_standins.py.)
"""

import email.parser
import hashlib
import pathlib
import shutil
import subprocess
import sys

import pytest
from rehearsal.jitsi_repo import build
from support import UPSTREAM, require

sys.path.insert(0, str(build.STANDINS))  # the stand-ins import each other as siblings
import xmpp_client as xmpp  # noqa: E402

VERSION = "2.0.10590-1"
TEMPLATES_PLUGINS = build.TEMPLATES / "jitsi-meet-prosody/usr/share/jitsi-meet/prosody-plugins"
DOMAIN = "meet.example.org"
LOGIN = xmpp.Account("localhost", 5222, f"auth.{DOMAIN}", "focus", "pw", "focus")
SELF_SIGNED = "Generate a new self-signed certificate"
CERT_CHOICES = f"Let's Encrypt certificates, I want to use my own certificate, {SELF_SIGNED}"
# Upstream's questions per package (jitsi-meet debian/*.templates, jicofo and
# jitsi-videobridge debian/templates): same names, same types, same owners.
TEMPLATES = {
    "jitsi-meet-web-config": {
        "jitsi-meet/cert-choice": "select",
        "jitsi-meet/cert-path-key": "string",
        "jitsi-meet/cert-path-crt": "string",
        "jitsi-meet/jvb-hostname": "string",
        "jitsi-videobridge/jvb-hostname": "string",
        "jitsi-meet/jaas-choice": "boolean",
        "jitsi-meet/email": "string",
    },
    "jitsi-meet-prosody": {
        "jitsi-meet-prosody/jvb-hostname": "string",
        "jitsi-videobridge/jvb-hostname": "string",
        "jitsi-videobridge/jvbsecret": "password",
        "jicofo/jicofo-authuser": "string",
        "jicofo/jicofo-authpassword": "password",
        "jitsi-meet-prosody/turn-secret": "string",
    },
    "jicofo": {
        "jitsi-videobridge/jvb-hostname": "string",
        "jicofo/jicofo-authpassword": "password",
    },
    "jitsi-videobridge2": {
        "jitsi-videobridge/jvb-hostname": "string",
        "jitsi-videobridge/jvbsecret": "password",
    },
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> build.Repository:
    for tool in ("dpkg-deb", "apt-ftparchive", "gpg", "gpgv", "gpgconf"):
        require(shutil.which(tool) is not None, f"{tool} is not installed (apt-utils, gnupg)")
    require(build.FIXTURE.is_dir(), f"upstream fixtures not found at {UPSTREAM}")
    return build.build_repository(tmp_path_factory.mktemp("jitsi-repo"), VERSION)


def control(repo: build.Repository, package: str, release=None) -> dict[str, str]:
    deb = repo.deb(package, release)
    text = subprocess.run(
        ["dpkg-deb", "--field", deb], capture_output=True, text=True, check=True
    ).stdout
    return dict(email.parser.Parser().parsestr(text).items())


def control_dir(repo: build.Repository, package: str, tmp_path: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / package
    subprocess.run(["dpkg-deb", "--control", repo.deb(package), folder], check=True)
    return folder


def test_release_is_signed_by_the_served_key(repo, tmp_path):
    keyring = tmp_path / "jitsi-keyring.gpg"
    armored = repo.key_file.read_bytes()
    assert repo.key_file.parent == repo.root and armored.startswith(b"-----BEGIN PGP PUBLIC")
    subprocess.run(["gpg", "--dearmor"], input=armored, stdout=keyring.open("wb"), check=True)
    suite = repo.root / repo.suite
    for args in (["InRelease"], ["Release.gpg", "Release"]):
        checked = subprocess.run(
            ["gpgv", "--keyring", keyring, *args], cwd=suite, capture_output=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr
    # The signed index vouches for the package lists apt will fetch.
    release = (suite / "Release").read_text()
    assert release in (suite / "InRelease").read_text()
    for name in ("Packages", "Packages.gz"):
        digest = hashlib.sha256((suite / name).read_bytes()).hexdigest()
        assert f"{digest} {(suite / name).stat().st_size:>16} {name}" in release


def test_a_tampered_release_fails_verification(repo, tmp_path):
    keyring = tmp_path / "k.gpg"
    subprocess.run(["gpg", "--dearmor", "-o", keyring, repo.key_file], check=True)
    forged = tmp_path / "Release"
    forged.write_text((repo.root / repo.suite / "Release").read_text() + "Codename: forged\n")
    shutil.copy(repo.root / repo.suite / "Release.gpg", tmp_path)
    checked = subprocess.run(
        ["gpgv", "--keyring", keyring, tmp_path / "Release.gpg", forged], capture_output=True
    )
    assert checked.returncode != 0


def test_packages_index_is_flat_and_names_every_package(repo):
    text = (repo.root / repo.suite / "Packages").read_text()
    stanzas = [dict(email.parser.Parser().parsestr(s).items()) for s in text.strip().split("\n\n")]
    assert sorted(s["Package"] for s in stanzas) == sorted(build.PACKAGES)
    for stanza in stanzas:
        # A flat repository's file names are relative to the URL: "stable/<file>".
        assert stanza["Filename"] == f"stable/{stanza['Package']}_{VERSION}_all.deb"
        assert (stanza["Architecture"], stanza["Version"]) == ("all", VERSION)
    assert repo.suite == "stable/"
    line = repo.sources_line("http://127.0.0.1:8000", "/usr/share/keyrings/jitsi-keyring.gpg")
    assert line.endswith(" stable/")


def test_metapackage_pulls_every_part_and_no_turnserver(repo):
    fields = control(repo, "jitsi-meet")
    parts = ["jitsi-meet-web", "jitsi-meet-web-config", "jitsi-meet-prosody", "jicofo"]
    parts.append("jitsi-videobridge2")
    # Folded over lines, as upstream's control-tmpl folds it.
    assert "\n " in fields["Depends"]
    depends = " ".join(fields["Depends"].split())
    assert depends == ", ".join(f"{p} (= {VERSION})" for p in parts)
    relations = " ".join(fields.get(f, "") for f in ("Depends", "Recommends", "Suggests"))
    assert "turnserver" not in relations and "coturn" not in relations


@pytest.mark.parametrize(
    ("package", "field", "wanted"),
    [
        ("jitsi-meet-web-config", "Pre-Depends", "nginx | nginx-full | nginx-extras"),
        ("jitsi-meet-web-config", "Depends", "openssl"),
        ("jitsi-meet-prosody", "Depends", "prosody (>= 0.12.0) | prosody-trunk"),
        ("jitsi-meet-prosody", "Depends", "openssl"),
        ("jicofo", "Depends", "ruby-hocon"),
        ("jicofo", "Depends", "python3"),
        ("jitsi-videobridge2", "Depends", "uuid-runtime, ruby-hocon, python3"),
    ],
)
def test_dependencies_are_upstreams_on_debian_packages(repo, package, field, wanted):
    assert wanted in control(repo, package)[field]


@pytest.mark.parametrize("prosody", ["0.12.3-1+deb12u1", "13.0.1-1"])
def test_prosody_of_debian_12_and_13_both_satisfy_the_dependency(prosody):
    # Debian 12 ships 0.12.3, Debian 13 ships 13.0.1: neither may be excluded.
    ok = subprocess.run(["dpkg", "--compare-versions", prosody, "ge", "0.12.0"], check=False)
    assert ok.returncode == 0


@pytest.mark.parametrize("package", sorted(TEMPLATES))
def test_debconf_questions_are_upstreams(repo, tmp_path, package):
    text = (control_dir(repo, package, tmp_path) / "templates").read_text()
    templates = [dict(email.parser.Parser().parsestr(t).items()) for t in text.split("\n\n")]
    assert {t["Template"]: t["Type"] for t in templates} == TEMPLATES[package]
    if package == "jitsi-meet-web-config":
        choice = next(t for t in templates if t["Template"] == "jitsi-meet/cert-choice")
        assert choice["Choices"] == CERT_CHOICES


@pytest.mark.parametrize("package", sorted(TEMPLATES))
def test_maintainer_scripts_are_strict_and_shellcheck_clean(repo, tmp_path, package):
    require(shutil.which("shellcheck") is not None, "shellcheck is not installed")
    folder = control_dir(repo, package, tmp_path)
    scripts = [folder / n for n in build.MAINTAINER_SCRIPTS if (folder / n).exists()]
    assert folder / "postinst" in scripts
    for script in scripts:
        text = script.read_text()
        assert "\nset -e\n" in text and build.COMMON_TOKEN not in text
        checked = subprocess.run(["shellcheck", script], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout


def test_packages_carry_upstream_files_and_the_project_plugin(repo, tmp_path):
    def files(package):
        target = tmp_path / package
        subprocess.run(["dpkg-deb", "--extract", repo.deb(package), target], check=True)
        return target

    prosody = files("jitsi-meet-prosody")
    plugins = prosody / "usr/share/jitsi-meet/prosody-plugins"
    assert {p.name for p in plugins.iterdir()} == {
        "mod_auth_jitsi-anonymous.lua",
        "mod_client_proxy.lua",
        "mod_muc_filter_access.lua",
    }
    for target, source in build.EXTRA_FILES["jitsi-meet-prosody"].items():
        assert (prosody / target).read_bytes() == source.read_bytes()
    web_config = files("jitsi-meet-web-config")
    example = web_config / "usr/share/jitsi-meet-web-config/jitsi-meet.example"
    assert "location = /http-bind" in example.read_text()
    assert (
        web_config / "usr/share/jitsi-meet/scripts/install-letsencrypt-cert.sh"
    ).stat().st_mode & 0o111
    assert (files("jitsi-meet-web") / "usr/share/jitsi-meet/index.html").is_file()
    unit = files("jicofo") / "usr/lib/systemd/system/jicofo.service"
    assert "After=network-online.target prosody.service" in unit.read_text()
    assert "Restart=on-failure" in unit.read_text()


def test_each_build_has_its_own_key_and_version(tmp_path):
    require(build.FIXTURE.is_dir(), f"upstream fixtures not found at {UPSTREAM}")
    require(shutil.which("apt-ftparchive") is not None, "apt-ftparchive is not installed")
    first = build.build_repository(tmp_path / "a")
    second = build.build_repository(tmp_path / "b", "2.0.10600-1")
    assert first.key_file.read_text() != second.key_file.read_text()
    assert second.deb("jicofo").is_file() and second.version == "2.0.10600-1"
    assert not list(tmp_path.glob("*/gnupg"))  # the signing home is gone


def test_a_version_that_is_not_debian_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Debian version"):
        build.build_repository(tmp_path, "latest")


def test_releases_number_their_parts_on_their_own_and_share_one_repository(tmp_path):
    require(build.FIXTURE.is_dir(), f"upstream fixtures not found at {UPSTREAM}")
    require(shutil.which("apt-ftparchive") is not None, "apt-ftparchive is not installed")
    parts = {name: "1.0.8792-1" for name in build.PACKAGES if name != "jitsi-meet"}
    newer = build.Release("2.0.10590-1", {**parts, "jicofo": "1.0-1140-1"})
    older = build.Release("2.0.10314-1", {**parts, "jicofo": "1.0-1135-1"})
    repo = build.build_repository(tmp_path, releases=[newer, older])
    assert repo.version == newer.version and repo.releases == (newer, older)
    index = (repo.root / repo.suite / "Packages").read_text()
    versions = sorted(
        (s["Package"], s["Version"])
        for s in (dict(email.parser.Parser().parsestr(t).items()) for t in index.split("\n\n"))
        if s
    )
    # A part both releases pin at one version is in the repository once.
    assert [v for p, v in versions if p == "jicofo"] == ["1.0-1135-1", "1.0-1140-1"]
    assert [v for p, v in versions if p == "jitsi-meet-web"] == ["1.0.8792-1"]
    for release in (newer, older):
        depends = " ".join(control(repo, "jitsi-meet", release)["Depends"].split())
        assert f"jicofo (= {release.parts['jicofo']})" in depends
        assert control(repo, "jicofo", release)["Version"] == release.parts["jicofo"]


def test_an_upgrade_migrates_the_site_file_once_and_a_downgrade_does_not(tmp_path):
    """jitsi-meet-prosody's postinst, as dpkg runs it for an upgrade (configure OLD) and a
    downgrade (configure NEWER): the migration rewrites the site file once, upstream's way."""
    repo = build.build_repository(tmp_path / "repo", "1.0.8792-1")
    folder = control_dir(repo, "jitsi-meet-prosody", tmp_path)
    script = (folder / "postinst").read_text()
    functions = script[: script.index('case "$1" in')]
    site = tmp_path / "site.cfg.lua"
    site.write_text('VirtualHost "meet.example.org"\n    authentication = "internal_hashed"\n')
    original = site.read_text()

    def migrate(previous: str) -> int:
        call = f'{functions}\nmigrate_site_config "$1" "$2"'
        return subprocess.run(["sh", "-c", call, "sh", site, previous], check=False).returncode

    assert migrate("") == 1 and site.read_text() == original  # a first install
    assert migrate("1.0.9000-1") == 1 and site.read_text() == original  # a downgrade
    assert migrate("1.0.8542-1") == 0  # an upgrade
    migrated = site.read_text()
    assert migrated.splitlines()[0].startswith("-- site file migrated by jitsi-meet-prosody")
    assert migrated.endswith(original)
    assert migrate("1.0.8542-1") == 1 and site.read_text() == migrated  # once
