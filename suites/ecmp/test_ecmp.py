"""ECMP from the computes to the storage gateways (SPEC ECMP-1..5; paper 000, section IV.C).

Every compute has one route to the storage network with all N gateway VIPs as next hops,
hashed on L3+L4: one flow always takes one gateway, many flows spread over all of them,
and a flow whose gateway fails goes on through the VIP's new holder.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from siteproof.areas.ecmp.routes import FAMILIES, bar, hash_policy, predicted_next_hops, routes_to
from siteproof.probes.flowcount import Flow, FlowCounters, where
from siteproof.probes.flows import open_tcp_flows, send_udp_flows
from siteproof.probes.iperf import iperf3_client, iperf3_server
from siteproof.probes.traffic import PROBE_PORT, address_of, tcp_accepts, tcp_stream, udp_probe
from siteproof.stats import uniform_balance
from siteproof.wait import WaitTimeout, wait_until

pytestmark = [pytest.mark.topology("perlmutter-gateways"), pytest.mark.ecmp]

# Port ranges per test, disjoint so that no test meets another's flows in the counters.
BALANCE_PORTS = {("udp", 4): 20000, ("tcp", 4): 30000, ("udp", 6): 40000}
STICKY_UDP_PORT = 47000
IPERF_CPORT, IPERF_PORT = 47300, 5201
FAILOVER_DPORT, FAILOVER_SPORTS = 47400, range(50000, 52000)


def _parameter(site, name: str) -> str:
    value = site.parameters.get(name)
    if not value:
        pytest.skip(f"site parameters have no {name}: this address family is not deployed here")
    return str(value)


def _vips(site, family: int, side: str = "hsn_vip") -> list[str]:
    """Every gateway's VIP on one side (hsn_vip or storage_vip) in one family."""
    label = FAMILIES[family][side]
    return [site.labels[gw][label] for gw in site.names("gateway") if label in site.labels[gw]]


def _unkept(counters: FlowCounters) -> dict[str, int]:
    """Per gateway, TCP/UDP packets its hook saw beyond those of the flows it kept: non-zero means
    the kernel lost set elements (a measuring failure), zero that the missing flows went elsewhere."""
    flows, totals = counters.read(), counters.totals()
    return {gw: n - sum(flows[gw].values()) for gw, n in totals.items() if n != sum(flows[gw].values())}


def _warm_neighbours(lab, node: str, hops: list[str]) -> None:
    """Resolve every next hop once, so no first packet waits in an unresolved neighbour queue."""
    for hop in hops:
        lab.run(node, "ping", "-c1", "-W1", "-q", hop, check=False)


def _one_route_over_vips(site, nodes: list[str], prefix: str, vips: list[str], family: int) -> tuple[list, list[str]]:
    """Per node: its routes to `prefix` (rows), and what is wrong with them: not one route, a VIP
    missing, a next hop that is no VIP, one listed twice, weights not all equal."""
    rows, problems = [], []
    for node in nodes:
        routes = routes_to(site.host(node), prefix, family)
        hops = [h for r in routes for h in r.next_hops]
        missing = sorted(set(vips) - set(hops))
        stray = sorted(set(hops) - set(vips))
        dupes = sorted({h for h in hops if hops.count(h) > 1})
        weights = {h: w for r in routes for h, w in zip(r.next_hops, r.weights, strict=True)}
        uneven = sorted(weights.items()) if len(set(weights.values())) > 1 else []
        rows.append([node, len(routes), len(set(hops)), ", ".join(missing) or "-", ", ".join(stray) or "-",
                     ", ".join(f"{h} x{w}" for h, w in uneven) or ("all " + str(next(iter(weights.values()))) if weights else "-")])
        if len(routes) != 1:
            tables = ", ".join(f"table {r.table} via {', '.join(r.next_hops) or '-'}" for r in routes)
            problems.append(f"{node} has {len(routes)} routes to {prefix}, not one: {tables or 'none'}")
        if missing:
            problems.append(f"{node}: route to {prefix} is missing next hops {', '.join(missing)}")
        if stray:
            problems.append(f"{node}: route to {prefix} has next hops that are no gateway VIP: {', '.join(stray)}")
        if dupes:
            problems.append(f"{node}: next hops listed twice (weighted unevenly): {', '.join(dupes)}")
        if uneven:
            heavy = [f"{h} weight {w}" for h, w in uneven if w != min(weights.values())]
            problems.append(f"{node}: route to {prefix} has next hops weighted unevenly: {', '.join(heavy[:4])} "
                            f"(others {min(weights.values())})")
    return rows, problems


