"""GPFS storage gateways (SPEC GW-1, GW-2, GW-3, GW-4, GW-6; paper 000, section IV).

Every gateway VIP is one VRRP group with all gateways in it; a failed gateway's VIPs move
to the next-priority live gateway and come back when it returns; one survivor holds all;
the gateways route both ways and the storage side returns through VIPs too.
"""

from __future__ import annotations

import ipaddress
import json
import time

import pytest

from siteproof.probes.traffic import address_of, pinned_routes, udp_probe
from siteproof.wait import WaitTimeout, wait_until

pytestmark = [pytest.mark.topology("perlmutter-gateways"), pytest.mark.gw]

FAILURES = {
    "crash": (lambda f, gw: f.crash(gw, "keepalived"), lambda f, gw: f.start(gw, "keepalived")),
    "stop": (lambda f, gw: f.stop(gw, "keepalived"), lambda f, gw: f.start(gw, "keepalived")),
    "freeze": (lambda f, gw: f.freeze(gw), lambda f, gw: f.thaw(gw)),
    "cable": (lambda f, gw: f.cable_pull(gw, "eth1"), lambda f, gw: f.cable_restore(gw, "eth1")),
}


def _probe_pair(gateways, lab, gw):
    """The compute, the storage server and the pins that send a flow through gw's own VIPs."""
    compute, storage = gateways.site.names("compute")[0], gateways.site.names("storage")[0]
    labels = gateways.site.labels[gw]
    pins = [
        (compute, address_of(lab, storage), labels["hsn_vip"]),
        (storage, address_of(lab, compute), labels["storage_vip"]),
    ]
    return compute, storage, pins


@pytest.mark.behaviour("GW-1")
def test_gw1_every_vip_has_exactly_one_holder(gateways, evidence):
    """GW-1: each VIP is held by exactly one gateway, its highest-priority live member."""
    gateways.assert_readable()
    seen = gateways.holders()
    problems = gateways.placement_problems(seen, gateways.expected())
    evidence.record("VIPs", len(seen))
    evidence.record("gateways", len(gateways.names))
    evidence.table("VIP holders", ["VIP", "VRRP group", "holders", "expected"],
                   [[v, gateways.groups[v].instance, ", ".join(h) or "-", gateways.expected()[v]] for v, h in seen.items()])
    assert not problems, "split or missing ownership: " + "; ".join(problems)
    # Configuration side of GW-1: every gateway in every group, one unique top priority.
    for vip, group in gateways.groups.items():
        missing = set(gateways.names) - set(group.priorities)
        assert not missing, f"VIP {vip}: gateways {sorted(missing)} are not members of its VRRP group"
        top = sorted(group.priorities.values(), reverse=True)
        assert len(top) < 2 or top[0] != top[1], f"VIP {vip}: two gateways share the top priority {top[0]}"


@pytest.mark.disruptive
@pytest.mark.behaviour("GW-2")
@pytest.mark.parametrize("failure", list(FAILURES))
def test_gw2_takeover(failure, gw_lab, lab, faults, evidence):
    """GW-2: a failed gateway's VIPs move to the next-priority live gateway within budget."""
    gateways = gw_lab
    gw = gateways.names[0]
    vips = gateways.home_vips(gw)
    budget = gateways.takeover_budget()
    compute, storage, pins = _probe_pair(gateways, lab, gw)
    fail, restore = FAILURES[failure]
    with pinned_routes(lab, pins), udp_probe(lab, compute, storage) as prober:
        fault = fail(faults, gw)
        gateways.down.add(gw)
        takeover = gateways.wait_placement("vrrp_takeover", vips=vips, seconds=budget)
        resumed_at = time.monotonic()
        wait_until(lambda: prober.received_since(resumed_at) >= 20, "traffic_resume",
                   expected=f"echoes through the new holder of {vips[0]}")
        result = prober.stop()
    new_holder = gateways.expected()[vips[0]]
    evidence.record("failure", failure)
    evidence.record("failed gateway", gw)
    evidence.record("new holder", new_holder)
    evidence.record("takeover_s", round(fault.at and (resumed_at - fault.at), 3))
    evidence.measure("takeover observed after (s)", round(takeover.elapsed, 3), at_most=budget, limit_name="vrrp_takeover")
    evidence.measure("traffic gap (ms)", round(result.max_gap_ms, 1), at_most=budget * 1000, limit_name="vrrp_takeover")
    evidence.record("probes_lost", result.lost)
    evidence.record("probes_sent", result.sent)
    if failure == "crash":
        stale = sorted(set(vips) & {a for a in gateways.hosts[gw].check_output("ip -o addr show").split()
                                     for a in [a.split("/")[0]]})
        evidence.record("stale VIPs on crashed gateway", stale)
        evidence.note("keepalived killed with SIGKILL cannot remove its VIPs: the crashed gateway keeps "
                      "them (its kernel still answers ARP) until keepalived starts again.")
    assert result.max_gap_ms <= budget * 1000, (
        f"{failure} of {gw}: traffic gap {result.max_gap_ms:.0f} ms exceeds the takeover budget {budget:.1f} s"
    )
    restore(faults, gw)
    gateways.down.discard(gw)
    back = gateways.wait_placement("vrrp_restore", vips=vips)
    evidence.measure("VIPs back home after (s)", round(back.elapsed, 3), at_most=gateways.site.budget("vrrp_restore"),
                     limit_name="vrrp_restore")


