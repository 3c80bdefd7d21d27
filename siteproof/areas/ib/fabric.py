"""The lab's IB fabric as sysfs and an SM would state it.

This kernel has no InfiniBand: a partition is a bridge (label `pkey`), a limited member is
an isolated port of it, a full member an ordinary one, and each node's HCA port a veth. The
lab has no subnet manager and no sysfs for them, so this module writes what they would say
about the lab *as built* (the bridge each port is on, its isolated flag): sysfs-shaped pkey
tables and GIDs under each node's own directory, and partitions.conf for the node with
role subnet-manager. IB-8 then reads them with the reader it uses on a real fabric.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from siteproof.areas.ib.pkeys import BASE, FULL, text
from siteproof.topology.model import Topology

SLOTS = 4  # a real port has 128 slots; the unused ones read 0x0000 and say nothing more
SYSFS_DIR = "ibsysfs"  # under each node's directory, as the backend's daemon_dir(node, SYSFS_DIR)
SM_DIR = "opensm"  # under the subnet manager node's directory, as daemon_dir(node, SM_DIR)
SM_CONF = "partitions.conf"


def guid(node: str, ifname: str) -> str:
    """A stable port GUID for a lab port (Mellanox's OUI, as real ones start)."""
    return "0002c903" + hashlib.sha256(f"{node}:{ifname}".encode()).hexdigest()[:8]


def memberships(topology: Topology) -> dict[tuple[str, str], int]:
    """(node, port) -> the pkey it holds, from the bridge it is plugged into."""
    found = {}
    for link in topology.links:
        for near, far in ((link.a, link.b), (link.b, link.a)):
            bridge = topology.nodes[far.node]
            if bridge.kind == "bridge" and "pkey" in bridge.labels and topology.nodes[near.node].kind == "linux":
                pkey = int(bridge.labels["pkey"], 16) & BASE
                found[(near.node, near.ifname)] = pkey if far.ifname in bridge.isolated_ports else pkey | FULL
    return found


def render(topology: Topology) -> dict[str, dict[str, str]]:
    """node -> {path under its directory: content}."""
    files: dict[str, dict[str, str]] = {}
    held = memberships(topology)
    devices: dict[str, int] = {}
    for (node, ifname), pkey in sorted(held.items()):
        index = devices[node] = devices.get(node, -1) + 1
        where = f"{SYSFS_DIR}/sys/class/infiniband/mlx5_{index}"
        g = guid(node, ifname)
        mine = files.setdefault(node, {})
        for slot in range(SLOTS):
            mine[f"{where}/ports/1/pkeys/{slot}"] = text(pkey if slot == 0 else 0) + "\n"
        mine[f"{where}/ports/1/gids/0"] = "fe80:0000:0000:0000:" + ":".join(g[i:i + 4] for i in range(0, 16, 4)) + "\n"
        mine[f"{where}/device/net/{ifname}/ifindex"] = f"{index + 2}\n"
    sms = [n.name for n in topology.hosts() if n.role == "subnet-manager"]
    if sms:
        files.setdefault(sms[0], {})[f"{SM_DIR}/{SM_CONF}"] = partitions_conf(topology, held)
    return files


def partitions_conf(topology: Topology, held: dict[tuple[str, str], int]) -> str:
    lines = ["# partitions.conf (OpenSM format), written by siteproof for the lab as built"]
    for bridge in topology.bridges():
        if "pkey" not in bridge.labels:
            continue
        pkey = int(bridge.labels["pkey"], 16) & BASE
        members = [f"0x{guid(n, i)}={'full' if p & FULL else 'limited'}" for (n, i), p in sorted(held.items()) if p & BASE == pkey]
        name = bridge.labels.get("partition", bridge.name)
        lines.append(f"{name}={text(pkey)}, ipoib, defmember=limited : {', '.join(members)} ;")
    return "\n".join(lines) + "\n"


def write(topology: Topology, node_dir: Callable[[str], Path]) -> list[Path]:
    """Write the rendered files under each node's directory."""
    written = []
    for node, contents in render(topology).items():
        for rel, content in contents.items():
            path = node_dir(node) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            written.append(path)
    return written
