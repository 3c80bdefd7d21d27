"""Export a loaded topology as a containerlab lab: `<name>.clab.yml`, the rendered configs as
binds, a parameters.yml beside them, and one Containerfile per node image.

What a node is, the exported file says with containerlab's own keys: each linux node's
addresses, MTUs, MACs, sysctls, routes and policy rules as `exec` commands (iproute2 and
sysctl), its ruleset loaded by `nft -f` from a bind, and each of its daemons started by
`python3 -m siteproof.node daemon KIND CONFIG` (the node image carries siteproof). What only
siteproof's lab knows (a bridge's LAG and isolated ports, addresses shared on purpose) goes in
`siteproof.*` labels, which containerlab keeps and ignores. siteproof's import (clab.py) reads
all of it back, so an export builds here into the same lab.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from siteproof.daemons import daemon_kinds
from siteproof.topology.model import Node, Route, Topology

ETC = "/etc/siteproof"  # where a node finds its bound configs
BASE_IMAGE = "debian:bookworm-slim"
# What every node image has: iproute2 (ip), procps (sysctl), nftables, Python for siteproof.
BASE_PACKAGES = ("iproute2", "procps", "nftables", "python3", "python3-venv")
DAEMON_COMMAND = ("python3", "-m", "siteproof.node", "daemon")
ANYCAST_LABEL, LAG_MEMBERS_LABEL, LAG_MAC_LABEL, ISOLATED_LABEL = (
    "siteproof.anycast", "siteproof.lag-members", "siteproof.lag-mac", "siteproof.isolated")


def image_packages(node: Node) -> tuple[str, ...]:
    """The Debian packages a node's image needs: the base, and each daemon kind's program and tools."""
    kinds = daemon_kinds()
    wanted = set(BASE_PACKAGES)
    for kind in node.daemons:
        cls = kinds[kind]
        wanted.update(p for p in (cls.package, *cls.tools.values()) if p)
    return tuple(sorted(wanted))


def image_name(node: Node) -> str:
    """One image per set of daemon kinds: siteproof-node:<kinds> (siteproof-node:base for none)."""
    tag = "-".join(sorted(node.daemons)) or "base"
    if len(tag) > 100:
        tag = "k" + hashlib.sha256(tag.encode()).hexdigest()[:12]
    return f"siteproof-node:{tag}"


def node_commands(node: Node) -> list[str]:
    """The exec commands that make a netns-less container this node, in the lab's own order:
    sysctls, links, addresses, routes, rules, ruleset, daemons."""
    lines = [f"sysctl -w {key}={value}" for key, value in node.sysctls.items()]
    for ifname, spec in node.interfaces.items():
        if spec.mtu:
            lines.append(f"ip link set dev {ifname} mtu {spec.mtu}")
        if spec.mac:
            lines.append(f"ip link set dev {ifname} address {spec.mac}")
    for ifname, spec in node.interfaces.items():
        for addr in spec.addresses:
            lines.append(f"ip -6 addr add {addr} dev {ifname} nodad" if addr.version == 6 else f"ip addr add {addr} dev {ifname}")
    lines += [route_command(route) for route in node.routes]
    for rule in node.rules:
        for family in ("", "-6 "):
            lines.append(f"ip {family}rule add fwmark {rule.fwmark} table {rule.table} priority {rule.priority}")
    if node.nftables:
        lines.append(f"nft -f {ETC}/nftables.nft")
    return lines


def route_command(route: Route) -> str:
    words = ["ip", *(["-6"] if route.family == 6 else []), "route", "add"]
    if route.type == "local":
        words.append("local")
    words.append("default" if route.dst in ("default", "default6") else route.dst)
    if route.table is not None:
        words += ["table", str(route.table)]
    if len(route.via) > 1:
        for i, hop in enumerate(route.via):
            words += ["nexthop", "via", hop, *(["dev", route.dev] if route.dev else []),
                      *(["weight", str(route.weights[i])] if route.weights else [])]
        return " ".join(words)
    if route.dev:
        words += ["dev", route.dev]
    if route.via:
        words += ["via", route.via[0]]
    return " ".join(words)


def daemon_command(kind: str, args: tuple[str, ...], after: tuple[str, ...]) -> str:
    words = [*DAEMON_COMMAND, kind, f"{ETC}/{kind}.conf"]
    for ref in after:
        words += ["--after", ref]
    if args:
        words += ["--", *args]
    return " ".join(words)


def export(topo: Topology, out: Path) -> Path:
    """Write the lab into `out` (created; must be empty) and return the .clab.yml's path."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    waves = [item for wave in topo.daemon_waves() for item in wave]
    nodes: dict[str, Any] = {}
    images: dict[str, tuple[str, ...]] = {}
    for node in topo.nodes.values():
        entry: dict[str, Any] = {"kind": node.kind}
        labels = dict(node.labels)
        if node.kind == "bridge":
            if node.lag_members:
                labels[LAG_MEMBERS_LABEL], labels[LAG_MAC_LABEL] = ",".join(node.lag_members), str(node.lag_mac)
            if node.isolated_ports:
                labels[ISOLATED_LABEL] = ",".join(node.isolated_ports)
        else:
            entry["image"] = image_name(node)
            images[entry["image"]] = image_packages(node)
            entry["network-mode"] = "none"  # no management interface: the lab's own links only
            anycast = [name for name, spec in (_doc_interfaces(topo, node.name)).items() if spec.get("anycast")]
            if anycast:
                labels[ANYCAST_LABEL] = ",".join(anycast)
            binds, commands = _files(node, out), node_commands(node)
            commands += [daemon_command(kind, node.daemons[kind].args, node.daemons[kind].after)
                         for name, kind in waves if name == node.name]
            if binds:
                entry["binds"] = binds
            if commands:
                entry["exec"] = commands
        if labels:
            entry["labels"] = labels
        nodes[node.name] = entry
    doc = {"name": topo.name, "topology": {"nodes": nodes, "links": [
        {"endpoints": [str(link.a), str(link.b)]} for link in topo.links]}}
    path = out / f"{topo.name}.clab.yml"
    header = (f"# {topo.name}, exported by siteproof (variant {topo.variant or 'none'}, profile {topo.profile['name']}).\n"
              "# Build the images first: see images/*/Containerfile and siteproof's README.\n")
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=200))
    _write_parameters(topo, out)
    for image, packages in images.items():
        _write_containerfile(out / "images" / image.split(":", 1)[1], packages)
    return path


