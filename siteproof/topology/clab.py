"""Import a containerlab topology file (*.clab.yml) as a siteproof topology document.

The lab is built in namespaces instead of containers, with what containerlab would give each
node: its links, a management interface eth0 on the lab's management network, its `exec`
commands run in order once its links are up, its `binds` visible to those commands at their
container paths, its `env`. `image` is recorded, never pulled (nodes run this machine's
programs). The leading `exec` commands that only set addresses, routes and sysctls become
the node's own data (what the suites read, what `siteproof mutate` mutates); from the first
other command on, the rest runs as written, so their order is containerlab's.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from pathlib import Path
from typing import Any

from siteproof.errors import TopologyError
from siteproof.topology import clab_export
from siteproof.topology.yamlfile import load_yaml_text

CLAB_SUFFIXES = (".clab.yml", ".clab.yaml")
MGMT_BRIDGE = "clab-mgmt"
# containerlab's defaults for the management network (docs: manual/network, "management network").
DEFAULT_MGMT4 = "172.20.20.0/24"
DEFAULT_MGMT6 = "3fff:172:20:20::/64"

_TOP_KEYS = {"name", "prefix", "mgmt", "topology"}
_MGMT_KEYS = {"network", "ipv4-subnet", "ipv6-subnet", "ipv4-gw", "ipv6-gw"}
_TOPOLOGY_KEYS = {"nodes", "links", "kinds", "defaults"}
_NODE_KEYS = {"kind", "image", "exec", "binds", "env", "labels", "mgmt-ipv4", "mgmt-ipv6", "network-mode", "group"}
_KINDS = ("linux", "bridge")
_LINK_KEYS = {"endpoints", "mtu", "type"}


def clab_file(folder: Path) -> Path | None:
    """The folder's one containerlab file, or None; two are an error (as containerlab says)."""
    found = sorted(p for p in folder.iterdir() if p.name.endswith(CLAB_SUFFIXES) and p.is_file())
    if len(found) > 1:
        raise TopologyError(str(folder), "", f"more than one containerlab file: {', '.join(p.name for p in found)}")
    return found[0] if found else None


