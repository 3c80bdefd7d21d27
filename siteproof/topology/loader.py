"""Load a topology folder: parameters, variant, rendering, validation, model."""

from __future__ import annotations

import copy
import difflib
import ipaddress
import math
import re
from pathlib import Path
from typing import Any

from siteproof import budgets
from siteproof.daemons.base import split_files
from siteproof.errors import TopologyError
from siteproof.topology import checks, clab, schema
from siteproof.topology.model import DaemonSpec, Endpoint, Interface, Link, Node, Route, Rule, Topology
from siteproof.topology.render import environment, render_file
from siteproof.topology.yamlfile import load_yaml_text

TOPOLOGY_FILE = "topology.yml"
PARAMETERS_FILE = "parameters.yml"
# The profiles a run may choose: "lab" applies the parameters file's `profiles.lab` values
# (protocol timers at lab speed), "production" keeps the defaults (the site's own values).
PROFILES = ("lab", "production")
_CASTS = {"int": int, "float": float, "str": str, "bool": lambda v: str(v).lower() in ("1", "true", "yes", "on")}


def _read_yaml(path: Path, label: str) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise TopologyError(label, "", "file not found") from None
    return load_yaml_text(text, label)


def _coerce(name: str, value: Any, spec: dict[str, Any], file: str) -> Any:
    kind = spec.get("type") or type(spec["default"]).__name__
    if isinstance(value, str) and kind == "bool" and value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise TopologyError(file, f"parameters.{name}", f"{value!r} is not a bool")
    try:
        cast = _CASTS[kind](value)
    except (TypeError, ValueError):
        raise TopologyError(file, f"parameters.{name}", f"{value!r} is not a {kind}") from None
    if kind == "float" and not math.isfinite(cast):
        raise TopologyError(file, f"parameters.{name}", f"{value!r} is not a finite number")
    if kind == "str":
        _check_text(name, cast, spec.get("format"), file)
    if spec.get("format"):
        _check_format(name, cast, spec["format"], file)
    if "min" in spec and cast < spec["min"]:
        raise TopologyError(file, f"parameters.{name}", f"{cast} is below the minimum {spec['min']}")
    if "max" in spec and cast > spec["max"]:
        raise TopologyError(file, f"parameters.{name}", f"{cast} is above the maximum {spec['max']}")
    if "choices" in spec and cast not in spec["choices"]:
        choices = ", ".join(map(str, spec["choices"]))
        raise TopologyError(file, f"parameters.{name}", f"{cast!r} is not one of: {choices}")
    return cast


# A string parameter reaches config files and command lines: letters, digits and the few
# punctuation marks its values need (prefixes, MACs, port lists, names); never a newline, a
# space or a character a shell or a config parser gives a meaning to.
_SAFE_STR = re.compile(r"^[A-Za-z0-9._:/,+@=-]*$")
_PORT_RANGE = re.compile(r"^(\d{1,5})-(\d{1,5})$")
_OSPF_AREA = re.compile(r"^(\d{1,10}|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")


def _check_text(name: str, value: str, fmt: str | None, file: str) -> None:
    """The character set every string parameter keeps to, and the shapes of the text formats."""
    key = f"parameters.{name}"
    if fmt == "path":
        if not _PATH.match(value) or "/../" in f"{value}/":
            raise TopologyError(file, key, f"{value!r} is not an absolute path of letters, digits and . _ / + - (no '..')")
        return
    if not _SAFE_STR.match(value):
        raise TopologyError(file, key, f"{value!r}: only letters, digits and . _ : / , + @ = - are allowed "
                                       "(no spaces, newlines or shell characters)")
    if fmt == "port_range":
        found = _PORT_RANGE.match(value)
        low, high = (int(found[1]), int(found[2])) if found else (0, 0)
        if not found or not 1 <= low <= high <= 65535:
            raise TopologyError(file, key, f"{value!r} is not a port range LOW-HIGH with 1 <= LOW <= HIGH <= 65535")
    if fmt == "ospf_area":
        found = _OSPF_AREA.match(value)
        if not found or ("." in value and any(int(part) > 255 for part in value.split("."))) or \
                ("." not in value and int(value) > 2**32 - 1):
            raise TopologyError(file, key, f"{value!r} is not an OSPF area ID (a dotted quad or a number below 2^32)")


TEXT_FORMATS = ("path", "port_range", "ospf_area", "node")  # node: checked against the rendered topology


