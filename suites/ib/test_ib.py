"""IB-1 to IB-8: InfiniBand partition isolation for grid containers (seed 004).

Grid containers hold public addresses on an isolated partition whose only full member is the
IB-ETH gateway; the hosts never hold one, not even while a container starts; their traffic
leaves through the gateway, which routes out only the partition's subnet; two containers
per node work at once; and the fabric's own tables (sysfs pkeys, the SM's partitions.conf)
say what the inventory expects.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import subprocess
import threading
import time

import pytest

from siteproof.areas.ib import antispoof, pkeys
from siteproof.backends.base import SOCKETS, require_program
from siteproof.errors import DaemonError
from siteproof.prefixes import prefixes_just_outside
from siteproof.probes import remote, ruleset, whoami
from siteproof.probes.arp import PACKET_OUTGOING, listener
from siteproof.probes.frames import frame_tap, send_ip_packets
from siteproof.probes.iperf import iperf3_client, iperf3_server

pytestmark = [pytest.mark.topology("alice-epn"), pytest.mark.ib]


# --- IB-1, IB-2: layer 2 --------------------------------------------------------------------
def _partitions(ib):
    return {m.name: (partition, full) for m, partition, full in ib.members()}


@pytest.mark.behaviour("IB-1")
def test_ib1_partitions_do_not_meet_at_layer2(ib, l2_reach, evidence):
    where = _partitions(ib)
    crossed = [f"{a} ({where[a][0]}) -> {b} ({where[b][0]}): {', '.join(how)}"
               for a in where for b in where if a != b and where[a][0] != where[b][0]
               and (how := l2_reach.reached(a, b))]
    pairs = sum(1 for a in where for b in where if a != b and where[a][0] != where[b][0])
    if l2_reach.absent:
        evidence.record("members that could not take part", l2_reach.absent)
    evidence.measure("pairs across partitions probed (raw frames and ARP, both ways)", pairs)
    evidence.record("pairs across partitions that reached each other", len(crossed))
    assert pairs, "IB-1: no members of different partitions to probe"
    assert not crossed, f"IB-1: layer 2 crosses partitions ({len(crossed)} of {pairs} pairs): {'; '.join(crossed[:6])}"


@pytest.mark.behaviour("IB-2")
def test_ib2_limited_members_reach_full_members_only(ib, l2_reach, evidence):
    where = _partitions(ib)
    grid = [n for n, (p, _) in where.items() if p == "grid"]
    limited = [n for n in grid if not where[n][1]]
    full = [n for n in grid if where[n][1]]
    rows = [[a, b, ", ".join(l2_reach.reached(a, b)) or "no"] for a in limited for b in full]
    evidence.table("limited -> full members of the grid partition", ["from", "to", "reached"], rows)
    together = [f"{a} -> {b}: {', '.join(how)}" for a in limited for b in limited if a != b and (how := l2_reach.reached(a, b))]
    evidence.record("limited pairs that reached each other", len(together))
    assert not together, f"IB-2: limited members reach each other ({len(together)} pairs): {'; '.join(together[:6])}"
    if l2_reach.absent:
        evidence.record("members that could not take part", l2_reach.absent)
    cut = [f"{a} -> {b}" for a in limited for b in full if "raw frames" not in l2_reach.reached(a, b)]
    cut += [f"{b} -> {a}" for a in limited for b in full if "raw frames" not in l2_reach.reached(b, a)]
    assert not cut, f"IB-2: limited and full members do not reach each other: {'; '.join(cut[:6])}"


# --- IB-3, IB-4: public addresses only in containers, never on a host, not even briefly -------
@pytest.mark.behaviour("IB-3")
def test_ib3_public_addresses_only_in_containers(ib, evidence):
    on_hosts = [f"{h} {a['ifname']} {a['address']}" for h in ib.hosts for a in ib.addresses(h) if ib.is_public(a["address"])]
    evidence.record("hosts checked", len(ib.hosts))
    assert not on_hosts, f"IB-3: public addresses on host namespaces: {'; '.join(on_hosts)}"
    missing = []
    for c in ib.containers:
        held = [a["address"] for a in ib.addresses(c) if a["ifname"] == "ib0"]
        if not any(ipaddress.ip_interface(a).ip == ipaddress.ip_address(ib.address(c)) for a in held):
            missing.append(f"{c} (ib0 holds {held or 'nothing'})")
    evidence.record("containers holding their public address on their own vHCA", len(ib.containers) - len(missing))
    assert not missing, f"IB-3: containers without their public address on their vHCA: {'; '.join(missing)}"


@pytest.mark.behaviour("IB-4")
def test_ib4_no_host_ever_held_a_public_address(ib, evidence):
    rows, seen, late = [], [], []
    for host in ib.hosts:
        events = ib.events(host)
        if events is None:
            pytest.skip(f"{host}: no address monitor runs there (dirs: addrwatch in the inventory), so 'never, "
                        "even briefly' cannot be shown; IB-3 checks the present")
        assert not any(e["event"] == "overrun" for e in events), f"IB-4: {host}'s monitor lost events (buffer overrun)"
        started = events[0]["at"] if events else None
        firsts = [s["steps"][0]["at"] for c in ib.containers_of(host) if (s := ib.container_steps(c)) and s["steps"]]
        if started is None or (firsts and started > min(firsts)):
            late.append(f"{host} (monitor from {started}, first container step at {min(firsts) if firsts else '?'})")
        public = [e for e in events if e["event"] in ("present", "add") and ib.is_public(e["address"])]
        for e in public:
            gone = next((x["at"] for x in events if x["at"] >= e["at"] and x.get("index") == e["index"]
                         and x["event"] in ("del", "link-del")), None)
            held = f"for {gone - e['at']:.3f} s" if gone else "still"
            seen.append(f"{host} held {e['address']} on {e['ifname']} {held} (from {e['at']:.3f})")
        rows.append([host, len(events), len(public), f"{(min(firsts) - started):.3f} s" if firsts and started else "?"])
    evidence.table("address monitor per host", ["host", "events", "public addresses seen", "monitor ahead of first container"],
                   rows)
    assert not late, f"IB-4: the monitor started after a container on: {'; '.join(late)}"
    assert not seen, f"IB-4: a host saw a public address: {'; '.join(seen)}"


# --- IB-5: out through the IB-ETH gateway, never the GPN ---------------------------------------
def _counter(sock: socket.socket, dst: bytes) -> int:
    n = 0
    while True:
        try:
            data, address = sock.recvfrom(65535)
        except BlockingIOError:
            return n
        if address[2] != PACKET_OUTGOING and data[12:14] == b"\x08\x00" and data[30:34] == dst:
            n += 1


@pytest.mark.behaviour("IB-5")
def test_ib5_container_traffic_leaves_through_the_ib_gateway(ib, evidence):
    assert ib.server, f"site {ib.site.name}: IB-5 needs an outside-server in the inventory"
    server = ib.address(ib.server)
    port = int(ib.label(ib.server, "tcp") or 7)
    watch = ib.site.can(SOCKETS) and ib.gpn_routers
    taps = {}
    if watch:
        taps = {f"{r} gpn0": ib.site.backend.call_in(r, listener("gpn0")) for r in ib.gpn_routers}
        taps[f"{ib.gateway} ib0"] = ib.site.backend.call_in(ib.gateway, listener("ib0"))
    try:
        job = {"ask": [[server, port, "tcp"]], "timeout": ib.site.budget("ib_connect")}
        seen = {c: remote.run_on(ib.site.backend.run, c, whoami, job, 1, job["timeout"] * 3 + 30)[0] for c in ib.containers}
        time.sleep(ib.site.budget("ib_l2_quiet"))  # proving an absence on the GPN takes a wait, a named budget
        dst = socket.inet_aton(server)
        counts = {where: _counter(sock, dst) for where, sock in taps.items()}
    finally:
        for sock in taps.values():
            sock.close()
    evidence.table("what the outside server saw of each container", ["container", "seen as"], [[c, s] for c, s in seen.items()])
    if counts:
        evidence.table("packets to the outside server, per capture point", ["where", "packets"], [[w, n] for w, n in counts.items()])
    else:
        evidence.note("no capture points (the backend cannot open sockets in hosts): judged by what the server saw")
    wrong = [f"{c} seen as {s}" for c, s in seen.items() if s.rpartition(":")[0] != ib.address(c)]
    gpn = {w: n for w, n in counts.items() if "gpn0" in w and n}
    assert not gpn, (f"IB-5: container traffic went through the general-purpose network ({gpn} packets to {server}); "
                     f"{'; '.join(wrong) or 'the server saw the containers as themselves'}")
    assert not wrong, f"IB-5: the outside server did not see containers as their public addresses: {'; '.join(wrong)}"
    if counts:
        assert counts[f"{ib.gateway} ib0"] >= len(ib.containers), \
            f"IB-5: the gateway's ib0 carried {counts[f'{ib.gateway} ib0']} packets to {server}, fewer than one per container"


# --- IB-6: spoofed sources are not routed out ---------------------------------------------
MARK_PORT = 31337


@pytest.mark.behaviour("IB-6")
def test_ib6_spoofed_sources_are_not_routed_out(ib, victims, evidence, tmp_path):
    # Crafted here, sent by the container itself, tapped at the outside server.
    backend = ib.site.backend
    from scapy.layers.inet import IP, UDP

    container = victims.pick(ib.containers, "spoofing container")
    server = ib.address(ib.server)
    own = ib.address(container)
    host = ib.label(container, "host")
    # The host's own addresses, one far outside, and the addresses just outside the partition's
    # prefix on either side: a filter written one bit wider, or off by one prefix, lets those out.
    edges = [ib.public.network_address - 1, ib.public.broadcast_address + 1, ib.public.broadcast_address + 2]
    edges += [ipaddress.ip_network(p).network_address + 1 for p in prefixes_just_outside(str(ib.public))]
    spoofed = [ib.label(host, "ib_address"), ib.label(host, "address"), *map(str, edges)]
    spoofed = list(dict.fromkeys(s for s in spoofed if s and s != own and ipaddress.ip_address(s) not in ib.public))
    packets = {src: bytes(IP(src=src, dst=server) / UDP(sport=MARK_PORT, dport=9) / b"spoofed") for src in spoofed}
    control = bytes(IP(src=own, dst=server) / UDP(sport=MARK_PORT, dport=9) / b"control")
    with frame_tap(backend, ib.server, "eth0", f"udp src port {MARK_PORT}", tmp_path) as tap:
        send_ip_packets(backend, container, [*packets.values(), control])
        arrived = [socket.inet_ntoa(data[26:30]) for data in tap.quiet_frames(ib.site.budget("ib_l2_quiet"))
                   if data[12:14] == b"\x08\x00" and int.from_bytes(data[34:36], "big") == MARK_PORT]
    evidence.record("spoofed sources sent", spoofed)
    evidence.record("sources that reached the outside server", arrived or "none")
    routed = sorted(set(arrived) & set(spoofed))
    assert not routed, f"IB-6: the gateway routed out spoofed sources from {container}: {routed} " \
                       f"(the partition is {ib.public})"
    assert own in arrived, f"IB-6: the control packet from {container}'s own address {own} did not arrive either: " \
                           "the probe proves nothing"


@pytest.mark.behaviour("IB-6")
def test_ib6_every_gateways_ruleset_routes_out_only_the_partition(ib, evidence):
    """IB-6 read from the ruleset of every IB-ETH gateway: of every source the rules can tell
    apart (the hosts' and containers' own addresses, the partition's edges and the addresses just
    outside it, each address and prefix the rules name with its neighbours), a new TCP, UDP or
    ICMP packet from the partition to the outside server is forwarded only if the source is in
    the partition. The spoofing probe sends a handful of these; this asks them all."""
    backend, server = ib.site.backend, ib.address(ib.server)
    known = {ib.address(c): f"container {c}" for c in ib.containers}
    for host in ib.hosts:
        known.update({a: f"host {host}" for a in (ib.label(host, "ib_address"), ib.label(host, "address")) if a})
    rows, spoofed, own_blocked, undecided = [], [], [], []
    for gateway in ib.site.names("ib-gateway"):
        rules = ruleset.read_ruleset(backend, gateway)
        in_if = ruleset.arrival_interface(backend, gateway, ib.address(ib.containers[0]))
        out_if = ruleset.arrival_interface(backend, gateway, server)
        assert in_if and out_if, f"IB-6: {gateway} has no route to the containers ({in_if}) or the server ({out_if})"
        sources = antispoof.sources_to_ask(rules, ib.public, known)
        found = antispoof.routed_out(rules, sources, server, in_if, out_if)
        for source, why in sources.items():
            result = found.get(source, "dropped")
            inside = ipaddress.ip_address(source) in ib.public
            rows.append([gateway, source, why, "yes" if inside else "no", result])
            if result.startswith("undecided"):
                undecided.append(f"{gateway}: {source}: {result}")
            elif result != "dropped" and not inside:
                spoofed.append(f"{source} ({why}) by {gateway}: {result}")
            elif result == "dropped" and inside and why.startswith("container"):
                own_blocked.append(f"{source} ({why}) by {gateway}")
    evidence.table(f"sources from the partition to {server}, judged by each gateway's ruleset",
                   ["gateway", "source", "why asked", f"in {ib.public}", "routed out by"], rows)
    evidence.record("undecided", "; ".join(undecided[:5]) or "none")
    assert not spoofed, (f"IB-6: the gateway's ruleset routes out sources outside the partition {ib.public}: "
                         f"{len(spoofed)} of them; " + "; ".join(spoofed[:4]))
    assert not own_blocked, ("IB-6: the gateway's ruleset does not route out the containers' own addresses either "
                             "(the check proves nothing): " + "; ".join(own_blocked[:4]))


# --- IB-7: two containers per node, each on its own vHCA, at once --------------------------
def _tx_bytes(ib, node: str) -> int:
    return int(ib.site.backend.run(node, "cat", "/sys/class/net/ib0/statistics/tx_bytes", check=False).stdout.strip() or 0)


@pytest.mark.disruptive
@pytest.mark.behaviour("IB-7")
def test_ib7_two_containers_per_node_work_at_once(ib, evidence):
    backend = ib.site.backend
    problems = []
    for host in ib.hosts:
        mine = ib.containers_of(host)
        if len(mine) != 2:
            problems.append(f"{host}: {len(mine)} containers, expected 2 (one per NUMA domain)")
        macs = {}
        for c in mine:
            proc = backend.run(c, "cat", "/sys/class/net/ib0/address", check=False)
            if proc.returncode != 0:
                steps = ib.container_steps(c) or {}
                problems.append(f"{c} has no vHCA of its own (ib0 absent; its start: {steps.get('error', 'see its log')})")
            else:
                macs[c] = proc.stdout.strip()
        if len(set(macs.values())) < len(macs):
            problems.append(f"{host}: its containers share a vHCA ({macs})")
    assert not problems, f"IB-7: {'; '.join(problems)}"
    server, seconds = ib.address(ib.server), ib.site.threshold("ib_flow_seconds")
    results: dict[str, object] = {}
    for c in ib.containers:  # each client's iperf3 before any flow (a thread's skip would be lost)
        require_program(backend, c, "iperf3", "iperf3")
    before = {c: _tx_bytes(ib, c) for c in ib.containers}
    with contextlib.ExitStack() as stack:
        for k in range(len(ib.containers)):
            stack.enter_context(iperf3_server(backend, ib.server, server, 5201 + k))

        def flow(k: int, c: str) -> None:
            try:
                results[c] = iperf3_client(backend, c, server, ib.address(c), 40000 + k, 5201 + k, seconds, "0")
            except (DaemonError, OSError, ValueError, subprocess.SubprocessError) as exc:
                results[c] = f"{exc.__class__.__name__}: {exc}"

        threads = [threading.Thread(target=flow, args=(k, c)) for k, c in enumerate(ib.containers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    floor = ib.site.threshold("ib_flow_min_mbps")
    rows, slow = [], []
    for c in ib.containers:
        end = results.get(c)
        sent = _tx_bytes(ib, c) - before[c]
        if not isinstance(end, dict):
            slow.append(f"{c}: {end}")
            continue
        mbps = end["sum_received"]["bits_per_second"] / 1e6
        rows.append([c, ib.label(c, "host"), f"{mbps:.0f}", sent])
        # What the server received must have left through the container's own vHCA.
        if mbps < floor or sent < end["sum_received"]["bytes"]:
            slow.append(f"{c}: {mbps:.0f} Mbit/s, {sent} bytes on its own ib0 for {end['sum_received']['bytes']} received")
    evidence.table(f"concurrent flows, {seconds:g} s each, all containers at once",
                   ["container", "host", "Mbit/s", "bytes on its own ib0"], rows)
    assert not slow, f"IB-7: concurrent flows failed or fell below {floor:g} Mbit/s: {'; '.join(slow)}"


# --- IB-8: the fabric's tables match the inventory ---------------------------------------
@pytest.mark.behaviour("IB-8")
def test_ib8_pkey_tables_and_sm_partitions_match_the_inventory(ib, evidence):
    nodes = [n for n in ib.site.labels if ib.label(n, "ib_pkeys")]
    assert nodes, f"site {ib.site.name}: no host has ib_pkeys (its expected pkey tables) in the inventory"
    problems, members, rows = [], {}, []
    for node in nodes:
        expected = pkeys.parse_expected(ib.label(node, "ib_pkeys"))
        ports = ib.ports(node)
        problems += pkeys.table_problems(node, ports, expected)
        for who, want in expected.items():
            port = pkeys.port_for(ports, who)
            if port is not None:
                members[f"{node} {who}"] = (port.guid, want)
                rows.append([node, who, port.device, port.guid, " ".join(pkeys.text(p) for p in port.table()),
                             " ".join(pkeys.text(p) for p in want)])
    evidence.table("pkey tables (sysfs) against the inventory", ["node", "port", "device", "GUID", "table", "expected"], rows)
    assert ib.sms, f"site {ib.site.name}: no subnet-manager host in the inventory"
    where, conf = ib.partitions_conf()
    partitions = pkeys.parse_partitions(conf)
    evidence.record(f"partitions in {where}", [f"{p.name}={pkeys.text(p.pkey)} ({len(p.members)} members)" for p in partitions])
    problems += pkeys.sm_problems(partitions, members)
    assert not problems, f"IB-8: the fabric disagrees with the inventory: {'; '.join(problems[:8])}"
