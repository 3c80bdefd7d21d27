"""Files an area writes for a lab as built: what a real site's hosts would have on disk
where the lab's model has none (the IB fabric's sysfs pkey tables and the SM's
partitions.conf). Each writer takes the topology and a node -> directory function; the lab
calls every registered writer once its network is configured, so a lab brought up by hand
or as a site has them as well as one built by pytest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from siteproof.topology.model import Topology

Writer = Callable[[Topology, Callable[[str], Path]], object]
WRITERS: list[Writer] = []


def register(writer: Writer) -> Writer:
    WRITERS.append(writer)
    return writer


def write_all(topology: Topology, node_dir: Callable[[str], Path]) -> None:
    from siteproof import areas

    areas.load_all()
    for writer in WRITERS:
        writer(topology, node_dir)
