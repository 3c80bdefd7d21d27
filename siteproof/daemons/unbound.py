"""Unbound, the validating resolver, in a lab node.

A config line `# @trust-anchor NODE ZONE` becomes `trust-anchor:` with NODE's KSK for ZONE
(the lab's trust anchor, read from the signer's key directory at start).
"""

from __future__ import annotations

import re

from siteproof.daemons import dnssec_keys
from siteproof.daemons.base import Daemon, register
from siteproof.daemons.named import KEY_DIR

_ANCHOR = re.compile(r"^(?P<indent>\s*)# @trust-anchor (?P<node>\S+) (?P<zone>\S+)$", re.M)


@register
class Unbound(Daemon):
    kind = "unbound"
    prepares_alone = True  # the signers' keys, for its trust anchors
    binary = "unbound"
    package = "unbound"

    def prepare(self) -> None:
        text = self.config_path.read_text()

        def anchor(m: re.Match[str]) -> str:
            keydir = self.context.run_dir(m["node"], "named") / KEY_DIR
            record = dnssec_keys.dnskey_record(dnssec_keys.ksk(keydir, m["zone"]))
            return f'{m["indent"]}trust-anchor: "{record}"'

        self.config_path.write_text(_ANCHOR.sub(anchor, text))

    def command(self) -> list[str]:
        return [self.check_installed(), "-d", "-p", "-c", str(self.config_path), *self.extra_args]

    def is_ready(self) -> bool:
        return "start of service" in self.log_of_this_run()