def import_clab(path: Path) -> dict[str, Any]:
    """The containerlab file as a siteproof topology document (validated by the caller)."""
    label = path.name
    try:
        raw = load_yaml_text(path.read_text(), label)
    except OSError as exc:
        raise TopologyError(label, "", f"cannot read: {exc.strerror}") from None
    if not isinstance(raw, dict):
        raise TopologyError(label, "", "a containerlab file is a mapping with name and topology")
    _only(raw, _TOP_KEYS, label, "")
    topo = raw.get("topology")
    if not isinstance(topo, dict) or not isinstance(topo.get("nodes"), dict) or not topo["nodes"]:
        raise TopologyError(label, "topology.nodes", "a containerlab file needs topology.nodes")
    _only(topo, _TOPOLOGY_KEYS, label, "topology")
    mgmt = raw.get("mgmt") or {}
    _only(mgmt, _MGMT_KEYS, label, "mgmt")
    net4 = _network(mgmt.get("ipv4-subnet", DEFAULT_MGMT4), 4, label, "mgmt.ipv4-subnet")
    net6 = _network(mgmt.get("ipv6-subnet", DEFAULT_MGMT6), 6, label, "mgmt.ipv6-subnet")
    gw4 = mgmt.get("ipv4-gw") or str(net4[1])
    gw6 = mgmt.get("ipv6-gw") or str(net6[1])

    nodes: dict[str, Any] = {}
    links: list[dict[str, Any]] = []
    specs = {name: _merged(topo, name, spec, label) for name, spec in topo["nodes"].items()}
    if MGMT_BRIDGE in specs:
        raise TopologyError(label, f"topology.nodes.{MGMT_BRIDGE}", "this name is siteproof's management bridge")
    with_mgmt = [n for n, s in specs.items() if s["kind"] == "linux" and s.get("network-mode") != "none"]
    mgmt4 = _mgmt_addresses(specs, with_mgmt, net4, gw4, "mgmt-ipv4", label)
    mgmt6 = _mgmt_addresses(specs, with_mgmt, net6, gw6, "mgmt-ipv6", label)
    if with_mgmt:
        nodes[MGMT_BRIDGE] = {"kind": "bridge"}
    for name, spec in specs.items():
        key = f"topology.nodes.{name}"
        node: dict[str, Any] = {"kind": spec["kind"]}
        if spec.get("labels"):
            node["labels"] = {str(k): str(v) for k, v in spec["labels"].items()}
        if spec["kind"] == "bridge":
            extra = sorted(set(spec) - {"kind", "labels", "group", "image"})
            if extra:
                raise TopologyError(label, f"{key}.{extra[0]}", "a bridge node takes only kind and labels here")
            nodes[name] = node
            continue
        node["interfaces"], node["routes"], node["sysctls"] = {}, [], {}
        if name in with_mgmt:
            node["interfaces"]["eth0"] = {"addresses": [f"{mgmt4[name]}/{net4.prefixlen}", f"{mgmt6[name]}/{net6.prefixlen}"]}
            node["routes"] = [{"dst": "default", "via": gw4}, {"dst": "default6", "via": gw6}]
            links.append({"endpoints": [f"{name}:eth0", f"{MGMT_BRIDGE}:m-{name}"]})
        if spec.get("image") is not None:
            node["image"] = str(spec["image"])
        if spec.get("env"):
            node["env"] = {str(k): str(v) for k, v in spec["env"].items()}
        node["binds"] = [_bind(text, path.parent, label, f"{key}.binds[{i}]") for i, text in enumerate(spec.get("binds") or [])]
        node["exec"] = [str(c) for c in spec.get("exec") or []]
        nodes[name] = node
    for i, link in enumerate(topo.get("links") or []):
        links.append(_link(link, nodes, label, f"topology.links[{i}]"))
    for name, node in nodes.items():
        if node["kind"] == "linux":
            ends = {e.split(":", 1)[1] for link in links for e in link["endpoints"] if e.split(":", 1)[0] == name} | {"lo"}
            _native_prefix(node, ends, path.parent, label, f"topology.nodes.{name}.exec")
            _siteproof_labels(node, label, f"topology.nodes.{name}.labels")
            for key in ("binds", "exec", "routes", "sysctls", "rules", "daemons"):
                if key in node and not node[key]:
                    del node[key]
        elif node.get("labels"):
            _siteproof_labels(node, label, f"topology.nodes.{name}.labels")
    return {"name": _name(raw.get("name"), label), "description": f"imported from the containerlab file {path.name}",
            "topology": {"nodes": nodes, "links": [{"endpoints": link["endpoints"]} for link in links]}}


def _only(mapping: Any, allowed: set[str], label: str, where: str) -> None:
    if not isinstance(mapping, dict):
        raise TopologyError(label, where, "expected a mapping")
    for key in mapping:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            raise TopologyError(label, path, f"containerlab key {key!r} is not supported by siteproof's import "
                                             f"(supported here: {', '.join(sorted(allowed))})")


def _name(value: Any, label: str) -> str:
    if not isinstance(value, str) or not re.match(r"^[a-z0-9][a-z0-9-]*$", value):
        raise TopologyError(label, "name", f"{value!r}: a lab name of lower-case letters, digits and '-' is needed "
                                           "(the suites choose their topology by it)")
    return value


def _network(text: Any, version: int, label: str, key: str) -> Any:
    try:
        net = ipaddress.ip_network(str(text), strict=True)
    except ValueError as exc:
        raise TopologyError(label, key, f"{text!r} is not a prefix: {exc}") from None
    if net.version != version or net.num_addresses < 4:
        raise TopologyError(label, key, f"{text!r} is not an IPv{version} subnet with room for nodes")
    return net


