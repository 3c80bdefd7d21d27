"""A siteproof inventory from an Ansible inventory (YAML or INI) and a small mapping file.

Ansible keeps what a site knows of its hosts: groups, `ansible_host`/`ansible_user`/
`ansible_port`, host and group variables. The mapping file says what siteproof needs from it:

    name: our site                      # the inventory's name
    roles:                              # Ansible group -> siteproof role; a host takes the
      storage_gateways: storage-gateway #   role of the first group listed here it belongs to
      computes: compute
    labels:                             # per role (or "*" for every role): label -> variable,
      storage-gateway:                  #   or {value: TEXT} for a fixed one
        address: ansible_host
        vips: gateway_vips
    configs:                            # per role: daemon kind -> config path on the host
      storage-gateway: {keepalived: /etc/keepalived/keepalived.conf}
    parameters: {gateways: 24}          # the site's parameters, as in an inventory
    ssh_config: ~/.ssh/siteproof        # optional, as in an inventory

Variables resolve as Ansible resolves them: `all`'s vars, then each group's from parent to
child, then the host's own. Hosts in no mapped group are left out and named. The result is
checked as `siteproof inventory check` checks a file (schema, labels per role, parameters, SSH
targets) before it is written: a bad value is one error naming the Ansible host and variable.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siteproof.errors import TopologyError
from siteproof.topology.yamlfile import load_yaml_text

_RANGE = re.compile(r"\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::([0-9]+))?\]")


@dataclass
class Group:
    name: str
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> its own vars (in this group)
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)


def read_ansible(path: Path) -> dict[str, Group]:
    """The groups of an Ansible inventory file, YAML or INI (by its first meaningful line)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(str(path), "", f"cannot read: {exc.strerror}") from None
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", ";"))), "")
    groups = _read_ini(text, str(path)) if first.startswith("[") else _read_yaml(text, str(path))
    groups.setdefault("all", Group("all"))
    for name, group in groups.items():
        for child in group.children:
            if child not in groups:
                raise TopologyError(str(path), name, f"child group {child!r} is not defined")
    return groups


def _read_yaml(text: str, label: str) -> dict[str, Group]:
    doc = load_yaml_text(text, label) or {}
    if not isinstance(doc, dict):
        raise TopologyError(label, "", "an Ansible YAML inventory is a mapping of groups")
    groups: dict[str, Group] = {}

    def walk(name: str, spec: Any, where: str) -> None:
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"hosts", "vars", "children"}:
            raise TopologyError(label, where, "a group has only hosts, vars and children")
        group = groups.setdefault(name, Group(name))
        for host, host_vars in (spec.get("hosts") or {}).items():
            for expanded in _expand(str(host), label, f"{where}.hosts"):
                group.hosts[expanded] = dict(host_vars or {})
        group.vars.update(spec.get("vars") or {})
        for child, child_spec in (spec.get("children") or {}).items():
            if child not in group.children:
                group.children.append(str(child))
            walk(str(child), child_spec, f"{where}.children.{child}")

    for name, spec in doc.items():
        walk(str(name), spec, str(name))
    return groups


def _read_ini(text: str, label: str) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        where = f"line {number}"
        if line.startswith("["):
            found = re.fullmatch(r"\[([A-Za-z0-9_.-]+)(?::(vars|children))?\]", line)
            if not found:
                raise TopologyError(label, where, f"{line!r} is not a group header ([name], [name:vars], [name:children])")
            section, kind = found[1], found[2] or "hosts"
            groups.setdefault(section, Group(section))
            continue
        group = groups.setdefault(section, Group(section))
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise TopologyError(label, where, f"{exc}") from None
        if kind == "children":
            group.children.append(words[0])
        elif kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise TopologyError(label, where, "a vars line is key=value")
            group.vars[key.strip()] = _scalar(value.strip().strip("'\""))
        else:
            host_vars = {}
            for word in words[1:]:
                key, sep, value = word.partition("=")
                if not sep:
                    raise TopologyError(label, where, f"{word!r}: host variables are key=value")
                host_vars[key] = _scalar(value)
            for host in _expand(words[0], label, where):
                group.hosts[host] = dict(host_vars)
    if "ungrouped" in groups:
        groups.setdefault("all", Group("all")).children.append("ungrouped")
    return groups


def _scalar(text: str) -> Any:
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else text


