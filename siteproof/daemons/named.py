"""BIND 9 named in a lab node: config and zone files in its run directory, log on stderr.

Zones with a dnssec-policy get a KSK and a ZSK generated before named starts (BIND adopts
them), so parents and resolvers started after it can be given the DS and the anchor:
- a zone file line `; @ds NODE ZONE` becomes the DS records of NODE's KSK for ZONE;
- zone files and journals are fresh on every start (a dnssec-policy zone rewrites its file).
"""

from __future__ import annotations

import re

from siteproof.daemons import dnssec_keys
from siteproof.daemons.base import Daemon, register, split_files

_RUNNING = re.compile(r" running$", re.M)
_ZONE = re.compile(r'zone\s+"(?P<name>[^"]+)"\s*(?:IN\s*)?\{(?P<body>.*?)\n\}', re.S)
_POLICY = re.compile(r'dnssec-policy\s+"?(?P<policy>[\w.-]+)"?\s*;')
_DS_LINE = re.compile(r"^; @ds (?P<node>\S+) (?P<zone>\S+)$", re.M)
KEY_DIR = "keys"


def signed_zones(config: str) -> list[str]:
    """Zones that a dnssec-policy (other than none) signs."""
    zones = []
    for match in _ZONE.finditer(config):
        policy = _POLICY.search(match["body"])
        if policy and policy["policy"] != "none":
            zones.append(match["name"])
    return zones


@register
class Named(Daemon):
    kind = "named"
    prepares_alone = True  # its children's keys, for their DS records
    binary = "named"
    package = "bind9"

    def prepare(self) -> None:
        main, files = split_files(self.config_text)
        for zone in signed_zones(main):
            dnssec_keys.ensure_keys(self.rundir / KEY_DIR, zone)
        for name in files:
            path = self.rundir / name
            for stale in self.rundir.glob(f"{name}.jnl"), self.rundir.glob(f"{name}.signed*"):
                for old in stale:
                    old.unlink()
            text = path.read_text()
            text = _DS_LINE.sub(lambda m: "\n".join(dnssec_keys.ds_records(
                dnssec_keys.ksk(self.context.run_dir(m["node"], self.kind) / KEY_DIR, m["zone"]))), text)
            path.write_text(text)

    def command(self) -> list[str]:
        # -g: foreground, log to stderr; the config's paths are relative to the run directory.
        return [self.check_installed(), "-g", "-c", str(self.config_path), *self.extra_args]

    def is_ready(self) -> bool:
        return bool(_RUNNING.search(self.log_of_this_run()))
