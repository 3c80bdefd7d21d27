"""Benchmarks (not timed tests): lab bring-up and VRRP convergence, written as JSON.

- bringup_50_hosts: 50 hosts on one bridge, one IPv4 address each, one ping across
  (the shape Mininet takes 0.73 s for on this machine; target under 0.5 s);
- gateways_24: the full storage-gateway lab: network, keepalived ready, every VIP home;
- ecmp_suite, login_suite: how long each suite takes at full scale, per test too;
- logins_40: the 40-node login lab up, every VIP home, every health agent's tables agreed;
- dns_lab, dns_suite: the DNS lab up until the resolver validates; the DNS suite;
- can_lab, can_suite: the CAN lab (with the HSN edge) up until each convergence stage (adjacent,
  routed, the edges' translated routes); the CAN suites (CAN, MGMT, HSN).
- every lab's bring-up benchmark also times its whole teardown (down_s, median_down_s).
- nat_lab, keymaster_27k, nat_suite: the NAT lab up until the tracker has routed every compute, then a
  gateway's death to its computes remapped; the keymaster at 27,000 computes; the NAT suite.
- epn_lab, ib_suite, ce_lab, ce_suite, dtn_lab, dtn_suite: the grid-site labs up until their
  containers and services answer, and their suites end to end.

`python -m benchmarks.run [NAME ...]` runs some of them; results merge into the JSON.
`python -m benchmarks.run --smoke [--out FILE]` runs a fast subset (one run each): `make test` does,
so a benchmark that no longer runs fails the tests.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import dns.flags

from benchmarks import floor
from siteproof.areas.can.site import CanSite
from siteproof.areas.login.balancer import LoginBalancer
from siteproof.areas.nat import keymaster
from siteproof.areas.nat.site import NatSite
from siteproof.backends.netns import lab_site
from siteproof.backends.netns.lab import Lab
from siteproof.fixtures.can import ROUTING_STAGES, check_interval, routing_stage
from siteproof.probes.dnsask import From
from siteproof.routechanges import route_changes
from siteproof.topology import load_topology
from siteproof.vrrp import VrrpCluster
from siteproof.wait import wait_until

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "reports" / "benchmarks.json"
BASELINE = Path(__file__).resolve().parent / "baseline.json"  # this machine's numbers, committed


def fifty_hosts_topology(folder: Path, hosts: int = 50) -> Path:
    nodes = "\n".join(
        f"    h{i:03d}: {{kind: linux, interfaces: {{eth1: {{addresses: [\"10.50.{i // 250}.{i % 250 + 1}/22\"]}}}}}}" for i in range(hosts)
    )
    links = "\n".join(f'    - endpoints: ["h{i:03d}:eth1", "sw:p{i:03d}"]' for i in range(hosts))
    (folder / "topology.yml").write_text(
        f"name: bench50\ntopology:\n  nodes:\n    sw: {{kind: bridge}}\n{nodes}\n  links:\n{links}\n"
    )
    return folder


def bench_bringup(runs: int = 5) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        topo = load_topology(fifty_hosts_topology(Path(tmp)))
        times, downs = [], []
        for _ in range(runs):
            start = time.perf_counter()
            lab = Lab(topo, owner_kind="bench")
            lab.up()
            lab.run("h000", "ping", "-c1", "-W2", "10.50.0.50")
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            lab.down()
            downs.append(time.perf_counter() - start)
    return {
        "what": "50 hosts, one bridge, one IPv4 address each, one ping across",
        "runs": runs,
        "up_and_ping_s": {"median": statistics.median(times), "min": min(times), "max": max(times)},
        "down_s": {"median": statistics.median(downs)},
        "target_s": 0.5,
        "mininet_same_shape_s": 0.73,
    }


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def _mem_available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


PHASES = ("namespaces", "links", "configure", "network", "down")


def bench_hosts_scaling(runs: int = 5, sizes: tuple[int, ...] = (10, 50, 100, 400)) -> dict[str, object]:
    """The one-bridge shape at N hosts: medians of bring-up phases and teardown, each beside the
    kernel floor's (benchmarks.floor: the same namespaces, ports and addresses with nothing but
    the kernel calls, run alternating with the lab in the same batch, so that a regression shows
    as a ratio whatever the machine's load), and the memory the running lab takes."""
    result: dict[str, object] = {"what": "N hosts on one bridge, one IPv4 address each; floor_* the kernel floor's, "
                                 "ratio_* lab / floor", "runs": runs, "load_1min": os.getloadavg()[0]}
    for hosts in sizes:
        phases: dict[str, list[float]] = {}
        floors: dict[str, list[float]] = {}
        memory = []
        with tempfile.TemporaryDirectory() as tmp:
            topo = load_topology(fifty_hosts_topology(Path(tmp), hosts))
            for _ in range(runs):
                for phase, seconds in floor.one_bridge(hosts).items():
                    floors.setdefault(phase, []).append(seconds)
                free = _mem_available_kib()
                lab = Lab(topo, owner_kind="bench")
                lab.up()
                memory.append(free - _mem_available_kib())
                lab.down()
                assert not lab.left, f"teardown left {lab.left}"
                for phase in PHASES:
                    phases.setdefault(phase, []).append(lab.timings[phase])
        row = {f"{p}_s": _median(v) for p, v in phases.items()}
        row |= {f"floor_{p}_s": _median(v) for p, v in floors.items()}
        row |= {f"ratio_{p}": round(_median(phases[p]) / _median(floors[p]), 2) for p in PHASES if _median(floors[p]) > 0}
        result[f"n{hosts}"] = row | {"memory_mib": round(statistics.median(memory) / 1024, 1)}
    return result


