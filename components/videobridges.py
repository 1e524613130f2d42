"""A pool of videobridges beside the signalling node: an autoscaled, autohealed regional group.

Each bridge is a VM made from one instance template. At boot it reads its settings from the
template's metadata (scripts/bridge/boot.py), except its XMPP password, which it reads from
Secret Manager with its own service account (components/videobridge_secret.py). It trusts the
signalling node's auth certificate, read from that node over the pinned SSH connection and
published in the template. On the way out it hands its conferences over
(scripts/bridge/shutdown.py). The template names the node's installed release: a new one there
rolls the group, new bridges up before old ones leave.
"""

import dataclasses

import pulumi
import pulumi_command as command
import pulumi_gcp as gcp

from components.remote_host import MissingScript, RemoteHost, command_line
from components.videobridge_account import bridge_account
from components.videobridge_firewall import BridgeFirewallArgs, bridge_firewall
from components.videobridge_secret import bridge_secret
from config import StackConfig

# Jitsi's own repository, which the installer uses too when jitsi:jitsiAptSource is unset.
JITSI_SOURCE = "https://download.jitsi.org stable/"
JITSI_KEY = "https://download.jitsi.org/jitsi-key.gpg.key"
# How much of the time Compute Engine gives a shutdown script (about 90 s; 30 s on a Spot
# preemption) the bridge's leave may use, keeping a margin for the power-off itself.
SHUTDOWN_SECONDS = {False: "80", True: "25"}
# A new bridge installs Java and the bridge before it serves: the autoscaler ignores its CPU
# for BOOT_SECONDS, and autohealing its health for HEAL_AFTER_SECONDS.
BOOT_SECONDS = 300
HEAL_AFTER_SECONDS = 600
# The bridge's private HTTP server (jvb.conf), where its health endpoint answers.
HEALTH_PORT = 8080
HEALTH_PATH = "/about/health"
# The scope a token needs for Secret Manager; IAM, not the scope, limits a bridge to its secret.
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# A regional group without zones of its own spreads over three of the region's zones, and a
# fixed surge there must be 0 or at least its number of zones: a rolling update adds this many.
ZONES = 3
# The signalling node keeps its own bridge, which joins the bridges' room beside the pool's.
LOCAL_BRIDGES = 1


@dataclasses.dataclass(frozen=True)
class VideobridgesArgs:
    # The stack's settings: the pool's (config.videobridges, set), and the main VM's project,
    # region, network, image family, labels, apt sources and Jitsi release, which the bridges
    # share.
    config: StackConfig
    # The site's domain: the bridges log in as jvb@auth.<domain>.
    domain: pulumi.Input[str]
    # The signalling node: its network tag (for its 5222 rule), its internal address, and the
    # SSH connection of its remote steps.
    signalling_tag: str
    signalling_address: pulumi.Input[str]
    host: RemoteHost
    # The step after which the signalling node's Prosody runs with its auth certificate: the
    # last one of an install or upgrade (the securing step).
    after: pulumi.Resource
    # {package: version} the signalling node runs (HostSetup.versions): the bridges install its
    # jitsi-meet release exactly, so a new release there rolls the pool.
    installed: pulumi.Input[dict]
    # The bridges' own network tag.
    bridge_tag: str
    # The same versions as one line (HostSetup.release): the account step runs again after an
    # upgrade, whose package scripts rewrite the site file its room filter is in.
    release: pulumi.Input[str] = ""