@pytest.mark.disruptive
@pytest.mark.behaviour("GW-3")
def test_gw3_returning_gateway_takes_its_vips_back(gw_lab, lab, faults, evidence):
    """GW-3: a returning gateway gets its own VIPs back (preemption) and traffic resumes."""
    gateways = gw_lab
    gw = gateways.names[0]
    vips = gateways.home_vips(gw)
    compute, storage, pins = _probe_pair(gateways, lab, gw)
    faults.stop(gw, "keepalived")
    gateways.down.add(gw)
    # Any one live holder will do here (without preemption it depends on history): GW-3 is about the return.
    gateways.wait_placement("vrrp_takeover", vips=vips, seconds=gateways.takeover_budget(), exact=False)
    interim = ", ".join(gateways.holders()[vips[0]])
    with pinned_routes(lab, pins), udp_probe(lab, compute, storage) as prober:
        back_at = faults.start(gw, "keepalived").at
        gateways.down.discard(gw)
        try:
            gateways.wait_placement("vrrp_restore", vips=vips)
        except AssertionError as exc:
            seen = gateways.holders()
            evidence.table("holders after return", ["VIP", "holders"], [[v, ", ".join(seen[v])] for v in vips])
            raise AssertionError(f"VIPs of returning {gw} were not restored: {exc}") from None
        resumed_at = time.monotonic()
        wait_until(lambda: prober.received_since(resumed_at) >= 20, "traffic_resume", expected="echoes after return")
        result = prober.stop()
    evidence.record("returning gateway", gw)
    evidence.record("interim holder", interim)
    evidence.record("restore_s", round(resumed_at - back_at, 3))
    evidence.record("traffic_gap_ms", round(result.max_gap_ms, 1))
    evidence.record("probes_lost", result.lost)
    assert result.max_gap_ms <= gateways.takeover_budget() * 1000, f"gap {result.max_gap_ms:.0f} ms on VIP return"


@pytest.mark.disruptive
@pytest.mark.behaviour("GW-4")
def test_gw4_last_one_standing_holds_every_vip(gw_lab, lab, faults, evidence):
    """GW-4: with one gateway alive it holds all VIPs, and storage is reachable through each."""
    gateways = gw_lab
    survivor = gateways.names[-1]
    start = time.monotonic()
    others = [gw for gw in gateways.names if gw != survivor]
    faults.stop_many(others, "keepalived")
    gateways.down.update(others)
    converged = gateways.wait_placement("vrrp_takeover", seconds=gateways.takeover_budget() * 2)
    evidence.record("survivor", survivor)
    evidence.record("all_on_survivor_s", round(time.monotonic() - start, 3))
    evidence.record("settle_after_last_stop_s", round(converged.elapsed, 3))
    compute, storage = gateways.site.names("compute")[0], gateways.site.names("storage")[0]
    rows, failed = [], []
    storage_ip, compute_ip = address_of(lab, storage), address_of(lab, compute)
    for gw in gateways.names:
        labels = gateways.site.labels[gw]
        with pinned_routes(lab, [(compute, storage_ip, labels["hsn_vip"]), (storage, compute_ip, labels["storage_vip"])]):
            ok = lab.run(compute, "ping", "-c1", "-W2", storage_ip, check=False).returncode == 0
        rows.append([labels["hsn_vip"], labels["storage_vip"], "reached" if ok else "NO REPLY"])
        if not ok:
            failed.append(labels["hsn_vip"])
    evidence.table("storage through every VIP", ["HSN VIP", "storage VIP", "result"], rows)
    assert not failed, f"with only {survivor} alive, storage is unreachable through VIPs {failed}"