def _bringup(topology: str, what: str, milestones: Callable[[Lab, Callable[[], float]], dict[str, float]],
             final: str, runs: int = 3) -> dict[str, object]:
    """Bring a built-in lab up `runs` times: network, daemons ready, then the topology's own
    milestones (each a time since the start, measured by the callback with the clock given)."""
    topo = load_topology(REPO / "topologies" / topology, profile="lab")  # as the suites run it
    rows = []
    for _ in range(runs):
        start = time.perf_counter()

        def since_start(start: float = start) -> float:
            return time.perf_counter() - start

        lab = Lab(topo, owner_kind="bench")
        with lab:
            row = {"network_s": lab.timings["network"], "daemons_ready_s": since_start()}
            row.update(milestones(lab, since_start))
            rows.append(row)
        # The whole lab's teardown (every daemon stopped and reaped, the namespaces gone).
        row["down_s"] = lab.timings["down"]
    return {"what": what, "profile": topo.profile, "parameters": topo.parameters, "runs": rows,
            f"median_{final}": statistics.median(r[final] for r in rows),
            "median_down_s": statistics.median(r["down_s"] for r in rows)}


def bench_gateways(runs: int = 3) -> dict[str, object]:
    def milestones(lab: Lab, clock: Callable[[], float]) -> dict[str, float]:
        VrrpCluster.read(lab_site(lab)).wait_placement("vrrp_converge")
        return {"all_vips_home_s": clock()}

    return _bringup("perlmutter-gateways", "perlmutter-gateways at defaults (24 gateways, 48 VRRP groups, 4 computes, 1 storage)",
                    milestones, "all_vips_home_s", runs)


def _suite(path: str) -> dict[str, object]:
    """One suite end to end (lab bring-up included), with each test's duration."""
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", path, "-q", "-p", "no:randomly", f"--junitxml={junit}"],
            cwd=REPO, capture_output=True, text=True, check=False,
        )
        wall = time.perf_counter() - start
        cases = {c.get("name"): float(c.get("time", 0)) for c in ET.parse(junit).getroot().iter("testcase")}  # noqa: S314 - our own report
    return {
        "what": f"pytest {path} at defaults, lab bring-up and teardown included",
        "passed": proc.returncode == 0,
        "wall_s": wall,
        "tests_s": cases,
    }


def bench_ecmp_suite() -> dict[str, object]:
    return _suite("suites/ecmp/test_ecmp.py")


def bench_dns_suite() -> dict[str, object]:
    return _suite("suites/dns/test_dns.py")