def _merged(topo: dict[str, Any], name: str, spec: Any, label: str) -> dict[str, Any]:
    """A node with its kind's and the defaults' values, as containerlab merges them: the node's
    own scalars win, maps (env, labels) merge, lists (binds, exec) add up in that order."""
    key = f"topology.nodes.{name}"
    spec = dict(spec or {})
    _only(spec, _NODE_KEYS, label, key)
    defaults = topo.get("defaults") or {}
    kind = spec.get("kind") or defaults.get("kind")
    if kind not in _KINDS:
        raise TopologyError(label, f"{key}.kind", f"kind {kind!r} is not supported by siteproof's import (only: {', '.join(_KINDS)})")
    kinds = topo.get("kinds") or {}
    _only(kinds, set(_KINDS), label, "topology.kinds")
    layers = [defaults, kinds.get(kind) or {}, spec]
    for i, layer in enumerate(layers[:2]):
        _only(layer, _NODE_KEYS, label, "topology.defaults" if i == 0 else f"topology.kinds.{kind}")
    merged: dict[str, Any] = {"kind": kind}
    for layer in layers:
        for field, value in layer.items():
            if field in ("env", "labels"):
                merged[field] = {**merged.get(field, {}), **(value or {})}
            elif field in ("binds", "exec"):
                if not isinstance(value, list):
                    raise TopologyError(label, f"{key}.{field}", "expected a list")
                merged[field] = [*merged.get(field, []), *value]
            elif field != "kind":
                merged[field] = value
    if merged.get("binds"):  # a more specific level's bind to a target replaces the others'
        by_target = {str(b).split(":")[1] if ":" in str(b) else str(b): b for b in merged["binds"]}
        merged["binds"] = list(by_target.values())
    if merged.get("network-mode") not in (None, "none"):
        raise TopologyError(label, f"{key}.network-mode", f"{merged['network-mode']!r} is not supported (only 'none')")
    return merged


def _mgmt_addresses(specs: dict[str, Any], names: list[str], net: Any, gateway: str, field: str, label: str) -> dict[str, str]:
    """Each node's management address: its own, else the next free one (containerlab's IPAM
    hands them out in start order; here in file order)."""
    taken = {str(ipaddress.ip_address(gateway))}
    chosen: dict[str, str] = {}
    for name in names:
        if specs[name].get(field):
            try:
                addr = ipaddress.ip_address(str(specs[name][field]))
            except ValueError as exc:
                raise TopologyError(label, f"topology.nodes.{name}.{field}", str(exc)) from None
            if addr not in net or str(addr) in taken:
                raise TopologyError(label, f"topology.nodes.{name}.{field}", f"{addr} is outside {net} or already used")
            chosen[name] = str(addr)
            taken.add(str(addr))
    free = (str(a) for a in net.hosts() if str(a) not in taken)
    for name in names:
        if name not in chosen:
            chosen[name] = next(free)
    return chosen


def _bind(text: Any, base: Path, label: str, key: str) -> str:
    parts = str(text).split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")) or "__clab" in str(text):
        raise TopologyError(label, key, f"{text!r}: a bind is SOURCE:TARGET[:ro|rw] (containerlab's magic "
                                        "variables are not supported)")
    source = (base / parts[0]).resolve()
    if not source.exists():
        raise TopologyError(label, key, f"bind source {source} does not exist")
    if not parts[1].startswith("/") or ".." in parts[1].split("/") or parts[1] == "/":
        raise TopologyError(label, key, f"bind target {parts[1]!r} is not an absolute path below /")
    return ":".join([str(source), parts[1], *parts[2:]])


def _link(link: Any, nodes: dict[str, Any], label: str, key: str) -> dict[str, Any]:
    if not isinstance(link, dict):
        raise TopologyError(label, key, "a link is a mapping with endpoints")
    _only(link, _LINK_KEYS, label, key)
    if link.get("type", "veth") != "veth":
        raise TopologyError(label, f"{key}.type", f"link type {link['type']!r} is not supported (only veth)")
    ends = []
    for j, end in enumerate(link.get("endpoints") or []):
        if isinstance(end, dict):  # the extended form: {node: a, interface: eth1}
            _only(end, {"node", "interface"}, label, f"{key}.endpoints[{j}]")
            end = f"{end.get('node')}:{end.get('interface')}"
        node, _, ifname = str(end).partition(":")
        if node in ("host", "macvlan", "mgmt-net", "ovs-bridge") and node not in nodes:
            raise TopologyError(label, f"{key}.endpoints[{j}]", f"{end!r}: links to the {node} are not supported "
                                                                "(a lab reaches nothing outside itself)")
        if ifname == "eth0" and "eth0" in nodes.get(node, {}).get("interfaces", {}):
            raise TopologyError(label, f"{key}.endpoints[{j}]", f"{end!r}: eth0 is the management interface")
        ends.append(str(end))
    if len(ends) != 2:
        raise TopologyError(label, f"{key}.endpoints", "a veth link has two endpoints")
    if link.get("mtu") is not None:
        for end in ends:
            node, _, ifname = end.partition(":")
            if nodes.get(node, {}).get("kind") == "linux":
                nodes[node]["interfaces"].setdefault(ifname, {})["mtu"] = int(link["mtu"])
    return {"endpoints": ends}


