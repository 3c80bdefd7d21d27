"""HSN-1 and HSN-2: the HSN edge (paper 000, section VI).

Two edge routers answer for the HSN's one gateway address with one MAC at once (VARP on an
MLAG pair), the fabric spreads the computes' frames over both, and each edge router reaches
the data center over equal-cost links. The verdicts come from the routers themselves: the
ARP replies leaving each edge router, and per-flow counters on the edge and DC routers.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from siteproof import readonly
from siteproof.areas.can import edge
from siteproof.areas.can.site import CanSite
from siteproof.backends.base import TRAFFIC_COUNTERS
from siteproof.fixtures.can import wait_converged
from siteproof.fixtures.plugin import lab_ends_after, needs
from siteproof.probes.arp import who_answers
from siteproof.probes.flowcount import Flow
from siteproof.probes.flows import send_udp_flows
from siteproof.probes.traffic import Prober, echo_prober
from siteproof.wait import WaitTimeout, wait_until

pytestmark = [pytest.mark.topology("perlmutter-can"), pytest.mark.can]

SPREAD_PORT = 9  # discard: the flows only need to cross the routers
FLOWS_PER_HOST = 32
PROBES_PER_HOST = 4


def hsn_hosts(can: CanSite) -> list[str]:
    return can.site.names("compute")


def outside_host(can: CanSite) -> str:
    found = [n for n in can.site.names("user") if can.label(n, "zone") == "outside"]
    assert found, "HSN: no host in the outside zone to send to"
    return found[0]


def gateway(can: CanSite) -> str:
    found = {can.label(e, "gateway") for e in can.edges}
    assert len(found) == 1, f"HSN: the edge routers' gateway labels differ: {found}"
    return found.pop()


def _interface_of(can: CanSite, node: str, address: str) -> str:
    """The node's interface holding this address ("" if none does)."""
    for link in json.loads(can.site.host(node).check_output("ip -j -4 addr show")):
        if any(a.get("local") == address for a in link.get("addr_info", [])):
            return link["ifname"]
    return ""


# --- HSN-1: both edge routers answer and forward -------------------------------------------
@pytest.mark.disruptive
@pytest.mark.behaviour("HSN-1")
def test_hsn1_both_edge_routers_answer_for_the_gateway_with_one_mac(can, evidence):
    backend = can.site.backend
    assert len(can.edges) >= 2, f"HSN-1: {len(can.edges)} edge router(s) in the inventory: no first-hop redundancy"
    gw = gateway(can)
    hosts = hsn_hosts(can)
    askers = {h: (_interface_of(can, h, can.label(h, "address")), can.label(h, "address")) for h in hosts}
    # Each edge router's HSN port: the one on the hosts' subnet (it holds the gateway when right).
    responders = {e: _interface_of(can, e, gw) or "hsn" for e in can.edges}
    found = who_answers(backend, gw, askers, responders, wait=can.site.budget("arp_answer"))
    rows = [[e, f"{len(found.answered[e])} of {len(hosts)}", ", ".join(sorted(found.macs[e])) or "-"] for e in can.edges]
    evidence.table(f"ARP replies for the gateway {gw}, as sent by each edge router", ["edge router", "hosts answered", "MAC"], rows)
    silent = {e: sorted(set(a for _, a in askers.values()) - found.answered[e]) for e in can.edges
              if len(found.answered[e]) < len(hosts)}
    assert not silent, "HSN-1: " + "; ".join(f"{e} did not answer ARP for the gateway {gw} to {len(who)} of {len(hosts)} hosts"
                                             for e, who in silent.items())
    macs = set().union(*found.macs.values())
    assert len(macs) == 1, f"HSN-1: the edge routers answer for {gw} with different MACs {sorted(macs)}: not one anycast gateway"


readonly.changing_fixture("hsn_spread")  # counting rules on every edge and DC router


@pytest.fixture(scope="module")
def hsn_spread(can):
    """Flows from every compute to the outside, and the edge-DC link each took (module-wide:
    HSN-1 reads the edge routers' shares, HSN-2 the links')."""
    backend = needs(can.site, TRAFFIC_COUNTERS)
    dst = can.label(outside_host(can), "address")
    with edge.counters(can) as counted:
        flows: list[Flow] = []
        for i, host in enumerate(hsn_hosts(can)):
            src = can.label(host, "address")
            sports = list(range(20000 + 100 * i, 20000 + 100 * i + FLOWS_PER_HOST))
            run = send_udp_flows(backend, host, src, dst, SPREAD_PORT, sports, rate_pps=2000)
            assert not run.failed, f"HSN: {host} could not send: {run.failed[:3]}"
            flows += run.flows

        def placed() -> edge.Spread:
            return edge.spread(can, counted, flows)

        try:
            result = wait_until(placed, "reach_probe", expected="every flow counted on one edge and one DC router",
                                accept=lambda s: not s.unseen(), interval=0.1).value
        except WaitTimeout:
            result = placed()
    return result, flows


