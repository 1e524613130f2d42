#!/usr/bin/env python3
"""Rehearsal stand-in for jitsi-videobridge2: logs in as jvb@auth.DOMAIN and stays connected.

    jvb_standin.py [--config /etc/jitsi/videobridge/jvb.conf]

It reads the first shard of `videobridge.apis.xmpp-client.configs` in jvb.conf (HOSTNAME,
DOMAIN, USERNAME, PASSWORD, as upstream's postinst writes them) with the hocon tool, logs in,
answers pings and logs in again after Prosody restarts. It forwards no media and joins no MUC.
A config it cannot use exits 78 (EX_CONFIG).
"""

import argparse
import sys

import xmpp_client as xmpp
from hocon_config import EX_CONFIG, ConfigError, hocon_get

CONFIG = "/etc/jitsi/videobridge/jvb.conf"
SHARDS = "videobridge.apis.xmpp-client.configs"


def account_from(shards: object) -> xmpp.Account:
    if not isinstance(shards, dict) or not shards:
        raise ConfigError(f"{SHARDS} has no shard")
    name = sorted(shards)[0]
    shard = shards[name]
    for key in ("DOMAIN", "USERNAME", "PASSWORD"):
        if not isinstance(shard, dict) or not shard.get(key):
            raise ConfigError(f"{SHARDS}.{name}.{key} is missing")
    port = shard.get("PORT", 5222)
    if not str(port).isdigit():
        raise ConfigError(f"{SHARDS}.{name}.PORT must be a number, not {port!r}")
    return xmpp.Account(
        host=str(shard.get("HOSTNAME", "localhost")),
        port=int(port),
        domain=str(shard["DOMAIN"]),
        username=str(shard["USERNAME"]),
        password=str(shard["PASSWORD"]),
        resource="jvb",
    )


def log(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG)
    args = parser.parse_args(argv)
    try:
        account = account_from(hocon_get(args.config, SHARDS))
    except ConfigError as error:
        print(f"jvb stand-in: configuration error: {error}", file=sys.stderr, flush=True)
        return EX_CONFIG
    xmpp.run_forever(account, xmpp.answer_other_iq, log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