def _judge_routes(site, evidence, role: str, prefix: str, side: str, family: int) -> None:
    """Every node of `role` has one route to `prefix` over every gateway VIP of `side`, evenly."""
    vips = _vips(site, family, side)
    rows, problems = _one_route_over_vips(site, site.names(role), prefix, vips, family)
    evidence.record("destination prefix", prefix)
    evidence.record(f"gateway VIPs ({side})", len(vips))
    evidence.table(f"{role} routes to {prefix}", ["node", "routes", "distinct next hops", "missing VIPs", "stray next hops",
                                                  "weights"], rows)
    assert site.names(role), f"the site has no host with role {role}"
    assert not problems, "; ".join(problems)


@pytest.mark.behaviour("ECMP-1")
@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_ecmp1_one_route_over_every_gateway_vip(site, family, evidence):
    """ECMP-1: each compute has one route to the storage prefix, with all N HSN VIPs as next hops,
    weighted equally."""
    _judge_routes(site, evidence, "compute", _parameter(site, FAMILIES[family]["storage_prefix"]), "hsn_vip", family)


@pytest.mark.behaviour("ECMP-1", "GW-6")
@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_ecmp1_storage_returns_over_every_storage_side_vip(site, family, evidence):
    """ECMP-1 the other way: every storage node has one route back to the HSN, with all N
    storage-side VIPs as next hops, weighted equally (the paper's return path, section IV)."""
    _judge_routes(site, evidence, "storage", _parameter(site, "hsn_prefix" if family == 4 else "hsn_prefix6"), "storage_vip",
                  family)


@pytest.mark.behaviour("ECMP-2")
def test_ecmp2_l3_l4_hash_policy(site, evidence):
    """ECMP-2: computes and storage hash on L3+L4 (fib_multipath_hash_policy=1, IPv4 and IPv6)."""
    rows, wrong = [], []
    for node in site.names("compute") + site.names("storage"):
        values = {family: hash_policy(site.host(node), family) for family in (4, 6)}
        rows.append([node, values[4], values[6]])
        wrong += [f"{node}: net.ipv{f}.fib_multipath_hash_policy={v}" for f, v in values.items() if v != 1]
    evidence.table("fib_multipath_hash_policy", ["node", "IPv4", "IPv6"], rows)
    assert not wrong, "not L3+L4 hashing (policy 1): " + "; ".join(wrong)