def _siteproof_labels(node: dict[str, Any], label: str, key: str) -> None:
    """What only siteproof's lab knows, kept by an export in labels containerlab ignores."""
    labels = node.get("labels") or {}
    for ifname in filter(None, labels.pop(clab_export.ANYCAST_LABEL, "").split(",")):
        if ifname not in node.get("interfaces", {}):
            raise TopologyError(label, f"{key}.{clab_export.ANYCAST_LABEL}", f"{ifname!r} has no addresses")
        node["interfaces"][ifname]["anycast"] = True
    members = labels.pop(clab_export.LAG_MEMBERS_LABEL, "")
    mac = labels.pop(clab_export.LAG_MAC_LABEL, "")
    if members or mac:
        node["lag"] = {"members": members.split(","), "mac": mac}
    isolated = labels.pop(clab_export.ISOLATED_LABEL, "")
    if isolated:
        node["isolated"] = isolated.split(",")
    if not labels:
        node.pop("labels", None)


def _native_prefix(node: dict[str, Any], ends: set[str], folder: Path, label: str, key: str) -> None:
    """Move the leading exec commands that only set addresses, routes, rules and sysctls, load
    a bound ruleset or start one of siteproof's daemons from a bound config into the node's
    data; stop at the first other one."""
    commands = node["exec"]
    files = {}
    for bind in node["binds"]:
        source, target = bind.split(":")[:2]
        if Path(source).is_file() and Path(source).is_relative_to(folder):
            files[target] = Path(source).relative_to(folder).as_posix()
    node["rules"], node["daemons"] = [], {}
    done = 0
    for command in commands:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise TopologyError(label, f"{key}[{done}]", f"{command!r}: {exc}") from None
        if not argv or not (_as_data(argv, node, ends) or _as_service(argv, node, files)):
            break
        done += 1
    node["exec"] = commands[done:]


def _as_service(argv: list[str], node: dict[str, Any], files: dict[str, str]) -> bool:
    """`nft -f BOUND` and `python3 -m siteproof.node daemon KIND BOUND [--after REF]... [-- ARG...]`."""
    if argv[:2] == ["nft", "-f"] and len(argv) == 3 and argv[2] in files and "nftables" not in node:
        node["nftables"] = {"config": files[argv[2]]}
        return True
    prefix = list(clab_export.DAEMON_COMMAND)
    if argv[:len(prefix)] != prefix or len(argv) < len(prefix) + 2 or argv[len(prefix) + 1] not in files:
        return False
    kind, config, rest = argv[len(prefix)], files[argv[len(prefix) + 1]], argv[len(prefix) + 2:]
    after, args = [], []
    while rest:
        if rest[0] == "--after" and len(rest) > 1:
            after.append(rest[1])
            rest = rest[2:]
        elif rest[0] == "--":
            args, rest = rest[1:], []
        else:
            return False
    if kind in node["daemons"]:
        return False
    node["daemons"][kind] = {"config": config, **({"args": args} if args else {}), **({"after": after} if after else {})}
    return True


def _as_data(argv: list[str], node: dict[str, Any], ends: set[str]) -> bool:
    if argv[0] == "sysctl":
        pairs = [a for a in argv[1:] if a != "-w"]
        if not pairs or not all(re.match(r"^[a-z0-9_.]+=\S+$", p) for p in pairs):
            return False
        node["sysctls"].update(p.split("=", 1) for p in pairs)
        return True
    if argv[0] != "ip":
        return False
    args = argv[1:]
    family = None
    if args and args[0] in ("-4", "-6"):
        family, args = int(args[0][1]), args[1:]
    if len(args) >= 4 and args[0] == "link" and args[1] == "set":
        return _link_as_data(args[2:], node, ends)
    if args[:2] in (["addr", "add"], ["address", "add"], ["a", "add"]) and len(args) in (5, 6) and args[3] == "dev" \
            and args[4] in ends and args[5:] in ([], ["nodad"]):
        try:
            addr = ipaddress.ip_interface(args[2])
        except ValueError:
            return False
        if "/" not in args[2] or (family and addr.version != family) or (args[5:] and addr.version != 6):
            return False
        node["interfaces"].setdefault(args[4], {}).setdefault("addresses", []).append(args[2])
        return True
    if len(args) >= 3 and args[0] in ("route", "r", "ro") and args[1] in ("add", "replace", "del"):
        return _route_as_data(args[1], args[2:], family, node, ends)
    if len(args) == 8 and args[:3] == ["rule", "add", "fwmark"] and args[4] == "table" and args[6] == "priority":
        if not (args[3].isdigit() and args[5].isdigit() and args[7].isdigit()):
            return False
        rule = {"fwmark": int(args[3]), "table": int(args[5])}
        if family == 6:  # the model gives every rule both families: the IPv6 twin of the last one
            return bool(node["rules"]) and node["rules"][-1] == rule
        node["rules"].append(rule)
        return True
    return False


