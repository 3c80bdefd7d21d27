"""Redundant peers compared member against member: each member's config as lines with its
own values named by role (addresses, counters and handles abstracted), the form most members
share as the reference, and each member that differs with the lines that differ.

A difference between two peers shows in traffic only when a flow happens to cross the odd
one; reading every member finds it on any run.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

_COUNTER = re.compile(r"\s*counter packets \d+ bytes \d+")
_HANDLE = re.compile(r"\s*# handle \d+")


def abstracted(text: str, names: Mapping[str, str]) -> list[str]:
    """The config's non-blank lines with each address of `names` replaced by its role name
    (whole addresses only: 10.0.0.1 is not part of 10.0.0.10), and nft's counter values
    and handles dropped."""
    lines = []
    for line in text.splitlines():
        line = _HANDLE.sub("", _COUNTER.sub(" counter", line))
        for value, name in names.items():
            line = re.sub(rf"(?<![\w.]){re.escape(value)}(?!\w|\.\d)", name, line)
        if line.strip():
            lines.append(line.rstrip())
    return lines


@dataclass(frozen=True)
class Comparison:
    reference: list[str]  # the form most members share (with a tie, the first member's in name order)
    held_by: list[str]  # the members that have it
    differing: dict[str, list[str]]  # member -> its changed lines against the reference ("-" missing, "+" extra)

    def summary(self, limit: int = 300) -> str:
        """`dc2: +ip saddr 198.51.100.0/24 accept; ...`: each odd member with its changed lines."""
        return "; ".join(f"{member}: " + ", ".join(d[:1] + d[1:].strip() for d in lines)[:limit] for member, lines in self.differing.items())


def compare(configs: Mapping[str, list[str]]) -> Comparison:
    """Every member against the form most of them share."""
    members = sorted(configs)
    counts = Counter("\n".join(configs[m]) for m in members)
    top = max(counts.values())
    # Ties go to the first member in name order: with two peers that differ, the second is named.
    reference_text = next("\n".join(configs[m]) for m in members if counts["\n".join(configs[m])] == top)
    reference = reference_text.split("\n") if reference_text else []
    held_by = [m for m in members if configs[m] == reference]
    differing = {}
    for member in members:
        if configs[member] != reference:
            differing[member] = [d for d in difflib.unified_diff(reference, configs[member], lineterm="", n=0)
                                 if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    return Comparison(reference, held_by, differing)


def unified(comparison: Comparison, configs: Mapping[str, list[str]]) -> dict[str, str]:
    """Each differing member's full diff against the reference, for the report."""
    name = ", ".join(comparison.held_by) or "the reference"
    return {m: "\n".join(difflib.unified_diff(comparison.reference, configs[m], name, m, lineterm=""))
            for m in comparison.differing}