class Videobridges(pulumi.ComponentResource):
    # The group: the proof counts its bridges only once it exists.
    group: gcp.compute.RegionInstanceGroupManager
    # The fewest bridges jicofo should count once the pool is up: `min` and the node's own.
    fewest: int

    def __init__(
        self, name: str, args: VideobridgesArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("jitsi:site:Videobridges", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, pool = args.config, args.config.videobridges
        secret = bridge_secret(self, name, cfg.project, args.bridge_tag)
        host = args.host
        # The signalling node's Prosody learns the password the bridges log in with.
        account = bridge_account(
            self, name, host, args.domain, secret.password, args.after, args.release
        )
        certificate = command.remote.Command(
            f"{name}-certificate",
            connection=host.connection,
            create=command_line(
                "sudo",
                "python3",
                "-B",
                host.script("bridge/auth_certificate.py"),
                "--domain",
                args.domain,
            ),
            # A new VM, or a re-run install, may hold a new certificate.
            triggers=host.triggers("bridge", "install_jitsi"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.after]),
        )
        firewalls = bridge_firewall(
            self,
            name,
            BridgeFirewallArgs(
                cfg.project, cfg.network, args.bridge_tag, args.signalling_tag, HEALTH_PORT
            ),
        )
        template = gcp.compute.InstanceTemplate(
            f"{name}-template",
            project=cfg.project,
            description="Jitsi videobridge",
            machine_type=pool.machine_type,
            # The bridge keeps nothing: a small disk, gone with the VM.
            disks=[
                gcp.compute.InstanceTemplateDiskArgs(
                    source_image=cfg.image_family,
                    boot=True,
                    auto_delete=True,
                    disk_type="pd-balanced",
                    disk_size_gb=10,
                )
            ],
            # An external address of its own: participants send media straight to it.
            network_interfaces=[
                gcp.compute.InstanceTemplateNetworkInterfaceArgs(
                    network=cfg.network,
                    access_configs=[gcp.compute.InstanceTemplateNetworkInterfaceAccessConfigArgs()],
                )
            ],
            tags=[args.bridge_tag],
            labels={**cfg.labels, "app": "jitsi-meet", "role": "videobridge"},
            metadata=_metadata(args, certificate.stdout, secret.name),
            service_account=gcp.compute.InstanceTemplateServiceAccountArgs(
                email=secret.identity.email, scopes=[CLOUD_PLATFORM]
            ),
            shielded_instance_config=gcp.compute.InstanceTemplateShieldedInstanceConfigArgs(
                enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            scheduling=_scheduling(pool.spot),
            opts=child,
        )
        health = gcp.compute.HealthCheck(
            f"{name}-health",
            project=cfg.project,
            description="Jitsi videobridge: /about/health on its private port",
            check_interval_sec=10,
            timeout_sec=5,
            healthy_threshold=2,
            unhealthy_threshold=3,
            http_health_check=gcp.compute.HealthCheckHttpHealthCheckArgs(
                port=HEALTH_PORT, request_path=HEALTH_PATH
            ),
            opts=child,
        )
        group = gcp.compute.RegionInstanceGroupManager(
            f"{name}-group",
            project=cfg.project,
            region=cfg.region,
            base_instance_name=args.bridge_tag[:54].rstrip("-"),
            versions=[
                gcp.compute.RegionInstanceGroupManagerVersionArgs(
                    name="bridge", instance_template=template.self_link_unique
                )
            ],
            auto_healing_policies=gcp.compute.RegionInstanceGroupManagerAutoHealingPoliciesArgs(
                health_check=health.id, initial_delay_sec=HEAL_AFTER_SECONDS
            ),
            update_policy=_rolling_update(),
            # The autoscaler sets the size; waiting for the bridges here would hold the `up`.
            wait_for_instances=False,
            # Every bridge boots able to read its password, that Prosody accepts, and reachable;
            # a new release rolls only once the node runs it, secured again (args.after).
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.after, secret.reader, account, *firewalls]
            ),
        )
        policy = gcp.compute.RegionAutoscalerAutoscalingPolicyArgs(
            min_replicas=pool.min,
            max_replicas=pool.max,
            cooldown_period=BOOT_SECONDS,
            cpu_utilization=gcp.compute.RegionAutoscalerAutoscalingPolicyCpuUtilizationArgs(
                target=pool.cpu_target
            ),
            # One bridge at a time, at most one per 10 minutes, as Jitsi's own autoscaler does:
            # each leaving bridge hands its conferences over first.
            scale_in_control=gcp.compute.RegionAutoscalerAutoscalingPolicyScaleInControlArgs(
                max_scaled_in_replicas=gcp.compute.RegionAutoscalerAutoscalingPolicyScaleInControlMaxScaledInReplicasArgs(  # noqa: E501
                    fixed=1
                ),
                time_window_sec=600,
            ),
        )
        gcp.compute.RegionAutoscaler(
            f"{name}-autoscaler",
            project=cfg.project,
            region=cfg.region,
            target=group.id,
            autoscaling_policy=policy,
            opts=child,
        )
        self.group = group
        self.fewest = pool.min + LOCAL_BRIDGES
        self.register_outputs({"group": group.id})


