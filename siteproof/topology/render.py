"""Jinja2 rendering of topology files and daemon configs, with site helpers."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
import secrets
from pathlib import Path
from typing import Any

import jinja2

from siteproof.errors import TopologyError


def seeded_priorities(seed: int, group: Any, members: list[str], home: str | None = None) -> dict[str, int]:
    """VRRP priorities for one group, randomised reproducibly from (seed, group).

    The home member gets 250; the others get distinct random priorities in 10..240, so
    the order of takeover differs from group to group (the Perlmutter scheme) but is the
    same on every run and every node.
    """
    rng = random.Random(f"{seed}/{group}")  # noqa: S311 - reproducible, not secret
    others = [m for m in members if m != home]
    values = rng.sample(range(10, 241), len(others))
    result = dict(zip(others, values, strict=True))
    if home is not None:
        result[home] = 250
    return result


def same_order_priorities(seed: int, members: list[str], home: str | None = None) -> dict[str, int]:
    """One random priority per member, the same in every group; the home member gets 250.

    The takeover order is then identical in every group: a known-bad scheme (GW-5).
    """
    rng = random.Random(f"{seed}/same-order")  # noqa: S311 - reproducible, not secret
    result = dict(zip(members, rng.sample(range(10, 241), len(members)), strict=True))
    if home is not None:
        result[home] = 250
    return result


def supernet(prefix: str) -> str:
    """The prefix one bit shorter that covers this one: supernet('10.103.0.0/24') is 10.103.0.0/23."""
    return str(ipaddress.ip_network(prefix, strict=False).supernet())


def host_address(prefix: str, index: int) -> str:
    """The index-th address of a prefix, without its length: host_address('10.0.0.0/24', 5)."""
    net = ipaddress.ip_network(prefix, strict=False)
    if not 0 <= index < net.num_addresses:
        raise ValueError(f"{prefix} has {net.num_addresses} addresses: it has no address number {index}")
    return str(net.network_address + index)


def prefix_len(prefix: str) -> int:
    return ipaddress.ip_network(prefix, strict=False).prefixlen


# Random per process (so per lab): a lab's TSIG secrets are known to nobody but the lab.
_LAB_SALT = secrets.token_hex(32)


def tsig_secret(seed: str, name: str) -> str:
    """A lab TSIG secret for `name`: random per lab when seed is empty (the default), derived
    from the seed when one is given (a self-check that must know the secrets it looks for)."""
    return base64.b64encode(hashlib.sha256(f"{seed or _LAB_SALT}/{name}".encode()).digest()).decode()


def reverse_zone(prefix: str) -> str:
    """The in-addr.arpa / ip6.arpa zone of a prefix on an octet or nibble boundary."""
    net = ipaddress.ip_network(prefix, strict=False)
    unit = 8 if net.version == 4 else 4
    if net.prefixlen % unit:
        raise ValueError(f"{prefix}: a reverse zone needs a prefix on a {unit}-bit boundary")
    labels = net.network_address.reverse_pointer.split(".")
    return ".".join(labels[(net.max_prefixlen - net.prefixlen) // unit :])


def reverse_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer


def environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - configs and YAML, not HTML
    )
    env.globals.update(
        seeded_priorities=seeded_priorities,
        same_order_priorities=same_order_priorities,
        host_address=host_address,
        supernet=supernet,
        prefix_len=prefix_len,
        tsig_secret=tsig_secret,
        reverse_zone=reverse_zone,
        reverse_name=reverse_name,
        load_yaml=lambda name: _load_yaml(folder, name),
    )
    return env


def _load_yaml(folder: Path, name: str) -> Any:
    """A YAML file of the topology's folder (a DTN profile set), for templates; nothing outside it."""
    import yaml

    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise TopologyError(str(folder / name), "", "load_yaml reads only files inside the topology's folder")
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise TopologyError(str(path), "", "file not found (named by load_yaml in a template)") from None
    except yaml.YAMLError as exc:
        raise TopologyError(str(path), "", f"not valid YAML: {exc}") from None


def render_file(env: jinja2.Environment, template: str, context: dict[str, Any], file_label: str) -> str:
    """Render one template; an error names the template file and its line."""
    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateNotFound:
        raise TopologyError(file_label, "", f"template {template!r} not found") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TopologyError(exc.filename or template, f"line {exc.lineno}", exc.message or "syntax error") from None
    except jinja2.UndefinedError as exc:
        raise TopologyError(template, _line_of(exc, template), f"undefined in template: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TopologyError(template, _line_of(exc, template), f"template error: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a template's own runtime error (a division by zero, a bad prefix)
        raise TopologyError(template, _line_of(exc, template), f"{exc.__class__.__name__}: {exc}") from None


def _line_of(exc: BaseException, template: str) -> str:
    """'line N' of the template where the error was raised (Jinja maps template frames to it)."""
    line = ""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(template):
            line = f"line {tb.tb_lineno}"
        tb = tb.tb_next
    return line
