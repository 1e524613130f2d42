"""`pulumi up`: a secured, self-hosted Jitsi Meet on Compute Engine."""

import pathlib

import pulumi

import config
from components.site import JitsiSite, SiteArgs

settings = config.load()
site = JitsiSite("jitsi", SiteArgs(settings, scripts_dir=pathlib.Path("scripts")))

pulumi.export("url", site.url)
pulumi.export("ip", site.ip)
pulumi.export("domain", site.domain)
pulumi.export("guestDomain", site.guest_domain)
pulumi.export("moderators", site.moderators)
pulumi.export("generatedPasswords", site.generated_passwords)
pulumi.export("sshUser", site.ssh_user)
pulumi.export("sshCommand", site.ssh_command)
pulumi.export("sshPrivateKey", site.ssh_private_key)
pulumi.export("hostKey", site.host_key)
pulumi.export("instanceName", site.instance_name)
pulumi.export("zone", site.zone)
pulumi.export("jitsiVersions", site.jitsi_versions)
