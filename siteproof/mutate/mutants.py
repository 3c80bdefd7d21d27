"""Mutants: the seeded choice of candidates, each written as a variant file, and what a mutant
changes in the lab it would build (nothing at all: it is equivalent)."""

from __future__ import annotations

import difflib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from siteproof.mutate.registry import OPERATORS, Candidate
from siteproof.topology.checks import fresh_netns_sysctls
from siteproof.topology.model import Node, Topology


@dataclass(frozen=True)
class Mutant:
    id: str  # its variant's name: "mutant-007"
    operator: str
    threatens: tuple[str, ...]
    candidate: Candidate

    def variant(self) -> dict[str, Any]:
        """The variant document that builds this mutant."""
        doc: dict[str, Any] = {
            "description": f"mutant of operator {self.operator}: {self.candidate.summary}",
            "breaks": list(self.threatens),
            # Required of a variant; a mutant has no expected message: any failure catches it.
            "checks": [{"test": "any test of " + ", ".join(self.threatens), "expect": ""}],
        }
        if self.candidate.patches:
            doc["patches"] = [dict(p) for p in self.candidate.patches]
        if self.candidate.overlay:
            doc["overlay"] = self.candidate.overlay
        return doc


# Roles that play the world outside the site or the suites' own instruments (clients, scanners,
# the DNS root and a parent zone's server, a remote peer): a fault there is not the site's, so
# only --nodes mutates them.
OUTSIDE_ROLES = frozenset({"outside-scanner", "outside-server", "central-services", "client", "rogue", "root",
                           "upstream", "user", "dtn-peer"})


def site_nodes(topo: Topology) -> set[str]:
    return {n.name for n in topo.nodes.values() if n.role not in OUTSIDE_ROLES}


def unknown_operators(names: list[str]) -> list[str]:
    return [n for n in names if n not in OPERATORS]


def choose(topo: Topology, operators: list[str] | None = None, sample: int | None = None, seed: int = 1,
           nodes: list[str] | None = None) -> list[Mutant]:
    """Mutants of the topology: every candidate, or `sample` of them spread over the operators;
    on the site's own nodes (OUTSIDE_ROLES left out) or on `nodes`.

    Operators take turns in a seeded order, each giving a seeded pick among its candidates, so
    an operator with thousands of places (one per VRRP instance) does not crowd out one with two,
    the same seed picks the same mutants, and another seed reaches other nodes."""
    rng = random.Random(seed)  # noqa: S311 - reproducible, not secret
    pools: dict[str, list[Candidate]] = {}
    allowed = set(nodes) if nodes else site_nodes(topo)
    for name in sorted(operators or OPERATORS):
        found = [c for c in OPERATORS[name].find(topo) if c.node in allowed]
        rng.shuffle(found)
        if found:
            pools[name] = found
    order = sorted(pools)
    rng.shuffle(order)
    picked: list[tuple[str, Candidate]] = []
    limit = sample if sample else sum(len(p) for p in pools.values())
    while len(picked) < limit and any(pools.values()):
        for name in order:
            if pools[name] and len(picked) < limit:
                picked.append((name, pools[name].pop()))
    return [Mutant(f"mutant-{i:03d}", name, OPERATORS[name].threatens, cand)
            for i, (name, cand) in enumerate(picked, 1)]


def write_variant(folder: Path, mutant: Mutant) -> Path:
    path = folder / "variants" / f"{mutant.id}.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(mutant.variant(), sort_keys=False, width=200))
    return path


_COMMENT = ("#", "//", "!")


def _normal(text: str) -> list[str]:
    """A config without its comment lines, blank lines and trailing blanks: what a daemon reads."""
    return [line.rstrip() for line in text.splitlines() if line.strip() and not line.strip().startswith(_COMMENT)]


def config_lines(node: Node) -> list[str]:
    """What a node's daemons and firewall read (and its switch ports), as lines."""
    lines = [f"kind {node.kind}"]
    if node.kind == "bridge":
        lines.append(f"isolated {sorted(node.isolated_ports)} lag {sorted(node.lag_members)} {node.lag_mac}")
    if node.nftables:
        lines += ["--- nftables", *_normal(node.nftables)]
    for kind, spec in sorted(node.daemons.items()):
        lines += [f"--- {kind} {' '.join(spec.args)} after {','.join(spec.after)}", *_normal(spec.config)]
    return lines


def node_state(node: Node, defaults: dict[str, str]) -> list[str]:
    """What a node would be in the lab, as lines: its configs, and the kernel state it declares
    (a sysctl the topology does not set is the kernel's value in a fresh namespace)."""
    lines = config_lines(node)[:1]
    sysctls = {**defaults, **{k: str(v) for k, v in node.sysctls.items()}}
    lines += [f"sysctl {k} = {v}" for k, v in sorted(sysctls.items())]
    for name, iface in sorted(node.interfaces.items()):
        lines.append(f"interface {name} mtu {iface.mtu or 1500} mac {iface.mac or '-'} "
                     + " ".join(str(a) for a in iface.addresses))
    lines += [f"route {r.dst} via {','.join(r.via)} dev {r.dev} type {r.type} weights {r.weights} table {r.table}"
              for r in node.routes]
    lines += [f"rule fwmark {r.fwmark} table {r.table} priority {r.priority}" for r in node.rules]
    return lines + config_lines(node)[1:]


def configs_differ(original: Topology, mutant: Topology) -> bool:
    """True if any node's configs (daemons, firewall, switch ports) or set of nodes differ."""
    if set(original.nodes) != set(mutant.nodes):
        return True
    return any(config_lines(original.nodes[n]) != config_lines(mutant.nodes[n]) for n in original.nodes)


def differences(original: Topology, mutant: Topology) -> dict[str, list[str]]:
    """Per node, a unified diff of what the mutant's lab would differ in; empty: equivalent."""
    keys = sorted({k for topo in (original, mutant) for n in topo.nodes.values() for k in n.sysctls})
    defaults = fresh_namespace_values(tuple(keys))
    diffs: dict[str, list[str]] = {}
    for name in sorted(set(original.nodes) | set(mutant.nodes)):
        before = node_state(original.nodes[name], defaults) if name in original.nodes else []
        after = node_state(mutant.nodes[name], defaults) if name in mutant.nodes else []
        if before != after:
            diffs[name] = list(difflib.unified_diff(before, after, f"{name} (as configured)", f"{name} (mutant)",
                                                    lineterm="", n=2))
    return diffs


def fresh_namespace_values(keys: tuple[str, ...]) -> dict[str, str]:
    """Each key's value in a fresh network namespace. Without root (or unshare) nothing is
    known, and no sysctl mutant is called equivalent."""
    return {k: v for k, v in (fresh_netns_sysctls(keys) or {}).items() if v is not None}