def bench_dns_lab(runs: int = 3) -> dict[str, object]:
    """The DNS lab: keys generated, 4 named + Knot + Unbound + etcd + reconciler ready, and
    the resolver answering a name of the system's zone with AD."""
    def milestones(lab: Lab, clock: Callable[[], float]) -> dict[str, float]:
        site = lab_site(lab)
        inside, resolver = From(site, "inside"), site.labels["resolver"]["address"]
        name = f"nid001.{site.parameters['domain']}"
        wait_until(lambda: inside.query(resolver, name, "A", dnssec=True, recurse=True).flags & dns.flags.AD,
                   "daemon_ready", expected="AD from the resolver", accept=bool, interval=0.05)
        return {"validated_s": clock()}

    return _bringup("perlmutter-dns", "perlmutter-dns at defaults (root, primary, upstream, rogue BIND; Knot; Unbound; etcd; reconciler)",
                    milestones, "validated_s", runs)


def bench_login_suite() -> dict[str, object]:
    return _suite("suites/login/test_login.py")


def bench_logins(runs: int = 3) -> dict[str, object]:
    """The 40-node login lab: network, daemons ready, every VIP home, every agent's tables agreed."""

    def milestones(lab: Lab, clock: Callable[[], float]) -> dict[str, float]:
        site = lab_site(lab)
        nodes = VrrpCluster.read(site, role="login")
        nodes.wait_placement("vrrp_converge")
        home = clock()
        balancer = LoginBalancer(site, nodes)
        balancer.wait_tables(balancer.all_up, "every agent's tables agreed, every server up")
        return {"all_vips_home_s": home, "tables_agreed_s": clock()}

    return _bringup("perlmutter-login", "perlmutter-login at defaults (40 login nodes x 40 VRRP groups, sshd, health agents, DNS, 2 clients)",
                    milestones, "all_vips_home_s", runs)


def bench_login_daemon_kinds(runs: int = 3) -> dict[str, object]:
    """The 40-node login lab's daemons started one kind at a time on the built network: how
    long spawning them takes and when the last one is ready, per kind (medians)."""
    topo = load_topology(REPO / "topologies" / "perlmutter-login", profile="lab")
    rows: dict[str, list[tuple[float, float]]] = {}
    for _ in range(runs):
        lab = Lab(topo, owner_kind="bench")
        try:
            lab.up(start_daemons=False)
            lab.create_daemons()
            for kind in ("keepalived", "sshd", "loginlb", "named"):
                chosen = [d for (_, k), d in lab.daemons.items() if k == kind]
                start = time.perf_counter()
                lab.start_without_waiting(chosen)
                spawned = time.perf_counter() - start
                wait_until(lambda chosen=chosen: all(d.is_ready() for d in chosen), "daemon_ready",
                           expected=f"every {kind} ready", interval=0.05)
                rows.setdefault(kind, []).append((spawned, time.perf_counter() - start))
        finally:
            lab.down()
    return {"what": "perlmutter-login at defaults, daemons started kind by kind",
            **{kind: {"count": sum(1 for (_, k) in lab.daemons if k == kind),
                      "spawn_s": _median([r[0] for r in rs]), "all_ready_s": _median([r[1] for r in rs])}
               for kind, rs in rows.items()}}


def bench_can_lab(runs: int = 3) -> dict[str, object]:
    """The CAN lab: FRR on 6 routers and the speaker, each convergence stage as it is reached
    (checked at each route change): every OSPF adjacency full and BGP session established
    (adjacent_s), the routes spread over every link (routed_s), the edges' translated routes
    to the CAN (converged_s: FRR's ABR task translates ospf_abr_delay after ospfd starts)."""
    def milestones(lab: Lab, clock: Callable[[], float]) -> dict[str, float]:
        can = CanSite(lab_site(lab))
        reached: dict[str, float] = {}

        def stage() -> str:
            now = routing_stage(can)[0]
            for name, _ in ROUTING_STAGES:
                if name == now:
                    break
                reached.setdefault(f"{name}_s", clock())
            return now

        with route_changes(can.site, can.spines + can.dc_routers + can.edges) as changes:
            wait_until(stage, "ospf_converge", expected="routing whole", accept=lambda now: now == "",
                       interval=check_interval(changes), pause=changes.pause)
        return {"adjacent_s": reached["adjacent_s"], "routed_s": reached["routed_s"], "converged_s": clock()}

    return _bringup("perlmutter-can", "perlmutter-can at defaults, lab profile (2 spines, 2 DC routers, 2 edge routers, MetalLB, 23 nodes)",
                    milestones, "converged_s", runs)