def _link_as_data(rest: list[str], node: dict[str, Any], ends: set[str]) -> bool:
    """`ip link set [dev] IF up|mtu N|address MAC`: up is how every link already is."""
    if rest[0] == "dev":
        rest = rest[1:]
    if not rest or rest[0] not in ends or len(rest) not in (2, 3):
        return False
    ifname, what = rest[0], rest[1:]
    if what == ["up"]:
        return True
    if len(what) == 2 and what[0] == "mtu" and what[1].isdigit():
        node["interfaces"].setdefault(ifname, {})["mtu"] = int(what[1])
        return True
    if len(what) == 2 and what[0] == "address" and re.match(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", what[1]):
        node["interfaces"].setdefault(ifname, {})["mac"] = what[1]
        return True
    return False


def _route_as_data(verb: str, rest: list[str], family: int | None, node: dict[str, Any], ends: set[str]) -> bool:
    """`ip route add|replace [local] DST [table T] [dev IF] [via GW]`, with `nexthop via GW [dev IF]
    [weight W]` for several hops, and `ip route del DST` of a route set before."""
    route: dict[str, Any] = {}
    if rest and rest[0] == "local":
        route["type"], rest = "local", rest[1:]
    if not rest:
        return False
    dst, rest = rest[0], rest[1:]
    hops: list[dict[str, str]] = []
    while rest:
        word = rest[0]
        if word == "nexthop":
            hops.append({})
            rest = rest[1:]
            continue
        if len(rest) < 2 or word not in ("table", "dev", "via", "weight"):
            return False
        target = hops[-1] if hops and word != "table" else route
        if word in target or (word == "weight" and not hops):
            return False
        target[word], rest = rest[1], rest[2:]
    for hop in hops:
        if "via" not in hop or set(hop) - {"via", "dev", "weight"}:
            return False
    if dst == "default":
        vias = [route.get("via", "")] + [h["via"] for h in hops]
        dst = "default6" if family == 6 or any(":" in v for v in vias) else "default"
    else:
        try:
            dst = str(ipaddress.ip_network(dst, strict=True))
        except ValueError:
            return False
    table = route.pop("table", None)
    if table is not None:
        if not table.isdigit():
            return False
        route["table"] = int(table)
    devs = {h.get("dev") for h in hops} | ({route["dev"]} if "dev" in route else set())
    if len(devs - {None}) > 1 or any(d and d not in ends for d in devs):
        return False
    if hops:
        if "via" in route or "dev" in route or len(hops) < 2 or len({"weight" in h for h in hops}) > 1:
            return False
        route["via"] = [h["via"] for h in hops]
        if hops[0].get("dev"):
            route["dev"] = hops[0]["dev"]
        if "weight" in hops[0]:
            if not all(h["weight"].isdigit() for h in hops):
                return False
            route["weights"] = [int(h["weight"]) for h in hops]
    existing = [r for r in node["routes"] if r["dst"] == dst and r.get("table") == route.get("table")]
    if verb == "del":
        if len(existing) != 1 or set(route) - {"table"}:
            return False
        node["routes"].remove(existing[0])
        return True
    if "via" not in route and "dev" not in route:
        return False
    if existing and verb == "add":
        return False  # it fails in the container as here: left to run as written
    for old in existing:
        node["routes"].remove(old)
    node["routes"].append({"dst": dst, **route})
    return True
