"""Who each DNS server's own configuration lets query it: BIND's allow-query (with its named
ACLs), Knot's mod-queryacl, Unbound's access-control. Read from the config text, so that a
server that answers anyone is seen even where a firewall in front of it hides that today.

Each reader returns the networks the server admits; "any" is 0.0.0.0/0 and ::/0. It is a
bound from above: a negated element (BIND's `!`) or a more specific deny only ever admits less,
so it is read as admitting nothing. Forms it does not know (a `key` element, an `include` it
cannot follow, an address it cannot parse) are returned as text with their line, never dropped:
the caller names them instead of guessing."""

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


def bind_allow_query(named_conf: str, localnets: list[Network] | None = None) -> Admitted:
    """BIND: the options' allow-query and each zone's own (BIND's default, when none is set, is
    any). `localnets` is the networks of the server's own interfaces, what BIND's built-in ACL
    of that name means; not given, an element `localnets` is one the reader cannot place."""
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
        _resolve(_elements(acl), acls, result, set(), localnets)
    return result


def _resolve(elements: list[str], acls: dict[str, list[str]], result: Admitted, seen: set[str],
             localnets: list[Network] | None) -> None:
    for element in elements:
        name = element.strip('"')
        if name.startswith("!"):
            continue  # a negation only ever takes away (first match: it admits nothing)
        if name == "localnets" and localnets is not None:
            result.networks += localnets
        elif name == "localnets":
            result.unknown.append("localnets (the server's interface networks were not given)")
        elif name in _BUILTIN:
            result.networks += _BUILTIN[name]
        elif name in acls and name not in seen:
            _resolve(acls[name], acls, result, seen | {name}, localnets)
        else:
            try:
                result.networks.append(ipaddress.ip_network(name, strict=False))
            except ValueError:
                result.unknown.append(element)


def _addresses(text: str) -> list[Network] | None:
    """An address, a prefix or a range `first-last` (Knot), as networks; None if it is none."""
    text = text.strip().strip("'\"")
    try:
        if "-" in text:
            first, last = (ipaddress.ip_address(t.strip()) for t in text.split("-", 1))
            return list(ipaddress.summarize_address_range(first, last))  # type: ignore[arg-type]
        return [ipaddress.ip_network(text, strict=False)]
    except (ValueError, TypeError):
        return None


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _knot_values(entry: str, key: str) -> list[tuple[int, str]] | None:
    """A key's values in one YAML list item of Knot's config, each with its offset: the flow
    form `key: [a, b]`, the block form (`key:` then `- a` lines) or one value; None if absent."""
    found = re.search(rf"(?m)^\s*{key}:[ \t]*(.*)$", entry)
    if found is None:
        return None
    value, at = found[1].strip(), found.start(1)
    if value.startswith("["):
        inner = value[1:value.index("]")] if "]" in value else value[1:]
        return [(at, v) for v in inner.split(",") if v.strip()]
    if value:
        return [(at, value)]
    items = re.match(r"(?:\n[ \t]*-[ \t]*[^\n]*)+", entry[found.end():])
    return [(found.end() + m.start(1), m[1]) for m in re.finditer(r"\n[ \t]*-[ \t]*([^\n]*)", items[0])] if items else []


def knot_query_acl(knot_conf: str) -> Admitted:
    """Knot: the addresses of the mod-queryacl a template (or zone) loads; without one, anyone.
    Addresses as Knot writes them: one value, a flow or a block list, prefixes and ranges."""
    text = _strip_comments(knot_conf)
    used = re.findall(r"(?m)^\s*(?:global-module|module):\s*\[?\s*[\"']?mod-queryacl/([\w.-]+)", text)
    if not used:
        return Admitted(list(ANY), [], "no mod-queryacl loaded (Knot answers anyone)")
    section = re.search(r"(?ms)^mod-queryacl:[ \t]*\n(.*?)(?=^\S|\Z)", text)
    body, base = (section[1], section.start(1)) if section else ("", 0)
    result = Admitted(where=f"mod-queryacl/{', '.join(used)}")
    for acl_id in used:
        entry = re.search(rf"(?ms)-\s*id:\s*[\"']?{re.escape(acl_id)}[\"']?[ \t]*\n(.*?)(?=^\s*-\s*id:|\Z)", body)
        values = _knot_values(entry[1], "address") if entry else None
        if values is None:
            result.networks += list(ANY)  # a query ACL without addresses restricts nobody by address
            continue
        for offset, item in values:
            networks = _addresses(item)
            if networks is None:
                line = _line(text, base + entry.start(1) + offset) if entry else 0
                result.unknown.append(f"line {line}: {item.strip()}")
            else:
                result.networks += networks
    return result


_UNBOUND_ALLOW = ("allow", "allow_setrd", "allow_snoop", "allow_cookie")
_UNBOUND_OTHER = ("deny", "refuse", "deny_non_local", "refuse_non_local")


def unbound_access(unbound_conf: str) -> Admitted:
    """Unbound: the networks whose access-control allows (its default: localhost only). A more
    specific deny or refuse only takes away, so the allowed ones bound what it answers."""
    text = _strip_comments(unbound_conf)
    rules: list[tuple[str, str]] = []
    result = Admitted()
    for m in re.finditer(r"(?m)^[ \t]*(access-control|include|include-toplevel):[ \t]*(\S+)(?:[ \t]+(\S+))?", text):
        line = _line(text, m.start(2))
        if m[1] != "access-control":
            result.unknown.append(f"line {line}: {m[1]}: {m[2]} (not read: its access-control lines are not known)")
            continue
        action = (m[3] or "").strip("'\"")
        networks = _addresses(m[2])
        if networks is None or action not in _UNBOUND_ALLOW + _UNBOUND_OTHER:
            result.unknown.append(f"line {line}: access-control: {m[2]} {action}".rstrip())
            continue
        rules.append((m[2].strip("'\""), action))
        if action in _UNBOUND_ALLOW:
            result.networks += [n for n in networks if not n.is_loopback]
    result.where = "access-control " + "; ".join(f"{n} {a}" for n, a in rules)
    return result


def beyond(admitted: Admitted, inside: list[Network]) -> list[Network]:
    """The admitted networks that reach past the inside networks."""
    return [n for n in admitted.networks
            if not any(n.version == i.version and n.subnet_of(i) for i in inside)]  # type: ignore[arg-type]
