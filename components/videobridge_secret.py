"""The bridges' identity and their XMPP password, which only that identity can read.

The password of the one shared account jvb@auth.<domain> is generated here and kept in Secret
Manager. The secret's IAM policy gains one member, the bridges' own service account, with the
one role that reads a secret's versions; nothing is granted at the project's level. A bridge
reads it at boot with its instance's token, so it is never in a template, in instance metadata
or in the console, and in Pulumi's state only as a secret.
"""

import dataclasses
import hashlib
import re

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

READER_ROLE = "roles/secretmanager.secretAccessor"
# A shared secret of letters and digits: it travels in HOCON and on prosodyctl's stdin, where
# nothing needs quoting. 40 of 62 symbols: about 238 bits.
PASSWORD_LENGTH = 40


@dataclasses.dataclass(frozen=True)
class BridgeSecret:
    identity: gcp.serviceaccount.Account
    # The secret's resource name (projects/P/secrets/S): what the template carries instead.
    name: pulumi.Output[str]
    # The grant to the identity: a bridge booted before it exists could not read the password.
    reader: gcp.secretmanager.SecretIamMember
    # The password itself, secret: the signalling node's account step gives it to Prosody.
    password: pulumi.Output[str]


def account_id(tag: str) -> str:
    """A service account id (6-30 characters) unique to the stack: its tag's start and digest."""
    stem = re.sub(r"[^a-z0-9-]", "-", tag.lower())[:19].strip("-")
    return f"jvb-{stem}-{hashlib.sha256(tag.encode()).hexdigest()[:6]}"


def bridge_secret(parent: pulumi.Resource, name: str, project: str, tag: str) -> BridgeSecret:
    child = pulumi.ResourceOptions(parent=parent)
    identity = gcp.serviceaccount.Account(
        f"{name}-identity",
        project=project,
        account_id=account_id(tag),
        display_name="Jitsi videobridges: reads their XMPP password, nothing else",
        opts=child,
    )
    # A new project has Secret Manager off; left on at destroy, as other stacks may use it.
    api = gcp.projects.Service(
        f"{name}-secretmanager-api",
        project=project,
        service="secretmanager.googleapis.com",
        disable_on_destroy=False,
        opts=child,
    )
    generated = random.RandomPassword(
        f"{name}-password",
        length=PASSWORD_LENGTH,
        special=False,
        opts=child,
    )
    secret_id = f"{tag}-xmpp-password"
    secret = gcp.secretmanager.Secret(
        f"{name}-secret",
        project=project,
        secret_id=secret_id,
        replication=gcp.secretmanager.SecretReplicationArgs(
            auto=gcp.secretmanager.SecretReplicationAutoArgs()
        ),
        labels={"app": "jitsi-meet", "role": "videobridge"},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[api]),
    )
    version = gcp.secretmanager.SecretVersion(
        f"{name}-secret-version",
        secret=secret.id,
        # The provider keeps secret_data secret in the state (the tests check it).
        secret_data=generated.result,
        opts=child,
    )
    reader = gcp.secretmanager.SecretIamMember(
        f"{name}-secret-reader",
        project=project,
        secret_id=secret.id,
        role=READER_ROLE,
        member=pulumi.Output.concat("serviceAccount:", identity.email),
        # The version exists before anyone may read "latest".
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[version]),
    )
    # The engine keeps `result` secret, but mocks do not: make it explicit.
    password = pulumi.Output.secret(generated.result)
    return BridgeSecret(identity, f"projects/{project}/secrets/{secret_id}", reader, password)