def _ipv4(host) -> str:
    return next(a for a in host.interface("eth1").addresses if ":" not in a)


@pytest.mark.behaviour("GW-6")
def test_gw6_forwarding_both_directions(site, evidence):
    """GW-6: computes reach the storage network and storage reaches computes, through a gateway."""
    storage = site.names("storage")[0]
    storage_ip = _ipv4(site.host(storage))
    rows, failed = [], []
    for compute in site.names("compute"):
        compute_ip = _ipv4(site.host(compute))
        for src, dst_name, dst in ((compute, storage, storage_ip), (storage, compute, compute_ip)):
            out = site.host(src).run(f"ping -c1 -W2 {dst}")
            ttl = next((w.split("=")[1] for w in out.stdout.split() if w.startswith("ttl=")), "-")
            rows.append([src, dst_name, dst, "reply" if out.rc == 0 else "NO REPLY", ttl])
            if out.rc != 0:
                failed.append(f"{src} -> {dst_name}")
    evidence.table("pings across the gateways", ["from", "to", "address", "result", "ttl"], rows)
    assert not failed, f"no forwarding for {failed}"


@pytest.mark.behaviour("GW-6")
def test_gw6_storage_side_returns_through_vips(site, gateways, evidence):
    """GW-6: the storage side routes back to the computes through the storage-side VIPs only."""
    storage = site.names("storage")[0]
    compute_net = ipaddress.ip_interface(
        site.host(site.names("compute")[0]).check_output("ip -o -4 addr show dev eth1").split()[3]
    ).network
    routes = json.loads(site.host(storage).check_output(f"ip -j route show {compute_net}"))
    hops = [h["gateway"] for r in routes for h in (r.get("nexthops") or [r]) if "gateway" in h]
    storage_vips = {site.labels[gw]["storage_vip"] for gw in gateways.names}
    evidence.record("return next hops", hops)
    evidence.record("storage-side VIPs", len(storage_vips))
    assert hops, f"{storage} has no route back to {compute_net}"
    stray = [h for h in hops if h not in storage_vips]
    assert not stray, (
        f"{storage} returns to {compute_net} via {', '.join(stray)}, not through a storage-side VIP: "
        "return traffic through that gateway is black-holed when it fails"
    )
    missing = storage_vips - set(hops)
    assert not missing, f"{storage} return route lacks storage-side VIPs {sorted(missing)}"


@pytest.mark.disruptive
@pytest.mark.behaviour("GW-6")
def test_gw6_return_path_survives_gateway_failure(gw_lab, lab, faults, evidence):
    """GW-6: freeze the gateway that carries a flow's return traffic; the flow resumes."""
    gateways = gw_lab
    compute, storage = gateways.site.names("compute")[0], gateways.site.names("storage")[0]
    compute_ip, storage_ip = address_of(lab, compute), address_of(lab, storage)
    with udp_probe(lab, compute, storage) as prober:
        route = lab.run(storage, "ip", "-j", "route", "get", compute_ip, "from", storage_ip, "ipproto", "udp",
                         "sport", "47000", "dport", "47000").stdout
        hop = json.loads(route)[0]["gateway"]
        owner = next(gw for gw in gateways.names if hop in gateways.hosts[gw].check_output("ip -o -4 addr show"))
        fault = faults.freeze(owner)
        gateways.down.add(owner)
        try:
            wait_until(lambda: prober.received_since(fault.at + 0.05) >= 20, "traffic_resume",
                       seconds=gateways.takeover_budget() * 2, expected="echoes after the return gateway froze")
        except WaitTimeout:
            raise AssertionError(f"return traffic black-holed: {storage} returns via {hop} ({owner}), "
                                 f"not through a storage-side VIP that another gateway can take") from None
        result = prober.stop()
    evidence.record("return next hop", hop)
    evidence.record("frozen gateway", owner)
    evidence.record("traffic_gap_ms", round(result.max_gap_ms, 1))
    assert result.max_gap_ms <= gateways.takeover_budget() * 1000