def _doc_interfaces(topo: Topology, node: str) -> dict[str, Any]:
    return ((topo.document.get("topology") or {}).get("nodes", {}).get(node) or {}).get("interfaces") or {}


def _files(node: Node, out: Path) -> list[str]:
    """Each rendered config written under <node>/ and bound at /etc/siteproof/ (read-only)."""
    folder = out / node.name
    binds = []
    if node.nftables:
        folder.mkdir(exist_ok=True)
        (folder / "nftables.nft").write_text(node.nftables)
        binds.append(f"{node.name}/nftables.nft:{ETC}/nftables.nft:ro")
    for kind, spec in node.daemons.items():
        folder.mkdir(exist_ok=True)
        (folder / f"{kind}.conf").write_text(spec.config)
        (folder / f"{kind}.conf").chmod(0o600)  # rendered configs may hold keys
        binds.append(f"{node.name}/{kind}.conf:{ETC}/{kind}.conf:ro")
    return binds


def _write_parameters(topo: Topology, out: Path) -> None:
    """The values the export was rendered with, as the defaults of its parameters.yml: the
    suites read them from the imported folder as from the original."""
    specs = {name: {"default": value} for name, value in topo.parameters.items()}
    doc: dict[str, Any] = {"parameters": specs}
    if topo.budgets:
        doc["budgets"] = dict(topo.budgets)
    (out / "parameters.yml").write_text(yaml.safe_dump(doc, sort_keys=True))


def _write_containerfile(folder: Path, packages: tuple[str, ...]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Containerfile").write_text(
        f"# Build from a siteproof checkout: docker build -f <this file> -t siteproof-node:{folder.name} "
        "<siteproof checkout>\n"
        f"FROM {BASE_IMAGE}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends "
        f"{' '.join(packages)} && rm -rf /var/lib/apt/lists/*\n"
        "COPY . /opt/siteproof\n"
        "RUN python3 -m venv /opt/siteproof-venv && /opt/siteproof-venv/bin/pip install --no-cache-dir /opt/siteproof "
        "&& ln -s /opt/siteproof-venv/bin/python3 /usr/local/bin/python3\n"
        'CMD ["sleep", "infinity"]\n')