@pytest.mark.disruptive
@pytest.mark.behaviour("ECMP-3")
@pytest.mark.parametrize(("proto", "family"), list(BALANCE_PORTS), ids=[f"{p}-ipv{f}" for p, f in BALANCE_PORTS])
def test_ecmp3_flows_spread_over_every_gateway(proto, family, gateways, gateway_counters, lab, evidence):
    """ECMP-3: flows from one compute to one storage address spread evenly over all gateways."""
    site = gateways.site
    compute, storage = site.names("compute")[0], site.names("storage")[0]
    src, dst = address_of(lab, compute, family=family), address_of(lab, storage, family=family)
    gateways.wait_placement("vrrp_converge")  # one VIP per gateway: counts per gateway are counts per next hop
    vips = _vips(site, family)
    _warm_neighbours(lab, compute, vips)
    _warm_neighbours(lab, storage, [site.labels[gw][FAMILIES[family]["storage_vip"]] for gw in gateways.names])
    dport = BALANCE_PORTS[(proto, family)]
    alpha, max_over_mean = site.threshold("ecmp_alpha"), site.threshold("ecmp_max_over_mean")
    sports = list(range(dport + 1, dport + 1 + int(site.threshold("ecmp_flows_per_hop")) * len(vips)))
    gateway_counters.reset()
    if proto == "udp":
        run = send_udp_flows(lab, compute, src, dst, dport, sports)
        accepted = None
    else:
        with tcp_accepts(lab, storage, dst, dport) as accepts:
            run = open_tcp_flows(lab, compute, src, dst, dport, sports)
            with contextlib.suppress(WaitTimeout):  # a shortfall is reported, not fatal: the counters decide
                wait_until(lambda: accepts.count >= len(run.flows) - len(run.failed), "flows_counted",
                           expected="every opened connection accepted")
            accepted = accepts.count
    sent = set(run.flows) - {f for f, _ in run.failed}

    def counted() -> dict[Flow, list[str]]:
        seen: dict[Flow, list[str]] = {}
        for gw, flows in gateway_counters.read().items():
            for flow in flows:
                if flow in sent:
                    seen.setdefault(flow, []).append(gw)
        return seen

    try:
        seen = wait_until(counted, "flows_counted", expected=f"all {len(sent)} flows counted on the gateways",
                          accept=lambda s: len(s) == len(sent), interval=0.5).value  # each poll forks nft on every gateway
    except WaitTimeout as exc:
        seen = exc.last
    per_gateway = {gw: sum(1 for gws in seen.values() if gw in gws) for gw in gateways.names}
    balance = uniform_balance(list(per_gateway.values()))
    holders = gateways.holders()
    top = max(per_gateway.values())
    evidence.record("flows sent", len(run.flows))
    evidence.record("flows the sender could not open", len(run.failed))
    if accepted is not None:
        evidence.record("TCP connections accepted", accepted)
    evidence.record("flows counted on gateways", len(seen))
    evidence.record("send_s", round(run.seconds, 3))
    evidence.record("chi_square", round(balance.chi_square, 2))
    evidence.measure("p-value of a uniform spread", round(balance.p_value, 4), at_least=alpha, limit_name="ecmp_alpha")
    evidence.measure("busiest gateway / mean", round(balance.max_over_mean, 3), at_most=max_over_mean, limit_name="ecmp_max_over_mean")
    evidence.record("flows per gateway", per_gateway)
    evidence.table(f"{proto.upper()}/IPv{family} flows per gateway", ["gateway", "VIPs held", "flows", ""],
                   [[gw, ", ".join(v for v in vips if gw in holders.get(v, [])), n, bar(n, top)] for gw, n in per_gateway.items()])
    assert not run.failed, f"{len(run.failed)} flows could not be sent, e.g. {run.failed[0][0]}: {run.failed[0][1]}"
    split = [f for f, gws in seen.items() if len(gws) > 1]
    assert not split, f"{len(split)} flows crossed more than one gateway, e.g. {split[0]} on {', '.join(seen[split[0]])}"
    missing = sorted(sent - set(seen))
    unkept = _unkept(gateway_counters) if missing else {}
    if missing:
        evidence.record("packets through each gateway's forward hook, not in any counted flow",
                        unkept or "none: the missing flows crossed no gateway's hook")
    assert not missing, (f"{len(missing)} of {len(sent)} flows never crossed a gateway (e.g. {', '.join(map(str, missing[:3]))}; "
                         f"accepted by the storage host: {accepted if accepted is not None else 'not counted (UDP)'}; "
                         f"counted per gateway: {per_gateway}; packets each gateway forwarded outside any counted flow: "
                         f"{unkept or 'none'})")
    assert balance.p_value >= alpha, (
        f"chi-square rejects a uniform spread over {len(per_gateway)} gateways (chi2={balance.chi_square:.1f}, "
        f"p={balance.p_value:.2g} < {alpha}): flows per gateway {per_gateway}"
    )
    assert balance.max_over_mean <= max_over_mean, (
        f"busiest gateway carries {balance.max_over_mean:.2f} x the mean (limit {max_over_mean}): {per_gateway}"
    )


