"""The documented example inventory of a built-in topology: what a site that runs it would
write. Every host with an SSH target, its labels (typed per role: topology/labels.py) and the
Debian paths of its daemons' configs; the site parameters the checks read. Shipped for every
built-in topology in examples/inventories/ (`siteproof inventory example TOPOLOGY`), and a
project test keeps them equal to this output and valid against the inventory schema.
"""

from __future__ import annotations

from typing import Any

import yaml

from siteproof.topology.model import Topology

# Where Debian's packages keep each daemon's config; others under /etc/siteproof/<kind>/.
CONFIG_PATHS = {
    "keepalived": "/etc/keepalived/keepalived.conf", "named": "/etc/bind/named.conf", "knot": "/etc/knot/knot.conf",
    "unbound": "/etc/unbound/unbound.conf", "conntrackd": "/etc/conntrackd/conntrackd.conf",
    "zebra": "/etc/frr/frr.conf", "ospfd": "/etc/frr/frr.conf", "bgpd": "/etc/frr/frr.conf",
    "sshd": "/etc/ssh/sshd_config", "chronyd": "/etc/chrony/chrony.conf", "xrootd": "/etc/xrootd/xrootd-clustered.cfg",
    "etcd": "/etc/default/etcd",
}
# Lab machinery, not part of a site: a container's start helper, probes the lab runs itself.
LAB_ONLY_DAEMONS = frozenset({"container", "addrwatch", "mgmt-sshd", "whoami"})
SECRET_PARAMETERS = ("tsig", "secret", "password", "seed")

HEADER = """\
# Example inventory for a site that runs the {name} topology (siteproof inventory example {name}).
# Replace each ssh target with how the test host reaches the host (user@host[:port]); an
# OpenSSH client config may carry keys, known hosts and jump hosts:  ssh_config: ~/.ssh/siteproof
# labels: `role` picks the labels a host needs (siteproof/topology/labels.py; the schema checks
# them). configs: where each daemon's config is read from. dirs: (optional) daemon run folders.
# parameters: the whole site's (the checks read those they need). budgets: (optional) overrides.
# Check it with:  siteproof inventory check THIS_FILE
"""


def example(topology: Topology, domain: str = "site.example") -> str:
    hosts: dict[str, Any] = {}
    for node in topology.hosts():
        configs = {kind: CONFIG_PATHS.get(kind, f"/etc/siteproof/{kind}/{kind}.conf")
                   for kind in sorted(node.daemons) if kind not in LAB_ONLY_DAEMONS}
        hosts[node.name] = {"ssh": f"root@{node.name}.{domain}", "labels": dict(node.labels), "configs": configs}
    parameters = {k: v for k, v in sorted(topology.parameters.items()) if not any(s in k for s in SECRET_PARAMETERS)}
    doc = {"name": f"{topology.name} site", "parameters": parameters, "hosts": hosts}
    return HEADER.format(name=topology.name) + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