def _expand(pattern: str, label: str, where: str) -> list[str]:
    """Ansible's host ranges: gw[01:24], node[a:c], x[0:10:2]."""
    found = _RANGE.search(pattern)
    if not found:
        return [pattern]
    start, end, step = found[1], found[2], int(found[3] or 1)
    head, tail = pattern[:found.start()], pattern[found.end():]
    if start.isdigit() != end.isdigit():
        raise TopologyError(label, where, f"{pattern!r}: a range is numbers or letters")
    if start.isdigit():
        width = len(start) if start.startswith("0") else 0
        values = [str(i).zfill(width) for i in range(int(start), int(end) + 1, step)]
    else:
        values = [chr(i) for i in range(ord(start), ord(end) + 1, step)]
    return [name for value in values for name in _expand(f"{head}{value}{tail}", label, where)]


def _lineage(groups: dict[str, Group]) -> dict[str, list[str]]:
    """host -> its groups from `all` down to the most specific (Ansible's variable order)."""
    order: dict[str, list[str]] = {}

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise TopologyError("ansible inventory", name, f"groups nest in a cycle: {' > '.join([*path, name])}")
        group = groups[name]
        for host in group.hosts:
            order.setdefault(host, [])
            for g in [*path, name]:
                if g not in order[host]:
                    order[host].append(g)
        for child in group.children:
            visit(child, [*path, name])

    visit("all", [])
    for name in groups:  # groups no one names as a child hang off `all`
        if not any(name in g.children for g in groups.values()) and name != "all":
            visit(name, ["all"])
    return order


def host_vars(groups: dict[str, Group]) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """host -> (its groups, its variables resolved: all, groups parent to child, the host's own)."""
    resolved = {}
    for host, lineage in _lineage(groups).items():
        values: dict[str, Any] = {}
        for name in lineage:
            values.update(groups[name].vars)
        for name in lineage:
            values.update(groups[name].hosts.get(host, {}))
        resolved[host] = (lineage, values)
    return resolved


def convert(inventory: Path, mapping_path: Path) -> tuple[dict[str, Any], list[str]]:
    """The siteproof inventory document, and the Ansible hosts left out (in no mapped group)."""
    label = str(mapping_path)
    try:
        mapping = load_yaml_text(mapping_path.read_text(), label) or {}
    except OSError as exc:
        raise TopologyError(label, "", f"cannot read: {exc.strerror}") from None
    extra = set(mapping) - {"name", "roles", "labels", "configs", "parameters", "ssh_config"}
    if extra or not isinstance(mapping.get("roles"), dict) or not mapping["roles"]:
        raise TopologyError(label, sorted(extra)[0] if extra else "roles",
                            "a mapping has name, roles (group -> role), labels, configs, parameters, ssh_config")
    resolved = host_vars(read_ansible(inventory))
    hosts: dict[str, Any] = {}
    left_out = []
    for host, (lineage, values) in sorted(resolved.items()):
        role = next((r for g, r in mapping["roles"].items() if g in lineage), None)
        if role is None:
            left_out.append(host)
            continue
        labels = {"role": str(role)}
        wanted = {**(mapping.get("labels") or {}).get("*", {}), **(mapping.get("labels") or {}).get(role, {})}
        for name, source in wanted.items():
            if isinstance(source, dict) and "value" in source:
                labels[name] = str(source["value"])
            elif str(source) in values:
                labels[name] = _label_text(values[str(source)])
            else:
                raise TopologyError(str(inventory), f"{host}", f"label {name!r} of role {role!r} needs Ansible variable "
                                                              f"{source!r}, which host {host} does not have")
        target = str(values.get("ansible_host", host))
        user, port = values.get("ansible_user"), values.get("ansible_port")
        ssh = f"{user}@{target}" if user else target
        if port and int(port) != 22:
            ssh = f"{ssh}:{port}"
        entry: dict[str, Any] = {"ssh": ssh, "labels": labels}
        configs = (mapping.get("configs") or {}).get(role)
        if configs:
            entry["configs"] = dict(configs)
        hosts[host] = entry
    if not hosts:
        raise TopologyError(str(inventory), "", f"no host is in a group the mapping names ({', '.join(mapping['roles'])})")
    doc: dict[str, Any] = {"name": str(mapping.get("name") or inventory.stem)}
    if mapping.get("ssh_config"):
        doc["ssh_config"] = mapping["ssh_config"]
    if mapping.get("parameters"):
        doc["parameters"] = dict(mapping["parameters"])
    doc["hosts"] = hosts
    return doc, left_out


def _label_text(value: Any) -> str:
    """A label is text: a list (of VIPs, say) becomes comma-separated, as the labels' types expect."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