@pytest.mark.disruptive
@pytest.mark.behaviour("ECMP-4")
@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_ecmp4_long_udp_flow_uses_one_gateway(family, gateways, gateway_counters, lab, evidence):
    """ECMP-4: every packet of one long UDP flow crosses the same gateway (IPv4 and IPv6)."""
    site = gateways.site
    compute, storage = site.names("compute")[0], site.names("storage")[0]
    _parameter(site, FAMILIES[family]["storage_prefix"])
    gateway_counters.reset()
    with udp_probe(lab, compute, storage, client_port=STICKY_UDP_PORT, family=family) as prober:
        wait_until(lambda: prober.sent >= 400, "traffic_resume", expected="400 probes sent")
        result = prober.stop()
    flow = Flow(address_of(lab, compute, family=family), address_of(lab, storage, family=family), "udp",
                STICKY_UDP_PORT, PROBE_PORT)
    on = wait_until(lambda: where(gateway_counters.read(), flow), "flows_counted",
                    expected=f"all {result.sent} packets of {flow} counted",
                    accept=lambda w: sum(w.values()) >= result.sent, interval=0.5).value
    evidence.record("flow", str(flow))
    evidence.record("packets sent", result.sent)
    evidence.record("packets per gateway", on)
    assert len(on) == 1, f"{flow} was spread over {len(on)} gateways: {on}"
    assert sum(on.values()) == result.sent, f"{result.sent} packets sent, {sum(on.values())} counted: {on}"


@pytest.mark.disruptive
@pytest.mark.behaviour("ECMP-4")
def test_ecmp4_iperf3_stream_uses_one_gateway(gateways, gateway_counters, evidence):
    """ECMP-4: an iperf3 TCP stream crosses exactly one gateway, every packet of it."""
    site = gateways.site
    compute, storage = site.names("compute")[0], site.names("storage")[0]
    src, dst = address_of(site.backend, compute), address_of(site.backend, storage)
    gateway_counters.reset()
    with FlowCounters({compute: site.host(compute)}, hook="output") as sender_side, \
            iperf3_server(site.backend, storage, dst, IPERF_PORT):
        summary = iperf3_client(site.backend, compute, dst, src, IPERF_CPORT, IPERF_PORT, seconds=2, bitrate="1G")
        sent = sender_side.read()[compute]
    data = Flow(src, dst, "tcp", IPERF_CPORT, IPERF_PORT)
    streams = {f: n for f, n in sent.items() if f.dst == dst and f.dport == IPERF_PORT}
    counts = gateway_counters.read()
    rows, problems = [], []
    for flow, packets in sorted(streams.items()):
        on = where(counts, flow)
        rows.append([str(flow), packets, ", ".join(f"{gw}: {n}" for gw, n in on.items()) or "none"])
        if len(on) != 1:
            problems.append(f"{flow} crossed {len(on)} gateways: {on}")
        elif sum(on.values()) != packets:
            problems.append(f"{flow}: {packets} packets sent, {sum(on.values())} counted on {next(iter(on))}")
    evidence.record("iperf3 bytes", summary["sum_sent"]["bytes"])
    evidence.record("iperf3 Gbit/s", round(summary["sum_sent"]["bits_per_second"] / 1e9, 2))
    evidence.record("iperf3 retransmits", summary["sum_sent"].get("retransmits"))
    evidence.table("iperf3 flows (data and control)", ["flow", "packets sent", "counted on"], rows)
    assert data in streams, f"the iperf3 data stream {data} was not seen leaving {compute}"
    assert not problems, "; ".join(problems)


def _flow_through_one_gateway(gateways, lab, compute: str, storage: str) -> tuple[Flow, str, str, str]:
    """A TCP flow whose forward and return paths both cross one gateway (else the forward one)."""
    src, dst = address_of(lab, compute), address_of(lab, storage)
    owners = gateways.address_owners()
    first = None
    for start in range(FAILOVER_SPORTS.start, FAILOVER_SPORTS.stop, 200):
        sports = range(start, min(start + 200, FAILOVER_SPORTS.stop))
        forward = [Flow(src, dst, "tcp", sport, FAILOVER_DPORT) for sport in sports]
        back = [Flow(dst, src, "tcp", FAILOVER_DPORT, sport) for sport in sports]
        fwd_hops = predicted_next_hops(gateways.site.host(compute), forward)
        ret_hops = predicted_next_hops(gateways.site.host(storage), back)
        for flow, fwd, ret in zip(forward, fwd_hops, ret_hops, strict=True):
            first = first or (flow, owners.get(fwd, "?"), fwd, ret)
            if fwd in owners and owners.get(ret) == owners[fwd]:
                return flow, owners[fwd], fwd, ret
    assert first is not None
    return first