def _metadata(
    args: VideobridgesArgs, certificate: pulumi.Input[str], secret_name: str
) -> dict[str, pulumi.Input[str]]:
    """What a bridge reads at boot (scripts/bridge/README.md): public values only. The secret
    is named, never given."""
    cfg = args.config
    scripts = {}
    for key, file in (("startup-script", "boot.py"), ("shutdown-script", "shutdown.py")):
        path = args.host.scripts_dir / "bridge" / file
        if not path.is_file():
            raise MissingScript(
                f"{path.as_posix()} not found: run `pulumi up` from a full checkout"
            )
        scripts[key] = path.read_text()
    return {
        **scripts,
        "jitsi-domain": args.domain,
        "jitsi-signalling-address": args.signalling_address,
        "jitsi-auth-certificate": certificate,
        "jitsi-bridge-secret": secret_name,
        "jitsi-version": _release(args.installed, cfg.jitsi_version),
        "jitsi-apt-source": cfg.apt.jitsi_source or JITSI_SOURCE,
        "jitsi-apt-key": cfg.apt.jitsi_key or JITSI_KEY,
        "jitsi-shutdown-seconds": SHUTDOWN_SECONDS[cfg.videobridges.spot],
        # Nobody logs in to a bridge (the firewall closes 22 too): no project-wide key opens it.
        "block-project-ssh-keys": "TRUE",
    }


def _release(installed: pulumi.Input[dict], configured: str) -> pulumi.Output[str]:
    """The exact jitsi-meet release the signalling node runs, as its install step reported it
    (`stable` there may be older than today's newest); the configured one only when the report
    names none."""
    return pulumi.Output.from_input(installed).apply(
        lambda versions: versions.get("jitsi-meet") or configured
    )


def _rolling_update() -> gcp.compute.RegionInstanceGroupManagerUpdatePolicyArgs:
    """A new template (a new release) replaces every bridge, capacity first: up to ZONES new
    bridges boot beside the old ones, and an old one is deleted, running its shutdown script
    (the handover), only once a new one is available (running and healthy once)."""
    return gcp.compute.RegionInstanceGroupManagerUpdatePolicyArgs(
        type="PROACTIVE",
        # A bridge installs its release at its first boot only: nothing less than a new VM.
        minimal_action="REPLACE",
        most_disruptive_allowed_action="REPLACE",
        # New VMs with new names beside the old ones (RECREATE would need unavailability).
        replacement_method="SUBSTITUTE",
        max_surge_fixed=ZONES,
        max_unavailable_fixed=0,
    )


def _scheduling(spot: bool) -> gcp.compute.InstanceTemplateSchedulingArgs:
    if spot:
        # What Compute Engine requires of Spot (no live migration, no automatic restart). A
        # preempted bridge is deleted: the group makes a fresh one when capacity returns.
        return gcp.compute.InstanceTemplateSchedulingArgs(
            provisioning_model="SPOT",
            preemptible=True,
            automatic_restart=False,
            on_host_maintenance="TERMINATE",
            instance_termination_action="DELETE",
        )
    return gcp.compute.InstanceTemplateSchedulingArgs(
        provisioning_model="STANDARD", automatic_restart=True, on_host_maintenance="MIGRATE"
    )