@pytest.mark.disruptive
@pytest.mark.behaviour("HSN-1")
def test_hsn1_both_edge_routers_forward_compute_egress(can, hsn_spread, evidence):
    spread, flows = hsn_spread
    per_edge = spread.per_edge(can.edges)
    evidence.table("compute flows per edge router", ["edge router", "flows"], [[e, n] for e, n in per_edge.items()])
    for e, n in per_edge.items():
        evidence.measure(f"flows through {e}", n, unit=f" of {len(flows)}")
    problems = []
    if idle := [e for e, n in per_edge.items() if n == 0]:
        problems.append(f"edge router(s) {idle} forwarded none of {len(flows)} compute flows")
    if lost := spread.unseen():
        problems.append(f"{len(lost)} of {len(flows)} compute flows crossed no edge router and DC router (lost), e.g. {lost[0]}")
    # Which symptom shows depends on whose ARP reply a compute took first: one verdict for both.
    assert not problems, "HSN-1: compute egress is not active/active through every edge router: " + "; ".join(problems)


@pytest.mark.disruptive
@pytest.mark.behaviour("HSN-2")
def test_hsn2_flows_spread_over_every_equal_cost_edge_link(can, hsn_spread, evidence):
    spread, flows = hsn_spread
    per_link = spread.per_link(edge.designed_links(can))
    evidence.table("compute flows per edge-DC link", ["edge router", "DC router", "flows"],
                   [[e, d, n] for (e, d), n in per_link.items()])
    idle = [f"{e}-{d}" for (e, d), n in per_link.items() if n == 0]
    assert not idle, f"HSN-2: edge-DC link(s) {idle} carried no flow of {len(flows)}: not equal-cost multipath"
    # Each link against its edge router's flows (which edge a compute uses is ARP's choice): a
    # weighted route or a biased hash leaves a link with less than a fair hash could give it.
    floor = can.site.threshold("hsn_unfair_p")
    rows, short = [], []
    for e in can.edges:
        mine = {link: n for link, n in per_link.items() if link[0] == e}
        total = sum(mine.values())
        for (_, d), n in mine.items():
            tail = edge.fair_tail(n, total, len(mine))
            fair = total / len(mine)
            rows.append([e, d, n, total, f"{fair:.1f}", f"{tail:.2g}", "WRONG" if tail < floor else "ok"])
            if tail < floor:
                short.append(f"{e}-{d} carried {n} of {e}'s {total} flows (a fair share is {fair:.0f}; "
                             f"P = {tail:.1g} under an even hash)")
    evidence.table("each link's share of its edge router's flows (P: how likely an even hash gives so few)",
                   ["edge router", "DC router", "flows", "of the edge's", "fair share", "P", "verdict"], rows)
    assert not short, f"HSN-2: edge-DC links carry less than an equal share: {'; '.join(short)}"


@pytest.mark.behaviour("HSN-2")
def test_hsn2_every_router_hashes_flows_by_their_ports(can, evidence):
    """Read-only: every router's multipath hash policy, in each family it forwards. A router
    that hashes on addresses only (policy 0) sends all of one host's flows over one link: the
    spread then depends on how many hosts there are, and a counted spread passes by chance."""
    rows, wrong = [], []
    for router in can.spines + can.dc_routers + can.edges:
        host = can.site.host(router)
        # IPv6 where the router forwards it (and has it): a family it does not route has no hash.
        v6 = host.sysctl("net.ipv6.conf.all.disable_ipv6") != 1 and host.sysctl("net.ipv6.conf.all.forwarding") == 1
        families = ["ipv4"] + (["ipv6"] if v6 else [])
        for family in families:
            policy = host.sysctl(f"net.{family}.fib_multipath_hash_policy")
            rows.append([router, family, policy, "layer 4" if policy == 1 else "WRONG"])
            if policy != 1:
                wrong.append(f"{router} {family} {policy}")
    evidence.table("multipath hash policy per router (net.*.fib_multipath_hash_policy; 1: addresses and ports)",
                   ["router", "family", "policy", "verdict"], rows)
    assert not wrong, ("HSN-2: routers hash multipath routes without the ports (fib_multipath_hash_policy, 1 wanted: "
                       f"one host's flows would take one link): {', '.join(wrong)}")


# --- HSN-1, HSN-2 failover: an edge router or an edge-DC link lost ---------------------------
def _probers(can: CanSite, lab) -> list[tuple[Prober, Flow]]:
    """UDP echo flows from every compute to the outside host, several per compute (the fabric
    and the routers hash them over every path)."""
    dst_node = outside_host(can)
    dst = can.label(dst_node, "address")
    probers = []
    for i, host in enumerate(hsn_hosts(can)):
        src = can.label(host, "address")
        for j in range(PROBES_PER_HOST):
            sport, dport = 30000 + 10 * i + j, 7000 + PROBES_PER_HOST * i + j
            probers.append((echo_prober(lab, (host, src, sport), (dst_node, dst, dport), interval=0.02),
                            Flow(src, dst, "udp", sport, dport)))
    return probers