@pytest.mark.disruptive
@pytest.mark.behaviour("ECMP-5")
def test_ecmp5_tcp_flow_survives_failure_of_its_gateway(gw_lab, gateway_counters, lab, faults, evidence):
    """ECMP-5: freeze the gateway a long TCP flow crosses (both ways); the flow goes on via the VIPs' new holder."""
    gateways = gw_lab
    site = gateways.site
    compute, storage = site.names("compute")[0], site.names("storage")[0]
    gateways.wait_placement("vrrp_converge")
    flow, gw, fwd_hop, ret_hop = _flow_through_one_gateway(gateways, lab, compute, storage)
    budget = gateways.takeover_budget()
    vips = gateways.home_vips(gw)
    evidence.record("flow", str(flow))
    evidence.record("failed gateway", gw)
    evidence.record("forward next hop", fwd_hop)
    evidence.record("return next hop", ret_hop)
    gateway_counters.reset()
    with tcp_stream(lab, compute, storage, flow.src, flow.dst, flow.sport, flow.dport) as stream:
        begun = time.monotonic()
        wait_until(lambda: stream.received_since(begun) >= 50, "traffic_resume", expected=f"{flow} streaming")
        carriers = where(gateway_counters.read(), flow)
        evidence.record("gateway counted before failure", carriers)
        assert set(carriers) == {gw}, f"{flow} was predicted through {gw} but counted on {carriers or 'no gateway'}"
        fault = faults.freeze(gw)
        gateways.down.add(gw)
        takeover = gateways.wait_placement("vrrp_takeover", vips=vips, seconds=budget)

        def crossing_others() -> dict[str, int]:
            """The live gateways counting the flow once it flows again. At a site the freeze
            takes effect a moment after it is sent: records that came through the frozen
            gateway before then are no resumption (CI run 90 took them for one)."""
            if stream.received_since(fault.at + 0.05) < 20:
                return {}
            return {g: n for g, n in where(gateway_counters.read(), flow).items() if g != gw}

        try:
            after = wait_until(crossing_others, "traffic_resume", seconds=budget * 2, interval=0.2,
                               expected=f"{flow} flowing again through a live gateway after {gw} froze").value
        except WaitTimeout:
            if stream.received_since(time.monotonic() - 1.0) > 0:  # flowing, but no live gateway counts it
                still = where(gateway_counters.read(), flow)
                raise AssertionError(f"{flow} flows after {gw} froze, but no live gateway counts it "
                                     f"(counted on {still or 'no gateway'}: is {gw} frozen?)") from None
            holder = gateways.address_owners().get(ret_hop)
            if holder is None:
                raise AssertionError(
                    f"{flow} did not resume after {gw} froze: return traffic black-holed, {storage} returns "
                    f"via {ret_hop}, which no live gateway holds"
                ) from None
            raise AssertionError(f"{flow} did not resume after {gw} froze, though {holder} now holds its return next hop {ret_hop}") from None
        resumed = time.monotonic()
        result = stream.stop()
    new_holder = gateways.address_owners().get(fwd_hop, "none")
    evidence.record("new holder (observed)", new_holder)
    evidence.record("gateways counting the flow after the failure", after)
    evidence.measure("takeover observed after (s)", round(takeover.elapsed, 3), at_most=budget, limit_name="vrrp_takeover")
    evidence.record("flow_resumed_after_s", round(resumed - fault.at, 3))
    evidence.measure("traffic gap (ms)", round(result.max_gap_ms, 1), at_most=budget * 1000, limit_name="vrrp_takeover")
    evidence.record("records sent / echoed back", f"{result.records_sent} / {result.records_received}")
    evidence.record("TCP retransmission timeout capped at 1 s", result.rto_capped)
    assert result.error is None, f"{flow} broke: {result.error}"
    assert result.max_gap_ms <= budget * 1000, f"{flow}: gap {result.max_gap_ms:.0f} ms exceeds the takeover budget {budget:.1f} s"
    # Observed, not predicted: the flow's packets were counted on the gateway now holding its VIP.
    assert new_holder in after, f"{flow} resumed, but not through {fwd_hop}'s new holder {new_holder}: counted on {after or 'no gateway'}"
