"""Mutation operators: what one registers, and the edits it can make.

An operator looks at a loaded topology and lists every place it could change (a candidate);
`siteproof mutate` picks some of them with a seeded choice. A candidate changes either the
topology's data (an overlay on the rendered topology file: sysctls, routes, MTUs, bridge
ports) or one span of one node's rendered config (a patch that replaces exactly that span):
the two forms a known-bad variant file already has, so a mutant is a variant file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from siteproof.topology.model import Node, Topology


@dataclass(frozen=True)
class Candidate:
    node: str
    summary: str  # what changes, in one line: "gw03 keepalived HSN_03: advert_int 0.5 -> 1.5"
    patches: tuple[dict[str, str], ...] = ()
    overlay: dict[str, Any] = field(default_factory=dict)


Finder = Callable[[Topology], list[Candidate]]
Change = Callable[[re.Match[str], str], "str | None"]  # (match, whole text) -> the replacement; None: skip
Describe = Callable[[re.Match[str], str], str]  # (match, whole text) -> where it is (an instance, a chain)


@dataclass(frozen=True)
class Operator:
    name: str
    threatens: tuple[str, ...]  # SPEC IDs or areas ("GW") whose tests should catch it
    doc: str
    find: Finder


OPERATORS: dict[str, Operator] = {}


def operator(name: str, threatens: list[str]) -> Callable[[Finder], Finder]:
    """Register a candidate finder as the operator `name`."""

    def register(fn: Finder) -> Finder:
        if name in OPERATORS:
            raise ValueError(f"mutation operator {name!r} registered twice")
        OPERATORS[name] = Operator(name, tuple(threatens), " ".join((fn.__doc__ or "").split()), fn)
        return fn

    return register


def config_of(node: Node, daemon: str) -> str | None:
    """A node's rendered config of this daemon; `nftables` is the node's ruleset."""
    if daemon == "nftables":
        return node.nftables
    spec = node.daemons.get(daemon)
    return spec.config if spec else None


def configs(topo: Topology, daemon: str) -> Iterator[tuple[Node, str]]:
    for node in topo.hosts():
        text = config_of(node, daemon)
        if text:
            yield node, text


def span_patch(node: str, daemon: str, text: str, start: int, end: int, new: str) -> dict[str, str]:
    """A variant patch that replaces text[start:end] with `new` and nothing else.

    Anchored at the offset, so the same words elsewhere in the config stay as they are."""
    return {
        "node": node,
        "daemon": daemon,
        "find": rf"\A(.{{{start}}})" + re.escape(text[start:end]),
        "replace": r"\g<1>" + new.replace("\\", "\\\\"),
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())[:120] or "(nothing)"


def edits(topo: Topology, daemon: str, pattern: str, change: Change, what: Describe | None = None) -> list[Candidate]:
    """One candidate per match of `pattern` (multi-line mode) in each node's `daemon` config:
    the match replaced by change(match, text); None skips the match."""
    found = []
    for node, text in configs(topo, daemon):
        for match in re.finditer(pattern, text, re.M):
            new = change(match, text)
            if new is None or new == match.group(0):
                continue
            where = f" {what(match, text)}" if what else ""
            summary = f"{node.name} {daemon}{where}: {_one_line(match.group(0))} -> {_one_line(new)}"
            found.append(Candidate(node.name, summary, (span_patch(node.name, daemon, text, *match.span(), new),)))
    return found


def enclosing(text: str, pos: int, opener: str) -> str:
    """The name of the last `opener NAME` before pos (a keepalived instance, a BIND zone)."""
    names = re.findall(rf"(?m)^\s*{opener}\s+\"?([^\s\"{{]+)", text[:pos])
    return names[-1] if names else ""


def node_overlay(node: str, data: dict[str, Any]) -> dict[str, Any]:
    """A variant overlay that merges `data` into one node of the topology file."""
    return {"topology": {"nodes": {node: data}}}


def node_document(topo: Topology, node: str) -> dict[str, Any]:
    return topo.document.get("topology", {}).get("nodes", {}).get(node, {})
