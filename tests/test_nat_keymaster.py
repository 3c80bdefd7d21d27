"""The keymaster's assignment logic (siteproof.areas.nat.keymaster) at the source site's size:
27k computes over 8 to 32 gateways. Pure logic: no lab."""

from __future__ import annotations

import pytest

from siteproof.areas.nat.keymaster import Pressure, assign, balance, remap

COMPUTES = [f"nid{i:05d}" for i in range(1, 27001)]


def spread(assignment, live) -> int:
    counts = balance(assignment, live).values()
    return max(counts) - min(counts)


@pytest.mark.parametrize("n", [8, 16, 32])
def test_every_compute_has_one_gateway_balanced(n):
    gateways = [f"gw{i}" for i in range(1, n + 1)]
    a = assign(COMPUTES, gateways)
    assert set(a) == set(COMPUTES) and set(a.values()) == set(gateways)
    assert spread(a, gateways) <= 1
    assert assign(list(reversed(COMPUTES)), gateways) == a  # the same names give the same map


@pytest.mark.parametrize("n", [8, 32])
def test_a_dead_gateway_moves_its_computes_only_and_stays_balanced(n):
    gateways = [f"gw{i}" for i in range(1, n + 1)]
    a = assign(COMPUTES, gateways)
    live = [g for g in gateways if g != "gw3"]
    b, moves = remap(a, live)
    moved = {c for c in COMPUTES if a[c] != b[c]}
    assert moved == {c for c in COMPUTES if a[c] == "gw3"} == {m.compute for m in moves}
    assert spread(b, live) <= 1 and "gw3" not in b.values()
    assert all(m.reason == "gateway gw3 is dead" for m in moves)


def test_losing_gateways_one_after_another_then_their_return():
    gateways = [f"gw{i}" for i in range(1, 9)]
    a = assign(COMPUTES, gateways)
    live = list(gateways)
    for dead in ("gw2", "gw5", "gw8"):
        live.remove(dead)
        before = a
        a, moves = remap(a, live)
        assert spread(a, live) <= 1
        assert {m.compute for m in moves} == {c for c, g in before.items() if g == dead}
    b, moves = remap(a, gateways)  # all three back
    assert spread(b, gateways) <= 1
    # No more moves than the returning gateways' shares.
    assert len(moves) == sum(balance(b, gateways)[g] for g in ("gw2", "gw5", "gw8"))
    assert all(m.target in ("gw2", "gw5", "gw8") and m.reason.startswith("rebalance") for m in moves)


def test_a_gateway_short_of_ports_sheds_its_busiest_computes_first():
    gateways = ["gw1", "gw2", "gw3", "gw4"]
    a = assign([f"nid{i:03d}" for i in range(1, 65)], gateways)
    mine = sorted(c for c, g in a.items() if g == "gw1")
    load = {c: 1 for c in a} | {mine[3]: 40, mine[7]: 20}
    b, moves = remap(a, gateways, {"gw1": Pressure(0.85, 45)}, load)
    assert [m.compute for m in moves[:2]] == [mine[3], mine[7]]
    assert all(b[m.compute] != "gw1" for m in moves) and "ports 85% in use" in moves[0].reason
    assert all(a[c] == b[c] for c in a if a[c] != "gw1" and c not in {m.compute for m in moves})


def test_the_known_bad_strategies_show_their_defects():
    gateways = [f"gw{i}" for i in range(1, 9)]
    a = assign(COMPUTES, gateways)
    live = [g for g in gateways if g != "gw3"]
    ring, _ = remap(a, live, strategy="next-in-ring")
    assert balance(ring, live)["gw4"] == 2 * balance(a, gateways)["gw4"]  # gw3's all went to gw4
    fresh, moves = remap(a, live, strategy="full")
    assert spread(fresh, live) <= 1 and len(moves) > 2 * balance(a, gateways)["gw3"]  # far more than gw3's moved


def test_nowhere_to_go_leaves_everything_and_unknown_strategy_is_refused():
    a = assign(["n1", "n2"], ["gw1"])
    assert remap(a, []) == (a, [])
    with pytest.raises(ValueError, match="unknown keymaster strategy 'random'"):
        remap(a, ["gw1"], strategy="random")