def _check_format(name: str, value: str, fmt: str, file: str) -> None:
    if fmt in TEXT_FORMATS:
        return  # checked with the character set
    try:
        if fmt == "address":
            ipaddress.ip_address(value)
            return
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise TopologyError(file, f"parameters.{name}", f"{value!r} is not an IP {'address' if fmt == 'address' else 'prefix'}: {exc}") from None
    if fmt in ("prefix4", "prefix6") and net.version != int(fmt[-1]):
        raise TopologyError(file, f"parameters.{name}", f"{value!r} is not an IPv{fmt[-1]} prefix")


def resolve_parameters(
    specs: dict[str, Any], layers: list[tuple[str, dict[str, Any]]], file: str
) -> dict[str, Any]:
    """Defaults, then each (label, overrides) layer in order; unknown names are errors."""
    values = {name: _coerce(name, spec["default"], spec, file) for name, spec in specs.items()}
    for label, overrides in layers:
        for name, value in overrides.items():
            if name not in specs:
                known = ", ".join(sorted(specs))
                raise TopologyError(label, f"parameters.{name}", f"unknown parameter (known: {known})")
            values[name] = _coerce(name, value, specs[name], label)
    return values


BUILTIN_TOPOLOGIES = Path(__file__).resolve().parent.parent.parent / "topologies"
# Parameters a site's inventory may give that no built-in topology declares (the lab renders
# them into its own folders): where a site's login health agents keep their files, and the
# private key (a file on the runner) the login sessions of LOGIN-4/5/6 log in with.
SITE_ONLY_PARAMETERS = {"agent_dir": {"default": "/run/siteproof-loginlb", "type": "str", "format": "path"},
                        "login_user_key": {"default": "", "type": "str", "format": "path"},
                        "login_user": {"default": "root", "type": "str"}}


def declared_parameters(topologies: Path = BUILTIN_TOPOLOGIES) -> dict[str, list[dict[str, Any]]]:
    """name -> every declaration of it (type, format, range) in the built-in topologies."""
    specs: dict[str, list[dict[str, Any]]] = {}
    for folder in sorted(p for p in topologies.iterdir() if (p / PARAMETERS_FILE).is_file()):
        doc = _read_yaml(folder / PARAMETERS_FILE, f"{folder.name}/{PARAMETERS_FILE}") or {}
        for name, spec in (doc.get("parameters") or {}).items():
            specs.setdefault(name, []).append(spec)
    for name, spec in SITE_ONLY_PARAMETERS.items():
        specs.setdefault(name, []).append(spec)
    return specs


