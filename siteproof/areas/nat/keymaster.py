"""The keymaster: which NAT gateway each compute node leaves by (seed 002, `the_keymaster`
and `GW_Tracker`). Pure logic, no I/O: the tracker feeds it what it observed.

- `assign`: the first assignment, balanced (per gateway, max - min <= 1), stable for a given
  set of names.
- `remap`: the next assignment after a change, moving as few computes as the change needs:
  the computes of a dead gateway go to the live gateways with the fewest; a gateway running
  out of ports sheds its busiest computes to gateways with room; a gateway that is back (or
  any imbalance) is evened out one compute at a time, the least busy first. Every move says
  why.

Strategies other than "minimal" are the known-bad keymasters the suite must catch
("next-in-ring": a dead gateway's computes all go to the next gateway; "full": everything is
assigned afresh on every change; "fill-in-turn": the first assignment fills each gateway in
turn (assign's fill) and nothing is ever evened out).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

STRATEGIES = ("minimal", "next-in-ring", "full", "fill-in-turn")


def natural(name: str) -> tuple:
    """nid2 before nid10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


@dataclass(frozen=True)
class Move:
    compute: str
    source: str | None  # None: it had no gateway
    target: str
    reason: str

    def as_dict(self) -> dict[str, str | None]:
        return {"compute": self.compute, "from": self.source, "to": self.target, "reason": self.reason}


def assign(computes: Sequence[str], gateways: Sequence[str], fill: int = 0) -> dict[str, str]:
    """Round robin over the gateways in name order: counts differ by at most one.
    fill > 0 is a known-bad keymaster: each gateway in turn takes `fill` computes, the last
    the rest."""
    if not gateways:
        raise ValueError("no gateway to assign computes to")
    order = sorted(gateways, key=natural)
    names = sorted(computes, key=natural)
    if fill > 0:
        return {c: order[min(i // fill, len(order) - 1)] for i, c in enumerate(names)}
    return {c: order[i % len(order)] for i, c in enumerate(names)}


@dataclass(frozen=True)
class Pressure:
    """A gateway short of ports: shed computes whose connections add up to `shed` entries."""

    utilization: float  # the fullest pool address's share of its ports in use
    shed: int


def remap(
    current: Mapping[str, str | None],
    live: Sequence[str],
    pressure: Mapping[str, Pressure] | None = None,
    load: Mapping[str, int] | None = None,
    strategy: str = "minimal",
) -> tuple[dict[str, str], list[Move]]:
    """(the new assignment, the moves that lead there). `current` maps every compute to its
    gateway (None: unassigned); `load` is each compute's connection count on its gateway."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown keymaster strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    if not live:
        return {c: g for c, g in current.items() if g}, []  # nowhere to move to: leave all as they are
    pressure = pressure or {}
    load = load or {}
    live_order = sorted(live, key=natural)
    if strategy == "full":
        fresh = assign(list(current), live_order)
        return fresh, [Move(c, current[c], g, "assigned afresh") for c, g in fresh.items() if current[c] != g]

    new: dict[str, str] = {}
    moves: list[Move] = []
    members: dict[str, dict[str, None]] = {g: {} for g in live_order}  # ordered sets
    orphans: list[tuple[str, str | None]] = []
    for compute in sorted(current, key=natural):
        gw = current[compute]
        if gw in members:
            members[gw][compute] = None
            new[compute] = gw
        else:
            orphans.append((compute, gw))

    def move(compute: str, source: str | None, target: str, reason: str) -> None:
        if source in members:
            del members[source][compute]
        members[target][compute] = None
        new[compute] = target
        moves.append(Move(compute, source, target, reason))

    roomy = [g for g in live_order if g not in pressure] or live_order

    def fewest() -> str:
        return min(roomy, key=lambda g: (len(members[g]), natural(g)))  # G is small: a scan is cheap

    # A dead (or unknown) gateway's computes.
    if strategy == "next-in-ring":
        ring = sorted(set(live_order) | {g for _, g in orphans if g}, key=natural)
        for compute, gw in orphans:
            start = ring.index(gw) if gw in ring else -1
            nxt = next(ring[(start + k) % len(ring)] for k in range(1, len(ring) + 1) if ring[(start + k) % len(ring)] in members)
            move(compute, gw, nxt, f"gateway {gw} is dead: the next gateway in the ring" if gw else "unassigned")
        return new, moves
    for compute, gw in orphans:
        move(compute, gw, fewest(), f"gateway {gw} is dead" if gw else "unassigned")

    # Gateways short of ports: their busiest computes first, to the gateways with room.
    for gw in live_order:
        if gw not in pressure or not [g for g in live_order if g not in pressure]:
            continue
        need = pressure[gw].shed
        for compute in sorted(members[gw], key=lambda c: (-load.get(c, 0), natural(c))):
            if need <= 0 or load.get(compute, 0) == 0:
                break
            need -= load.get(compute, 0)
            move(compute, gw, fewest(), f"gateway {gw} ports {pressure[gw].utilization:.0%} in use: "
                 f"shedding its busiest computes ({load.get(compute, 0)} connections)")

    if strategy == "fill-in-turn":
        return new, moves
    # Even out the gateways with room: the largest keep the odd ones over, the others give
    # their least busy computes to those short of their share.
    sizes = {g: len(members[g]) for g in roomy}
    base, extra = divmod(sum(sizes.values()), len(roomy))
    ranked = sorted(roomy, key=lambda g: (-sizes[g], natural(g)))
    quota = {g: base + (1 if i < extra else 0) for i, g in enumerate(ranked)}
    short = [g for g in sorted(roomy, key=natural) if sizes[g] < quota[g]]
    for donor in ranked:
        surplus = sizes[donor] - quota[donor]
        if surplus <= 0:
            continue
        for compute in sorted(members[donor], key=lambda c: (load.get(c, 0), natural(c)))[:surplus]:
            target = short[0]
            move(compute, donor, target, f"rebalance: {donor} had {sizes[donor]}, {target} {sizes[target]} (share {quota[target]})")
            if len(members[target]) >= quota[target]:
                short.pop(0)
    return new, moves


def balance(assignment: Mapping[str, str], live: Sequence[str]) -> dict[str, int]:
    """Computes per live gateway (zeros included)."""
    counts = dict.fromkeys(sorted(live, key=natural), 0)
    for gw in assignment.values():
        if gw in counts:
            counts[gw] += 1
    return counts