def bench_can_suite() -> dict[str, object]:
    return _suite("suites/can")


def bench_nat_lab(runs: int = 3) -> dict[str, object]:
    """The NAT lab: 64 computes' and 5 gateway hosts' sshd, conntrackd, the pair's keepalived,
    until the tracker has routed every compute; then the time from a gateway's uplink pull to
    its computes remapped and routed (the tracker's detection and apply)."""
    def milestones(lab: Lab, clock: Callable[[], float]) -> dict[str, float]:
        nat = NatSite(lab_site(lab))
        state = wait_until(lambda: nat.state(), "nat_remap", expected="the tracker's state",
                           accept=lambda s: not NatSite.settled(s, time.time()), interval=0.1).value
        settled = clock()
        victim = "gw1"
        theirs = [c for c, g in state["assignment"].items() if g == victim]
        began = time.perf_counter()
        lab.set_link(victim, "pub", up=False)
        wait_until(lambda: nat.state(), "nat_remap", expected=f"{victim}'s computes remapped", interval=0.05,
                   accept=lambda s: all(s["assignment"][c] != victim and s["applied"][c] == s["assignment"][c] for c in theirs))
        return {"settled_s": settled, "remap_after_death_s": time.perf_counter() - began}

    return _bringup("ncsa-nat", "ncsa-nat at defaults, lab profile (64 computes, 4 gateways on 5 hosts, tracker every 0.5 s)",
                    milestones, "settled_s", runs)


def bench_keymaster_27k() -> dict[str, object]:
    """The keymaster's assignment and a remap after one gateway's death, at the source site's
    size (27,000 computes) over 8 and 32 gateways: pure computation, medians of 5."""
    computes = [f"nid{i:05d}" for i in range(1, 27001)]
    found: dict[str, object] = {"what": "keymaster.assign and remap (one gateway dead), 27,000 computes"}
    for n in (8, 32):
        gateways = [f"gw{i}" for i in range(1, n + 1)]
        assign_s, remap_s = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            first = keymaster.assign(computes, gateways)
            assign_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            keymaster.remap(first, gateways[1:])
            remap_s.append(time.perf_counter() - t0)
        found[f"gateways_{n}"] = {"assign_s": statistics.median(assign_s), "remap_s": statistics.median(remap_s)}
    return found


def bench_nat_suite() -> dict[str, object]:
    return _suite("suites/nat")


def bench_epn_lab(runs: int = 3) -> dict[str, object]:
    """The ALICE EPN lab: 4 hosts' address monitors, then 8 containers started by the helper
    (vHCA moved in, addressed, routed), until every container reaches the outside server."""

    def milestones(lab: Lab, clock: Callable[[], float]) -> dict[str, float]:
        containers = [n.name for n in lab.topology.hosts() if n.role == "grid-container"]
        wait_until(lambda: all(lab.run(c, "ping", "-c1", "-W1", "203.0.113.200", check=False).returncode == 0
                               for c in containers), "daemon_ready", expected="every container reaches ext", accept=bool)
        return {"containers_out_s": clock()}

    return _bringup("alice-epn", "alice-epn at defaults (4 EPN hosts, 8 grid containers, gateway, GPN, SM, outside)",
                    milestones, "containers_out_s", runs)


def bench_ce_lab(runs: int = 3) -> dict[str, object]:
    """The ALICE CE lab: XRootD, the MonALISA receiver and the ingress, until XRootD answers
    central services through the ingress."""

    def milestones(lab: Lab, clock: Callable[[], float]) -> dict[str, float]:
        wait_until(lambda: lab.run("cs", "xrdfs", "root://203.0.113.10:1094", "query", "config", "version",
                                   check=False).returncode == 0, "daemon_ready", expected="XRootD answers", accept=bool)
        return {"xrootd_answers_s": clock()}

    return _bringup("alice-ce", "alice-ce at defaults (3 worker nodes, ingress, border, XRootD, MonALISA)",
                    milestones, "xrootd_answers_s", runs)


