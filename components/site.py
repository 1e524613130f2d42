"""The whole deployment: address and firewall, VM, optional DNS record, remote steps."""

import dataclasses
import pathlib
import re

import pulumi
import pulumi_command as command

from components.dns import DnsRecord, DnsRecordArgs
from components.host_setup import HostSetup, HostSetupArgs
from components.moderators import ModeratorAccounts, ModeratorAccountsArgs
from components.network import Network, NetworkArgs
from components.outside_proof import OutsideProof, OutsideProofArgs
from components.remote_host import DIAL_ERROR_LIMIT, PER_DIAL_TIMEOUT, RemoteHost
from components.verification import FOCUS_WAIT, TOOLS, Verification, VerificationArgs
from components.videobridges import Videobridges, VideobridgesArgs
from components.vm import JitsiVm, VmArgs
from config import StackConfig


@dataclasses.dataclass(frozen=True)
class SiteArgs:
    config: StackConfig
    # The local scripts folder, copied to the VM (relative to the project directory).
    scripts_dir: pathlib.Path


class JitsiSite(pulumi.ComponentResource):
    url: pulumi.Output[str]
    ip: pulumi.Output[str]
    domain: pulumi.Output[str]
    guest_domain: pulumi.Output[str]
    moderators: list[str]
    generated_passwords: pulumi.Output[dict]
    ssh_user: str
    ssh_private_key: pulumi.Output[str]
    ssh_command: pulumi.Output[str]
    # A known_hosts line, "IP ssh-ed25519 AAAA...": the VM's own key, as its guest agent
    # published it.
    host_key: pulumi.Output[str]
    # The instance's name and zone, for gcloud (e.g. to start a stopped Spot VM).
    instance_name: pulumi.Output[str]
    zone: pulumi.Output[str]
    # {package: version} of Jitsi's packages, Prosody and nginx, as the VM reported them.
    jitsi_versions: pulumi.Output[dict]

    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jitsi:site:Site", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        tag = network_tag(name, pulumi.get_stack())
        network = Network(
            f"{name}-net",
            NetworkArgs(
                cfg.project,
                cfg.region,
                cfg.network,
                tag,
                cfg.ssh_source_ranges,
                cfg.extra_ingress,
            ),
            child,
        )
        self.ip = network.address
        self.domain = (
            pulumi.Output.from_input(cfg.domain)
            if cfg.domain
            else self.ip.apply(lambda ip: f"{ip.replace('.', '-')}.sslip.io")
        )
        self.guest_domain = (
            pulumi.Output.from_input(cfg.guest_domain)
            if cfg.guest_domain
            else self.domain.apply(lambda d: f"guest.{d}")
        )
        vm = JitsiVm(
            f"{name}-host",
            VmArgs(
                project=cfg.project,
                zone=cfg.zone,
                machine_type=cfg.machine_type,
                image_family=cfg.image_family,
                disk_size_gb=cfg.disk_size_gb,
                spot=cfg.spot,
                network=cfg.network,
                network_tag=tag,
                labels=cfg.labels,
                ssh_user=cfg.ssh_user,
                address=self.ip,
                domain=self.domain,
            ),
            child,
        )
        ready_after: list[pulumi.Resource] = list(network.firewalls)
        if cfg.dns_zone and cfg.domain:
            dns = DnsRecord(
                f"{name}-dns", DnsRecordArgs(cfg.project, cfg.dns_zone, cfg.domain, self.ip), child
            )
            ready_after.append(dns.record)
        host = RemoteHost(
            connection=command.remote.ConnectionArgs(
                host=self.ip,
                user=cfg.ssh_user,
                private_key=vm.private_key,
                # Only the VM's own key: nothing else can take the deploy key's session.
                host_key=vm.host_key,
                dial_error_limit=DIAL_ERROR_LIMIT,
                per_dial_timeout=PER_DIAL_TIMEOUT,
            ),
            instance=vm.instance,
            scripts_dir=args.scripts_dir,
            remote_dir=f"/home/{cfg.ssh_user}/jitsi-deploy",
        )
        setup = HostSetup(
            f"{name}-setup",
            HostSetupArgs(
                host,
                self.domain,
                self.guest_domain,
                cfg.lets_encrypt_email,
                cfg.apt,
                ready_after,
                jitsi_version=cfg.jitsi_version,
            ),
            child,
        )
        pool = None
        if cfg.videobridges:
            pool = Videobridges(
                f"{name}-bridges",
                VideobridgesArgs(
                    cfg,
                    self.domain,
                    signalling_tag=tag,
                    signalling_address=vm.instance.network_interfaces[0].network_ip,
                    host=host,
                    after=setup.secured,
                    installed=setup.versions,
                    bridge_tag=network_tag(f"{name}-bridges", pulumi.get_stack()),
                    release=setup.release,
                ),
                child,
            )
        accounts = ModeratorAccounts(
            f"{name}-moderator",
            ModeratorAccountsArgs(
                host, self.domain, cfg.moderators, cfg.generated_moderators, setup.secured
            ),
            child,
        )
        verified = Verification(
            f"{name}-verify",
            VerificationArgs(
                host,
                self.domain,
                self.guest_domain,
                accounts.credentials,
                accounts.synced,
                release=setup.release,
                # With a pool, the proof counts its bridges too.
                bridges=pool.fewest if pool else 0,
                bridge_group=pool.group if pool else None,
            ),
            child,
        )
        if cfg.outside_proof:
            exposure = {
                "sshSourceRanges": list(cfg.ssh_source_ranges),
                "extraIngress": [dataclasses.asdict(rule) for rule in cfg.extra_ingress],
                "dnsZone": cfg.dns_zone or "",
            }
            OutsideProof(
                f"{name}-prove",
                OutsideProofArgs(
                    host=host,
                    address=self.ip,
                    domain=self.domain,
                    guest_domain=self.guest_domain,
                    credentials=accounts.credentials,
                    exposure=exposure,
                    focus_wait=FOCUS_WAIT,
                    after=[verified.step, *ready_after],
                    tools=TOOLS,
                    release=setup.release,
                ),
                child,
            )
        self.url = self.domain.apply(lambda d: f"https://{d}/")
        self.moderators = list(cfg.moderator_names)
        self.generated_passwords = accounts.generated_passwords
        self.ssh_user = cfg.ssh_user
        self.ssh_private_key = vm.private_key
        self.host_key = pulumi.Output.concat(self.ip, " ", vm.host_key)
        self.instance_name = vm.instance.name
        self.zone = vm.instance.zone
        self.jitsi_versions = setup.versions
        # ssh takes options after the destination too; StrictHostKeyChecking=yes: that key or
        # nothing, never "add it and go on".
        # The key goes to ~/.ssh, one file per stack, never into the checkout, where a commit
        # could take it along; the VM is trusted by its pinned key only.
        files = f"~/.ssh/jitsi-{pulumi.get_stack()}"
        self.ssh_command = self.ip.apply(
            lambda ip: (
                f"umask 077 && mkdir -p ~/.ssh && "
                f"pulumi stack output --show-secrets sshPrivateKey > {files}.key && "
                f"pulumi stack output hostKey > {files}.known_hosts && "
                f"ssh -i {files}.key -o UserKnownHostsFile={files}.known_hosts "
                f"-o StrictHostKeyChecking=yes {cfg.ssh_user}@{ip}"
            )
        )
        self.register_outputs({"url": self.url, "ip": self.ip})


def network_tag(name: str, stack: str) -> str:
    """A valid, stack-specific network tag, so two stacks in one project never share rules."""
    tag = re.sub(r"[^a-z0-9-]+", "-", f"{name}-{stack}".lower()).strip("-")
    return tag[:63].rstrip("-")