def check_site_parameters(values: dict[str, Any], file: str) -> dict[str, Any]:
    """A site inventory's parameters, typed as the topologies type them, before any host is
    reached: an unknown name, a wrong type, a bad prefix or a shell character is one error."""
    specs = declared_parameters()
    typed = {}
    for name, value in values.items():
        if name not in specs:
            near = difflib.get_close_matches(name, specs, n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else f" ({len(specs)} known: see examples/inventories/)"
            raise TopologyError(file, f"parameters.{name}", f"unknown parameter{hint}")
        problems = []
        for spec in specs[name]:
            try:
                typed[name] = _coerce(name, value, spec, file)
                break
            except TopologyError as exc:
                problems.append(exc)
        else:
            raise problems[0]
    return typed


def deep_merge(base: Any, overlay: Any) -> Any:
    """Overlay mappings key by key; anything else replaces. A None value deletes the key."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return copy.deepcopy(overlay)
    merged = dict(base)
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
    return merged


def available_variants(folder: Path) -> list[str]:
    return sorted(p.stem for p in (folder / "variants").glob("*.yml"))


_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def load_variant(folder: Path, name: str) -> dict[str, Any]:
    label = f"{folder.name}/variants/{name}.yml"
    if not _VARIANT_NAME.match(name) or ".." in name:
        raise TopologyError("--variant", name, "a variant is named by its file in the topology's variants/ folder "
                            "(letters, digits, '.', '_', '-'; no path)")
    path = folder / "variants" / f"{name}.yml"
    if path.resolve().parent != (folder / "variants").resolve():
        raise TopologyError(label, "", "the variant file resolves outside the topology's variants/ folder")
    if not path.is_file():
        known = ", ".join(available_variants(folder)) or "none"
        raise TopologyError(label, "", f"no such variant (known: {known})")
    doc = _read_yaml(path, label)
    schema.validate(doc, schema.VARIANT, label)
    return doc


def load_topology(
    folder: str | Path,
    overrides: dict[str, Any] | None = None,
    variant: str | None = None,
    profile: str = "production",
) -> Topology:
    """Load, render and validate a topology folder. Nothing is created here.

    Parameters: the defaults, then the profile's values, then the variant's, then overrides."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise TopologyError(str(folder), "", "topology folder not found")
    label = f"{folder.name}/{TOPOLOGY_FILE}"
    params_label = f"{folder.name}/{PARAMETERS_FILE}"
    params_doc: dict[str, Any] = {"parameters": {}}
    if (folder / PARAMETERS_FILE).is_file():
        params_doc = _read_yaml(folder / PARAMETERS_FILE, params_label)
        schema.validate(params_doc, schema.PARAMETERS, params_label)
    variant_doc = load_variant(folder, variant) if variant else {}
    if profile not in PROFILES:
        raise TopologyError("--profile", profile, f"unknown profile (known: {', '.join(PROFILES)})")
    layers: list[tuple[str, dict[str, Any]]] = []
    profile_values = (params_doc.get("profiles") or {}).get(profile) or {}
    if profile_values:
        layers.append((f"{params_label}: profiles.{profile}", profile_values))
    if variant_doc.get("parameters"):
        layers.append((f"{folder.name}/variants/{variant}.yml", variant_doc["parameters"]))
    if overrides:
        layers.append(("--set", overrides))
    params = resolve_parameters(params_doc["parameters"], layers, params_label)

    env = environment(folder)
    imported = clab.clab_file(folder)
    if imported is not None and (folder / TOPOLOGY_FILE).is_file():
        raise TopologyError(label, "", f"the folder also holds the containerlab file {imported.name}: keep one of them")
    if imported is not None:
        label = imported.name
        doc = clab.import_clab(imported)
    else:
        if not (folder / TOPOLOGY_FILE).is_file():
            raise TopologyError(label, "", "file not found (nor a containerlab *.clab.yml)")
        text = render_file(env, TOPOLOGY_FILE, {"params": params, **params}, label)
        doc = load_yaml_text(text, label)
    if variant_doc.get("overlay"):
        doc = deep_merge(doc, variant_doc["overlay"])
    schema.validate(doc, schema.topology_schema(), label)
    _check_node_parameters(params_doc["parameters"], params, doc, layers, params_label)
    checks.check_links(doc, label)
    addresses = checks.check_addresses(doc, label)
    checks.check_routes(doc, label, addresses)
    checks.check_sysctls(doc, label)

    templates = dict(variant_doc.get("templates") or {})
    topology_budgets = budgets.check_names(params_doc.get("budgets") or {}, f"{params_label}: budgets")
    topo = _build(doc, folder, params, topology_budgets, addresses)
    topo.variant = variant
    topo.variant_info = variant_doc
    topo.document = doc
    topo.profile = {"name": profile, "values": dict(profile_values)}
    _render_daemons(topo, doc, env, templates, label, raw=imported is not None)
    _apply_patches(topo, variant_doc.get("patches") or [], f"{folder.name}/variants/{variant}.yml")
    try:
        topo.daemon_waves()
    except ValueError as exc:
        raise TopologyError(label, "daemons.after", str(exc)) from None
    return topo


def _check_node_parameters(specs: dict[str, Any], params: dict[str, Any], doc: dict[str, Any],
                           layers: list[tuple[str, dict[str, Any]]], file: str) -> None:
    """A parameter that names a node (format: node; empty for none) names one the topology has."""
    nodes = set(doc["topology"]["nodes"])
    for name, spec in specs.items():
        value = params.get(name)
        if spec.get("format") == "node" and value and value not in nodes:
            where = next((label for label, values in reversed(layers) if name in values), file)
            raise TopologyError(where, f"parameters.{name}", f"{value!r} is not a node of this topology "
                                                             f"({len(nodes)} nodes, e.g. {', '.join(sorted(nodes)[:4])})")


def _apply_patches(topo: Topology, patches: list[dict[str, str]], label: str) -> None:
    """A variant's edits to rendered configs (a daemon's, or with `daemon: nftables` the node's
    ruleset): each regex must match, or the variant has rotted."""
    for i, patch in enumerate(patches):
        key = f"patches[{i}]"
        node = topo.nodes.get(patch["node"])
        ruleset = patch["daemon"] == "nftables"
        if node is None or not (node.nftables if ruleset else patch["daemon"] in node.daemons):
            raise TopologyError(label, key, f"no {'ruleset' if ruleset else 'daemon ' + repr(patch['daemon'])} on node {patch['node']!r}")
        spec = None if ruleset else node.daemons[patch["daemon"]]
        try:
            text, count = re.subn(patch["find"], patch["replace"], node.nftables if spec is None else spec.config, flags=re.S)
        except re.error as exc:
            raise TopologyError(label, f"{key}.find", f"bad regular expression: {exc}") from None
        if count == 0:
            raise TopologyError(label, f"{key}.find", f"matches nothing in {patch['node']}'s {patch['daemon']} config")
        if spec is None:
            node.nftables = text
        else:
            node.daemons[patch["daemon"]] = DaemonSpec(spec.kind, spec.template, text, spec.args, spec.after)


def _build(
    doc: dict[str, Any],
    folder: Path,
    params: dict[str, Any],
    budgets: dict[str, float],
    addresses: dict[tuple[str, str], list[Any]],
) -> Topology:
    nodes: dict[str, Node] = {}
    for name, spec in doc["topology"]["nodes"].items():
        node = Node(name=name, kind=spec["kind"], labels=dict(spec.get("labels") or {}),
                    lag_members=tuple((spec.get("lag") or {}).get("members") or ()), lag_mac=(spec.get("lag") or {}).get("mac"),
                    isolated_ports=tuple(spec.get("isolated") or ()))
        for ifname, ifspec in (spec.get("interfaces") or {}).items():
            node.interfaces[ifname] = Interface(ifname, tuple(addresses[(name, ifname)]), ifspec.get("mtu"), ifspec.get("mac"))
        for route in spec.get("routes") or []:
            via = route.get("via") or []
            node.routes.append(Route(route["dst"], tuple([via] if isinstance(via, str) else via), route.get("dev"),
                                     route.get("type", "unicast"), tuple(route.get("weights") or ()), route.get("table")))
        # Rules take priorities below the main table's (32766), in the order given.
        node.rules = [Rule(r["fwmark"], r["table"], 1000 + i) for i, r in enumerate(spec.get("rules") or [])]
        node.sysctls = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (spec.get("sysctls") or {}).items()}
        node.image, node.env = spec.get("image"), dict(spec.get("env") or {})
        node.binds, node.exec = tuple(spec.get("binds") or ()), tuple(spec.get("exec") or ())
        nodes[name] = node
    links = []
    for link in doc["topology"].get("links") or []:
        (a, b) = (Endpoint(*e.split(":", 1)) for e in link["endpoints"])
        links.append(Link(a, b))
        for end in (a, b):
            if nodes[end.node].kind == "linux":
                nodes[end.node].interfaces.setdefault(end.ifname, Interface(end.ifname))
    return Topology(doc["name"], folder, nodes, links, params, {k: float(v) for k, v in budgets.items()})