def _measure_failover(can: CanSite, lab, faults, evidence, request, what: str, cut: list[tuple[str, str]],
                      choose: Callable[[Any], tuple[str, list[tuple[str, str]]]] | None = None) -> None:
    """Start the probers, see which link each crosses, cut the cables, judge the gaps. With
    `choose`, what to cut is chosen once the flows are placed (what, cut)."""
    wait_converged(can, "ospf_converge")
    probers = _probers(can, lab)
    flows = [f for _, f in probers]
    budget = can.site.budget("edge_failover")
    for prober, _ in probers:
        prober.start()
    try:
        with edge.counters(can) as counted:
            placed = wait_until(lambda: edge.spread(can, counted, flows), "reach_probe", expected="every probe flow placed",
                                accept=lambda s: not s.unseen(), interval=0.1).value
        if choose is not None:
            what, cut = choose(placed)
        crossing = [f for f, link in placed.links.items() if link and (link in cut or (link[0], "*") in cut)]
        evidence.record(f"probe flows crossing {what}", f"{len(crossing)} of {len(flows)}")
        assert crossing, f"HSN: none of the {len(flows)} probe flows crossed {what}: the fault would prove nothing"
        began = time.monotonic()
        cables = _cables(lab, cut)
        for node, ifname in cables:
            faults.cable_pull(node, ifname)
        evidence.record("fault", f"cables pulled: {', '.join(f'{n}:{i}' for n, i in cables)}")
        after = time.monotonic()
        try:
            back = wait_until(lambda: all(p.received_since(after) for p, _ in probers), "edge_failover",
                              expected="every probe flow echoing after the fault", accept=bool, interval=0.05, seconds=budget)
            evidence.measure("every flow echoing again after", round(after - began + back.elapsed, 3), at_most=budget,
                             limit_name="edge_failover", unit=" s")
        except WaitTimeout:
            pass  # asserted below, with the measurements recorded first
    finally:
        results = [p.stop() for p, _ in probers]
        if lab_ends_after(request.node):
            faults.forget()
        else:  # the cables back in and routing whole again: before the next test, and the site's post snapshot
            faults.undo_all()
            with contextlib.suppress(WaitTimeout):  # the verdict below stays this test's; a site's snapshot says the rest
                wait_converged(can, "ospf_converge")
    worst = 0.0
    for (_, flow), r in zip(probers, results, strict=True):
        evidence.record(f"probes {flow}", r.as_dict())
        worst = max(worst, r.max_gap_ms)
    evidence.measure(f"longest egress gap after losing {what}", round(worst, 1), at_most=budget * 1000, limit_name="edge_failover",
                     unit=" ms")
    dead = [str(f) for (p, f) in probers if not p.received_since(after)]
    assert not dead, (f"HSN: compute egress lost after losing {what}: {len(dead)} of {len(flows)} flows never echoed again "
                      f"within {budget:.1f} s (edge_failover), e.g. {dead[0]}")
    assert worst <= budget * 1000, f"HSN: compute egress interrupted for {worst:.0f} ms after losing {what}, beyond {budget:.1f} s"


def _cables(lab, cut: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(node, interface) to pull: an edge-DC link by its edge end; (edge, "*") every cable of it."""
    cables = []
    for node, other in cut:
        if other == "*":
            cables += [(node, i) for i in lab.data_interfaces(node)]
        else:
            cables.append((node, f"to-{other}"))
    return cables


@pytest.mark.disruptive
@pytest.mark.behaviour("HSN-1")
@pytest.mark.parametrize("which", [0, 1], ids=["first", "second"])
def test_hsn1_compute_egress_survives_losing_an_edge_router(which, can, lab, faults, evidence, request):
    assert which < len(can.edges), f"HSN-1: no edge router number {which + 1} in {can.edges}"
    victim = can.edges[which]
    evidence.record("edge router lost (every cable pulled: a power loss)", victim)
    _measure_failover(can, lab, faults, evidence, request, f"edge router {victim}", [(victim, "*")])


@pytest.mark.disruptive
@pytest.mark.behaviour("HSN-2")
def test_hsn2_connectivity_survives_losing_an_edge_dc_link(can, lab, faults, evidence, victims, request):
    links = edge.designed_links(can)

    def crossed_link(placed) -> tuple[str, list[tuple[str, str]]]:
        # A seeded choice among the links the probe flows cross (the routers' hash decides
        # which: a link that carries none would prove nothing); among all when none is crossed,
        # which then fails saying so.
        crossed = [lk for lk in links if lk in set(placed.links.values())]
        chosen = victims.pick([f"{e}-{d}" for e, d in crossed or links], "edge-DC link")
        return f"the edge-DC link {chosen}", [next(lk for lk in links if f"{lk[0]}-{lk[1]}" == chosen)]

    _measure_failover(can, lab, faults, evidence, request, "an edge-DC link", [], choose=crossed_link)