def bench_dtn_lab(runs: int = 3) -> dict[str, object]:
    """The SCinet DTN lab: the bridge and macvlan containers started, the profile's 121 ports
    listening, until the service answers the peer on its first data port."""

    def milestones(lab: Lab, clock: Callable[[], float]) -> dict[str, float]:
        probe = "import socket; socket.create_connection(('10.60.0.21', 50100), 1)"
        wait_until(lambda: lab.run("peer", "python3", "-c", probe, check=False).returncode == 0, "daemon_ready",
                   expected="the DTN service answers the peer", accept=bool)
        return {"service_answers_s": clock()}

    return _bringup("scinet-dtn", "scinet-dtn at defaults (DTN host, bridge and macvlan containers, peer, other host)",
                    milestones, "service_answers_s", runs)


def bench_ib_suite() -> dict[str, object]:
    return _suite("suites/ib")


def bench_ce_suite() -> dict[str, object]:
    return _suite("suites/ce")


def bench_dtn_suite() -> dict[str, object]:
    return _suite("suites/dtn")


BENCHMARKS = {
    "bringup_50_hosts": bench_bringup,
    "hosts_scaling": bench_hosts_scaling,
    "gateways_24": bench_gateways,
    "ecmp_suite": bench_ecmp_suite,
    "logins_40": bench_logins,
    "login_daemon_kinds": bench_login_daemon_kinds,
    "login_suite": bench_login_suite,
    "dns_lab": bench_dns_lab,
    "dns_suite": bench_dns_suite,
    "can_lab": bench_can_lab,
    "can_suite": bench_can_suite,
    "nat_lab": bench_nat_lab,
    "keymaster_27k": bench_keymaster_27k,
    "nat_suite": bench_nat_suite,
    "epn_lab": bench_epn_lab,
    "ib_suite": bench_ib_suite,
    "ce_lab": bench_ce_lab,
    "ce_suite": bench_ce_suite,
    "dtn_lab": bench_dtn_lab,
    "dtn_suite": bench_dtn_suite,
}


# A fast subset that `make test` runs (tests/test_benchmarks.py), so that a benchmark that no
# longer runs is caught the day it breaks, not at the next `make bench`.
SMOKE: dict[str, Callable[[], dict[str, object]]] = {
    "bringup_50_hosts": lambda: bench_bringup(runs=1),
    "hosts_scaling": lambda: bench_hosts_scaling(runs=1, sizes=(10,)),
    "keymaster_27k": bench_keymaster_27k,
}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    out = OUT
    if "--out" in args:
        at = args.index("--out")
        out, args = Path(args[at + 1]), args[:at] + args[at + 2:]
    table = BENCHMARKS
    if "--smoke" in args:
        args.remove("--smoke")
        table = SMOKE
    chosen = args or list(table)
    unknown = [name for name in chosen if name not in table]
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)} (known: {', '.join(table)})")
    result = json.loads(out.read_text()) if out.is_file() else {}
    result.update({"kernel": platform.release(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        result[name] = table[name]()
        out.write_text(json.dumps(result, indent=2))  # after each: a failure later keeps what was measured
    print(json.dumps(result, indent=2))
    if BASELINE.is_file():
        print(f"\ncompared with {BASELINE.relative_to(REPO)} (ratio > 1: slower or bigger now)")
        for line in compare(json.loads(BASELINE.read_text()), {k: result[k] for k in chosen}):
            print(line)


def _numbers(doc: object, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of a result, by dotted path (per-run lists and booleans left out)."""
    if isinstance(doc, dict):
        return {k: v for key, value in doc.items() for k, v in _numbers(value, f"{prefix}{key}.").items()}
    if isinstance(doc, (int, float)) and not isinstance(doc, bool):
        return {prefix.rstrip("."): float(doc)}
    return {}


def compare(baseline: dict, current: dict) -> list[str]:
    """'name: now / baseline = ratio' for every number both results hold (timings and memory)."""
    old, new = _numbers(baseline), _numbers(current)
    lines = []
    for key in sorted(set(old) & set(new)):
        if key.endswith(("_s", "_mib")) and old[key] > 0:
            ratio = new[key] / old[key]
            flag = "  <-- regression" if ratio > 1.25 and new[key] - old[key] > 0.02 else ""
            lines.append(f"{key}: {new[key]:.4g} / {old[key]:.4g} = {ratio:.2f}{flag}")
    return lines


if __name__ == "__main__":
    main()