def _config_text(env: Any, folder: Path, template: str, context: dict[str, Any], where: str, raw: bool) -> str:
    """A config named by the topology: rendered from its template, or (an imported containerlab
    file's bound configs, rendered already) read as it is."""
    if not raw:
        return render_file(env, template, context, where)
    path = (folder / template).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise TopologyError(where, "", f"{template!r} is not a file inside the topology folder")
    return path.read_text()


def _render_daemons(
    topo: Topology, doc: dict[str, Any], env: Any, templates: dict[str, str], label: str, raw: bool = False
) -> None:
    for name, spec in doc["topology"]["nodes"].items():
        context = {
            "params": topo.parameters,
            **topo.parameters,
            "node": topo.nodes[name],
            "topology": topo,
            "ip": ipaddress,
        }
        if spec.get("nftables"):
            template = templates.get(spec["nftables"]["config"], spec["nftables"]["config"])
            topo.nodes[name].nftables = _config_text(env, topo.folder, template, context,
                                                     f"{label}: topology.nodes.{name}.nftables.config", raw)
        for kind, dspec in (spec.get("daemons") or {}).items():
            template = templates.get(dspec["config"], dspec["config"])
            config = _config_text(env, topo.folder, template, context, f"{label}: topology.nodes.{name}.daemons.{kind}.config", raw)
            for extra in split_files(config)[1]:
                if extra.strip(".") == "" or extra.startswith("."):
                    raise TopologyError(template, f"### file: {extra}", "an extra file of a daemon config is a plain file "
                                        "name in its run directory (no leading '.', never '..')")
            topo.nodes[name].daemons[kind] = DaemonSpec(kind, template, config, tuple(dspec.get("args") or ()),
                                                        tuple(dspec.get("after") or ()))
