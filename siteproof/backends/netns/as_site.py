"""A lab that plays a real site, reached only over SSH.

`as_site(topology)` adds a management network to a topology: a bridge, one interface and a
management sshd (its own daemon kind, on its own port, so that a node's own sshd stays the
service under test) on every node, and a vantage node for the test runner. `inventory(lab)`
writes the inventory a site would give: each node's SSH target on that network, its labels,
its daemons' config paths and directories, the site's parameters. Then `pytest suites/
--site INVENTORY`, run inside the vantage namespace (never the root namespace's addresses),
tests the lab exactly as it tests a real site.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from siteproof import budgets
from siteproof.backends.netns import labservice
from siteproof.backends.netns.converge import wait_converged
from siteproof.daemons.sshd import KEY_DIR, USER_KEY
from siteproof.errors import TopologyError
from siteproof.topology.model import DaemonSpec, Endpoint, Interface, Link, Node, Topology

# Clear of this machine's own resolver (10.255.255.53): a node's resolver lookups must fail at
# once (no route), not wait on a management network that cannot answer them.
MGMT_PREFIX = ipaddress.ip_network("10.250.0.0/20")
MGMT_BRIDGE = "site-mgmt"
MGMT_IF = "spmgmt0"
VANTAGE = "vantage"
SSH_PORT = 2222
SSHD_CONFIG = f"""# The management sshd of a lab played as a site (siteproof.backends.netns.as_site).
ListenAddress @ADDRESS@:{SSH_PORT}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
MaxStartups 100:30:200
MaxSessions 50
LogLevel INFO
"""


def mgmt_address(index: int) -> str:
    return str(MGMT_PREFIX.network_address + 1 + index)


def as_site(topology: Topology) -> Topology:
    """The topology with a management network, management sshd on every node, and a vantage."""
    if VANTAGE in topology.nodes or MGMT_BRIDGE in topology.nodes:
        raise TopologyError(topology.name, "topology.nodes", f"a node is named {VANTAGE!r} or {MGMT_BRIDGE!r} already: "
                                                             "a lab played as a site adds nodes of those names")
    declared = topology.parameters.get("mgmt_prefix")  # a topology whose firewalls admit its management network
    if declared and not MGMT_PREFIX.subnet_of(ipaddress.ip_network(str(declared), strict=False)):
        raise TopologyError("--set", "mgmt_prefix", f"{declared} does not hold the management network {MGMT_PREFIX} "
                                                    f"a lab played as a site reaches its hosts by (--as-site)")
    nodes = {MGMT_BRIDGE: Node(MGMT_BRIDGE, "bridge")}
    links = list(topology.links)
    hosts = [n.name for n in topology.hosts()]
    for index, name in enumerate([*hosts, VANTAGE]):
        node = topology.nodes.get(name) or Node(VANTAGE, "linux", labels={"role": "test-runner"})
        address = mgmt_address(index)
        copy = replace(node, interfaces=dict(node.interfaces), daemons=dict(node.daemons), labels=dict(node.labels))
        copy.interfaces[MGMT_IF] = Interface(MGMT_IF, (ipaddress.ip_interface(f"{address}/{MGMT_PREFIX.prefixlen}"),))
        copy.labels["site_ssh"] = f"root@{address}:{SSH_PORT}"
        if name != VANTAGE:
            copy.daemons["mgmt-sshd"] = DaemonSpec("mgmt-sshd", "(as_site)", SSHD_CONFIG.replace("@ADDRESS@", address))
        nodes[name] = copy
        port = f"m{index}-{name}"[:15]
        links.append(Link(Endpoint(name, MGMT_IF), Endpoint(MGMT_BRIDGE, port)))
    for name, node in topology.nodes.items():
        nodes.setdefault(name, node)
    return replace(topology, nodes=nodes, links=links)


# The system's python3 (a session of the management sshd has a private /root: see labservice).
LAB_ACTIONS = {action: [shutil.which("python3", path="/usr/bin:/bin") or "python3", labservice.__file__, action, "{dir}"]
               for action in ("stop", "start", "crash", "freeze", "thaw", "running")}


def inventory(lab: Any, path: Path, faults: dict[str, Any] | None = None) -> Path:
    """Write the inventory of a lab built from as_site(...); the SSH client's config beside it.
    `faults`: the inventory's faults section (faultable hosts, the dead-man's time-to-live)."""
    topo = lab.topology
    keys = lab.shared_dir / KEY_DIR
    ssh_config = path.with_suffix(".ssh_config")
    ssh_config.write_text(
        "Host *\n"
        f"  IdentityFile {keys / USER_KEY}\n"
        "  StrictHostKeyChecking no\n"
        f"  UserKnownHostsFile {path.with_suffix('.known_hosts')}\n"
        "  LogLevel ERROR\n"
        "  ConnectTimeout 5\n"
        f"  ControlPath {lab.dir}/ssh-%r@%h:%p\n"  # testinfra multiplexes; the masters die with the vantage
    )
    hosts = {}
    for node in topo.hosts():
        if node.name == VANTAGE:
            continue
        node_dir = lab.node_dir(node.name)
        daemons = [k for k in node.daemons if k != "mgmt-sshd"]
        dirs = {p.name: str(p) for p in sorted(node_dir.iterdir()) if p.is_dir() and p.name != "mgmt-sshd"} \
            if node_dir.is_dir() else {}
        labels = {k: v for k, v in node.labels.items() if k != "site_ssh"}
        if (rndc := node_dir / "named" / "rndc.conf").is_file():
            labels["rndc_config"] = str(rndc)  # a site's named is controlled with /etc/bind's; the lab's has its own
        hosts[node.name] = {
            "ssh": node.labels["site_ssh"],
            "labels": labels,
            "configs": {k: str(node_dir / k / f"{k}.conf") for k in daemons},
            "dirs": dirs,
        }
    parameters = dict(topo.parameters)
    if any(h["labels"].get("role") == "login" for h in hosts.values()):
        parameters["login_user_key"] = str(keys / USER_KEY)  # the login sessions' key: the lab user's
    doc = {"name": f"{topo.name} (lab {lab.id} played as a site)", "ssh_config": str(ssh_config),
           "parameters": parameters, "hosts": hosts}
    if faults:
        # No systemd in a lab: its daemons are stopped, started and crashed by the lab's own
        # service manager, run in the node over SSH like systemctl on a host.
        doc["faults"] = {"actions": LAB_ACTIONS, **faults}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


budgets.register("site_settle", 60.0, "a lab played as a site has converged (every host's routes and addresses "
                 "unchanged for converge.STEADY_FOR_S) before it is handed over", owner="as_site")


def wait_settled(lab: Any, progress: Callable[[str], None] | None = None) -> float:
    """Wait until the lab played as a site has converged, as a real site is found: a pre snapshot
    taken mid-convergence would call the routes' arrival a change. Returns the seconds waited;
    WaitTimeout names the budget."""
    return wait_converged(lab, [n.name for n in lab.topology.hosts() if n.name != VANTAGE], "site_settle", progress)
