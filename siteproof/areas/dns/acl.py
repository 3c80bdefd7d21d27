"""Who each DNS server's own configuration lets query it: BIND's allow-query (with its named
ACLs), Knot's mod-queryacl, Unbound's access-control. Read from the config text, so that a
server that answers anyone is seen even where a firewall in front of it hides that today.

Each reader returns the networks the server admits; "any" is 0.0.0.0/0 and ::/0. Forms it
does not know (a `key` element, a negation) are returned as text, never dropped: the caller
names them instead of guessing."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ANY = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
_BUILTIN = {"any": list(ANY), "none": [], "localhost": [], "localnets": []}


@dataclass
class Admitted:
    networks: list[Network] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # elements the reader cannot place
    where: str = ""  # what in the config said so


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(?m)(//|#).*$", "", text)


def _block(text: str, start: int) -> str:
    """The text inside the braces that open at or after `start`."""
    depth, begin = 0, text.index("{", start)
    for i in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[begin + 1:i]
    return text[begin + 1:]


def _elements(body: str) -> list[str]:
    return [e.strip() for e in re.split(r";", re.sub(r"[{}]", ";", body)) if e.strip()]


def bind_allow_query(named_conf: str) -> Admitted:
    """BIND: the options' allow-query and each zone's own (BIND's default, when none is set, is any)."""
    text = _strip_comments(named_conf)
    acls = {m[1]: _elements(_block(text, m.end() - 1)) for m in re.finditer(r'\bacl\s+"?([\w.-]+)"?\s*\{', text)}
    options = re.search(r"\boptions\s*\{", text)
    scopes = [("options", _block(text, options.end() - 1) if options else "")]
    # A zone's own allow-query replaces the options' for that zone.
    scopes += [(f"zone {m[1]}", _block(text, m.end() - 1)) for m in re.finditer(r'\bzone\s+"([^"]+)"[^{;]*\{', text)]
    result = Admitted()
    for scope, body in scopes:
        found = re.search(r"\ballow-query\s*\{", body)
        if found is None:
            if scope == "options":
                result.networks += list(ANY)
                result.where = "no allow-query in options (BIND answers anyone)"
            continue
        acl = _block(body, found.end() - 1)
        result.where = "; ".join(filter(None, [result.where, f"{scope}: allow-query {{ {' '.join(acl.split())} }}"]))
        _resolve(_elements(acl), acls, result, set())
    return result


def _resolve(elements: list[str], acls: dict[str, list[str]], result: Admitted, seen: set[str]) -> None:
    for element in elements:
        name = element.strip('"')
        if name in _BUILTIN:
            result.networks += _BUILTIN[name]
        elif name in acls and name not in seen:
            _resolve(acls[name], acls, result, seen | {name})
        else:
            try:
                result.networks.append(ipaddress.ip_network(name, strict=False))
            except ValueError:
                result.unknown.append(element)


def knot_query_acl(knot_conf: str) -> Admitted:
    """Knot: the addresses of the mod-queryacl a template (or zone) loads; without one, anyone."""
    text = _strip_comments(knot_conf)
    used = re.findall(r"(?m)^\s*(?:global-module|module):\s*\[?\s*mod-queryacl/([\w.-]+)", text)
    if not used:
        return Admitted(list(ANY), [], "no mod-queryacl loaded (Knot answers anyone)")
    section = re.search(r"(?ms)^mod-queryacl:\s*\n(.*?)(?=^\S|\Z)", text)
    result = Admitted(where=f"mod-queryacl/{', '.join(used)}")
    for acl_id in used:
        entry = re.search(rf"(?ms)-\s*id:\s*{re.escape(acl_id)}\s*\n(.*?)(?=^\s*-\s*id:|\Z)", section[1] if section else "")
        addresses = re.search(r"address:\s*\[([^\]]*)\]|address:\s*(\S+)", entry[1]) if entry else None
        if addresses is None:
            result.networks += list(ANY)  # a query ACL without addresses restricts nobody by address
            continue
        for item in (addresses[1] or addresses[2]).split(","):
            try:
                result.networks.append(ipaddress.ip_network(item.strip().split("@")[0], strict=False))
            except ValueError:
                result.unknown.append(item.strip())
    return result


_UNBOUND_ALLOW = ("allow", "allow_setrd", "allow_snoop", "allow_cookie")


def unbound_access(unbound_conf: str) -> Admitted:
    """Unbound: the networks whose most specific access-control allows (its default: localhost only)."""
    rules: list[tuple[Network, str]] = []
    for m in re.finditer(r"(?m)^\s*access-control:\s*(\S+)\s+(\S+)", _strip_comments(unbound_conf)):
        rules.append((ipaddress.ip_network(m[1], strict=False), m[2]))
    result = Admitted(where="access-control " + "; ".join(f"{n} {a}" for n, a in rules))
    for network, action in rules:
        if action in _UNBOUND_ALLOW and not network.is_loopback:
            result.networks.append(network)
    return result


def beyond(admitted: Admitted, inside: list[Network]) -> list[Network]:
    """The admitted networks that reach past the inside networks."""
    return [n for n in admitted.networks
            if not any(n.version == i.version and n.subnet_of(i) for i in inside)]  # type: ignore[arg-type]
