"""Login load balancing that never resets a session (SPEC LOGIN-1..7; paper 000, section V).

The login name resolves to N VIPs; keepalived keeps each VIP on a live login node; a
hashing layer on every node sends a connection, keyed by client address and port, to the
same real server whichever node holds the VIP it was sent to. On this kernel the layer is
nftables (netdev ingress jhash into a 256-bucket map, `fwd` to the server, LVS-DR); where
the kernel has IPVS the paper's keepalived virtual_server setup can be built instead.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest

from siteproof import peers
from siteproof.areas.login import tables
from siteproof.probes import sysctls
from siteproof.probes.capture import RstCapture
from siteproof.probes.dnsask import From
from siteproof.probes.ssh import SshSession, find_sources, next_port, sessions_closed, which_server, which_servers
from siteproof.wait import WaitTimeout, wait_until

pytestmark = [pytest.mark.topology("perlmutter-login"), pytest.mark.login]



def echoes_after(site) -> int:
    """Echoes a session must complete after an event to count as carrying on (threshold table)."""
    return int(site.threshold("login_echoes_after"))


def _ipvs_available() -> bool:
    if Path("/proc/net/ip_vs").exists():
        return True
    release = os.uname().release
    for name in ("modules.builtin", "modules.dep"):
        path = Path("/lib/modules") / release / name
        if path.exists() and "ip_vs.ko" in path.read_text(errors="replace"):
            return True
    return False


@pytest.fixture(scope="module", autouse=True)
def _hashing_supported(request):
    """The IPVS reference path needs IPVS in the kernel: skipped (with the reason) where it is missing."""
    overrides = dict(v.partition("=")[::2] for v in request.config.getoption("sp_set"))
    if overrides.get("hashing") == "ipvs" and not _ipvs_available():
        pytest.skip("hashing=ipvs: this kernel has no IPVS (CONFIG_IP_VS is not set, no ip_vs module)")


def _nft_only(balancer):
    if balancer.hashing != "nft":
        pytest.skip(f"reads the nftables hashing tables; this site runs hashing={balancer.hashing}")


# --- LOGIN-1 ------------------------------------------------------------------------------
@pytest.mark.behaviour("LOGIN-1")
def test_login1_name_resolves_to_every_vip_in_varying_order(site, balancer, evidence):
    """LOGIN-1: the login name returns all N VIPs, and the first address changes between queries."""
    dns_node = site.names("dns")[0]
    server, name = site.labels[dns_node]["address"], site.labels[dns_node]["login_name"]
    client = balancer.client(1)
    queries = 60
    # Asked from the client host (inside it in a lab, shipped to it at a site). EDNS with a
    # 1232-byte payload, as resolvers send: 40 A records do not fit in 512 bytes.
    asker = From(site, client.node)
    sent = asker.exchange_all([asker.message(server, name, "A", recurse=True) for _ in range(queries)])
    failed = [r for r in sent if isinstance(r, BaseException)]
    assert not failed, f"{name}: {len(failed)} of {queries} queries from {client.node or 'the test host'} to {server} failed: {failed[0]!r}"
    responses = [r[0] for r in sent if not isinstance(r, BaseException)]
    truncated = sum(bool(r.flags & dns.flags.TC) for r in responses)
    answers = [[rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == dns.rdatatype.A] for r in responses]
    want = set(balancer.vip.values())
    firsts = [a[0] if a else None for a in answers]
    changes = sum(1 for a, b in itertools.pairwise(firsts) if a != b)
    distinct_orders = len({tuple(a) for a in answers})
    evidence.record("queries", queries)
    evidence.record("truncated answers (TC)", truncated)
    evidence.record("VIPs expected", len(want))
    evidence.record("first address changed (consecutive queries)", f"{changes} of {queries - 1}")
    evidence.record("distinct first addresses", len(set(firsts)))
    evidence.record("distinct orders", distinct_orders)
    evidence.table("first answers", ["query", "addresses", "first"],
                   [[i + 1, len(a), a[0] if a else "-"] for i, a in enumerate(answers[:10])])
    wrong = [i + 1 for i, a in enumerate(answers) if set(a) != want or len(a) != len(want)]
    assert not wrong, (f"{name}: queries {wrong[:5]} did not return exactly the {len(want)} VIPs "
                       f"(first one returned {len(answers[wrong[0] - 1])}: missing {sorted(want - set(answers[wrong[0] - 1]))[:5]})")
    assert changes >= (queries - 1) // 2, (
        f"{name}: the order never varies enough: the first address changed in only {changes} of {queries - 1} "
        f"consecutive answers ({distinct_orders} distinct orders): clients will pile onto the same VIPs")


# --- LOGIN-2 ------------------------------------------------------------------------------
@pytest.mark.behaviour("LOGIN-2")
def test_login2_each_vip_held_by_its_home_node_only(logins, site, evidence):
    """LOGIN-2: each VIP is held by exactly one node, its own, and every node is in every group."""
    logins.assert_readable()
    seen = logins.holders()
    problems = logins.placement_problems(seen, logins.expected())
    evidence.record("login nodes", len(logins.names))
    evidence.record("VIPs", len(seen))
    timings = getattr(site.backend, "timings", {})  # a lab measures its own bring-up
    if "daemons_ready" in timings:
        evidence.record("daemons ready after start (s)", round(timings["daemons_ready"], 2))
    if logins.converged is not None:
        evidence.record(f"VIP convergence at N = {len(logins.names)} (s, after daemons ready)", round(logins.converged, 2))
    evidence.table("VIP holders", ["VIP", "VRRP group", "holders", "expected"],
                   [[v, logins.groups[v].instance, ", ".join(h) or "-", logins.expected()[v]] for v, h in seen.items()])
    assert not problems, "VIP placement: " + "; ".join(problems[:6])
    # Every node's config against its peers': membership, timers, version, preemption, tracking.
    config = logins.config_problems()
    evidence.record("configuration problems", len(config))
    assert not config, f"{len(config)} VRRP configuration problems: " + "; ".join(config[:6])


@pytest.mark.behaviour("LOGIN-2")
def test_login2_every_group_is_configured_to_take_over_in_time(logins, evidence):
    """LOGIN-2 (GW-2 semantics), read from every node's config: each group's timers imply a
    takeover within the site's objective, whichever node a fault test would pick."""
    logins.assert_readable()
    logins.judge_timers(evidence)


# --- LOGIN-3 ------------------------------------------------------------------------------
@pytest.mark.behaviour("LOGIN-3")
def test_login3_connection_reaches_same_server_through_any_vip(balancer, logins, evidence):
    """LOGIN-3: a (client address, port) reaches the same real server through VIPs held by different nodes."""
    holders = logins.holders()
    # VIPs held by different nodes, spread over the node list.
    step = max(1, len(balancer.names) // 4)
    vips = [balancer.vip[n] for n in balancer.names[::step]][:4]
    held_by = {v: ",".join(holders[v]) for v in vips}
    clients = [balancer.client(i) for i in range(1, balancer.clients + 1)]
    per_client = max(1, int(balancer.site.threshold("login_pairs")) // len(clients))
    sources = [(c, (c.addresses[i % len(c.addresses)], next_port())) for c in clients for i in range(per_client)]
    mismatches, servers = [], collections.Counter()
    rows = []
    # One (address, port) through every VIP: a different 4-tuple each time, the same hash key.
    landed = {}
    for client in clients:
        pairs = [(source, vip) for c, source in sources if c is client for vip in vips]
        landed.update(zip(((source, vip) for source, vip in pairs), which_servers(client, pairs), strict=True))
    for _client, source in sources:
        reached = [landed[(source, vip)] for vip in vips]
        servers[reached[0]] += 1
        if len(set(reached)) != 1:
            mismatches.append((source, reached))
        if len(rows) < 12:
            rows.append([f"{source[0]}:{source[1]}", *reached])
    evidence.record("connections", len(sources) * len(vips))
    evidence.record("(address, port) pairs", len(sources))
    evidence.record("VIPs used (holder)", ", ".join(f"{v} ({held_by[v]})" for v in vips))
    evidence.table("servers reached (first pairs)", ["source", *vips], rows)
    evidence.table("new sessions per server", ["server", "sessions"], sorted(servers.items()))
    assert not mismatches, (
        f"{len(mismatches)} of {len(sources)} (address, port) pairs reached different servers through different VIPs, "
        f"e.g. {mismatches[0][0][0]}:{mismatches[0][0][1]} -> " + ", ".join(
            f"{v}: {s}" for v, s in zip(vips, mismatches[0][1], strict=True)))
    errors = [s for s in servers if s.startswith("error")]
    assert not errors, f"connections failed: {errors}"
    # Only VIPs on different nodes prove that the node does not matter.
    assert all(len(holders[v]) == 1 for v in vips) and len({holders[v][0] for v in vips}) == len(vips) > 1, (
        f"LOGIN-3 needs VIPs held by different nodes, one each; held: {held_by}")


@pytest.mark.behaviour("LOGIN-3")
def test_login3_hash_tables_identical_on_every_node(balancer, evidence):
    """LOGIN-3: every node has the same hash seed and the same bucket tables (read through testinfra)."""
    _nft_only(balancer)
    found = balancer.tables()
    assert set(found) == set(balancer.names) and found, f"tables read from {len(found)} of {len(balancer.names)} login nodes"
    reference = collections.Counter(t.summary() for t in found.values()).most_common(1)[0][0]
    assert reference[1], "no login node has hashing tables loaded"
    odd = {n: t for n, t in found.items() if t.summary() != reference}
    seed, steer, _fallback = reference
    per_server = collections.Counter(addr for mark, addr in steer if not mark & tables.NEW)
    evidence.record("nodes read", len(found))
    evidence.record("hash seed (majority)", seed)
    evidence.record("buckets", len(steer) // 2)
    evidence.table("buckets per server (established)", ["server", "buckets"],
                   sorted((balancer.name_of.get(a, a), c) for a, c in per_server.items()))
    rows = []
    for node, t in sorted(odd.items()):
        diff = [m for m, a in t.steer.items() if dict(steer).get(m) != a]
        rows.append([node, t.seed, len(diff), len(t.steer)])
    if rows:
        evidence.table("nodes that differ", ["node", "seed", "steer entries differing", "entries"], rows)
    problems = []
    for node, t in sorted(odd.items()):
        if not t.steer:
            problems.append(f"{node}: no hashing tables loaded")
        elif t.seed != seed:
            problems.append(f"{node}: hash seed {t.seed} differs from {seed} on the others")
        else:
            problems.append(f"{node}: {sum(1 for m, a in t.steer.items() if dict(steer).get(m) != a)} bucket entries differ")
    assert not problems, "hash tables differ between nodes: " + "; ".join(problems)


# The agent settings that name the node itself: compared as "this node's", every other field as is.
AGENT_OWN_FIELDS = ("node", "address")
ARP_SYSCTLS = {"net.ipv4.conf.all.arp_ignore": 1, "net.ipv4.conf.all.arp_announce": 2}


def _agent_fields(config: dict) -> dict[str, str]:
    """Every field of an agent's settings, nested ones by path (checks.nics, servers[2].address),
    the node's own name and address abstracted."""
    flat: dict[str, str] = {}

    def walk(path: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{path}.{k}" if path else str(k), v)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, v in enumerate(value):
                walk(f"{path}[{i}]", v)
        else:
            flat[path] = "(this node's)" if path in AGENT_OWN_FIELDS else json.dumps(value)

    walk("", config)
    return flat


@pytest.mark.behaviour("LOGIN-3")
def test_login3_every_node_configured_alike(balancer, evidence):
    """LOGIN-3 (read-only, every node): the LVS-DR ARP sysctls are set, and every field of the
    health agent's settings (hash seed, health checks, the real servers in their order, timers,
    interfaces and ports) is identical but for the node's own name and address."""
    _nft_only(balancer)
    assert balancer.names, "no login node"
    rows, problems, settings = [], [], {}
    for node in balancer.names:
        host = balancer.site.host(node)
        arp = {k: host.sysctl(k) for k in ARP_SYSCTLS}
        config = json.loads(balancer.site.daemon_config(node, "loginlb"))
        settings[node] = _agent_fields(config)
        rows.append([node, *arp.values(), config.get("seed"), len(config.get("servers", [])), len(settings[node])])
        problems += [f"{node}: {k} = {v} (want {ARP_SYSCTLS[k]})" for k, v in arp.items() if v != ARP_SYSCTLS[k]]
    comparison = peers.compare({n: [f"{k} = {v}" for k, v in sorted(f.items())] for n, f in settings.items()})
    want = dict(line.split(" = ", 1) for line in comparison.reference)
    for node in comparison.differing:
        mine = settings[node]
        fields = sorted({k for k in mine.keys() | want.keys() if mine.get(k) != want.get(k)})
        problems.append(f"{node}: agent settings differ from the other nodes' in " + ", ".join(
            f"{k} ({mine.get(k, 'absent')}, others {want.get(k, 'absent')})" for k in fields))
    evidence.table("every login node", ["node", *ARP_SYSCTLS, "hash seed", "servers", "agent fields compared"], rows)
    if comparison.differing:
        evidence.table("agent settings that differ from the other nodes'", ["node", "changed lines"],
                       [[n, "; ".join(d)] for n, d in comparison.differing.items()])
    assert not problems, "login nodes not configured alike: " + "; ".join(problems[:6])


@pytest.mark.behaviour("LOGIN-5", "LOGIN-6")
def test_login5_every_nodes_agent_is_configured_to_notice_a_failure_in_time(balancer, evidence):
    """LOGIN-5 and LOGIN-6, read from every node's health agent settings: the time its timers
    imply for a failed node to be taken out (dead_after, then the next interval) is within the
    site's objective. Every node: a fault test watches one, and nodes configured alike but all
    too slow pass the comparison with each other."""
    objective = balancer.site.budget("login_configured_detection")
    rows, late = [], []
    for node in balancer.names:
        config = json.loads(balancer.site.daemon_config(node, "loginlb"))
        dead_after, interval = float(config["dead_after"]), float(config["interval"])
        implied = dead_after + interval
        rows.append([node, f"{dead_after:g}", f"{interval:g}", f"{implied:g}", "PAST" if implied > objective else "within"])
        if implied > objective:
            late.append(f"{node} (dead_after {dead_after:g} + interval {interval:g} = {implied:g} s)")
    rows.sort(key=lambda r: -float(r[3]))
    evidence.measure("slowest configured failure detection (s)", float(rows[0][3]), at_most=objective,
                     limit_name="login_configured_detection")
    evidence.table("every login node's health agent timers", ["node", "dead_after (s)", "interval (s)",
                                                             "implied detection (s)", "objective"], rows)
    assert not late, (f"LOGIN-5: {len(late)} of {len(rows)} login nodes' health agents are configured to notice a "
                      f"failed node past the objective {objective:g} s: " + ", ".join(late[:4]))


@pytest.mark.behaviour("LOGIN-3")
def test_login3_every_node_answers_with_the_same_kernel_settings(balancer, evidence):
    """LOGIN-3 read on every login node: beyond the LVS-DR ARP settings it requires, every
    forwarding, reverse-path, ARP and redirect setting alike on all of them."""
    problem = sysctls.members_differ(balancer.site.backend, balancer.names, evidence, "the login nodes")
    assert not problem, f"LOGIN-3: {problem}"


# --- sessions -----------------------------------------------------------------------------
def _open(balancer, specs, evidence_rows=None):
    """Open SSH sessions (name, vip, source) from client 1 and wait until each echoes."""
    client = balancer.client(1)
    sessions = []
    for name, vip, source in specs:
        sessions.append(SshSession.open(client, name, vip, source, balancer.user_key, balancer.user))
    for s in sessions:
        s.wait_exchanges_after(0, 5, "ssh_session")
    return sessions


def _sources_for(balancer, vip, wanted):
    """Sources landing on each wanted server (probed through another VIP than vip, which the
    sessions will use); a server that cannot be hit gets a plain source."""
    client = balancer.client(1)
    probe_vip = next(balancer.vip[n] for n in reversed(balancer.names) if balancer.vip[n] != vip)
    found = find_sources(client, probe_vip, wanted)
    return {w: found.get(w) or (client.addresses[0], next_port()) for w in wanted}


def _session_rows(sessions, moment, capture, holders_at):
    rows = []
    for s in sessions:
        rows.append([s.name, s.server, s.vip, f"{s.source[0]}:{s.source[1]}", *holders_at(s),
                     s.after(moment), capture.resets_of(s.source, s.vip), s.error or "-"])
    return rows


@pytest.mark.disruptive
@pytest.mark.behaviour("LOGIN-4", "LOGIN-7")
def test_login4_session_survives_vip_return_to_home_node(login_lab, logins, lab, faults, evidence, victims, tmp_path):
    """LOGIN-4, the paper's sequence: node A fails, its VIP moves to B, sessions open to that VIP,
    A returns and takes the VIP back; every session keeps exchanging data and no RST is seen."""
    balancer = login_lab
    node_a = victims.pick(balancer.names, "node A (frozen, then back)")
    vip = balancer.vip[node_a]
    node_b = logins.groups[vip].expected_holder([n for n in logins.names if n != node_a])
    node_c = next(n for n in balancer.names if n not in (node_a, node_b))
    wanted = [node_b, node_c, node_a]  # A's own buckets are served by their fallback while A is away
    sources = _sources_for(balancer, vip, wanted)

    faults.freeze(node_a)
    logins.down.add(node_a)
    t_fail = time.monotonic()
    takeover = logins.wait_placement("vrrp_takeover", vips=[vip], seconds=logins.takeover_budget())
    if balancer.hashing == "nft":
        balancer.wait_tables(lambda st: balancer.server_state(st, node_a, "down", [n for n in logins.names if n != node_a]),
                             f"every live node sees {node_a} down")
    holder_open = ",".join(logins.holders()[vip])
    t_open = time.monotonic()
    with RstCapture(lab, "client1", tmp_path / "login4-rst.pcap") as capture, \
            sessions_closed(_open(balancer, [(f"lands-{w}", vip, sources[w]) for w in wanted])) as sessions:
        wait_until(lambda: min(s.after(0) for s in sessions), "ssh_session", expected="every session echoing",
                   accept=lambda n: n >= 10, interval=0.05)
        faults.thaw(node_a)
        logins.down.discard(node_a)
        back = logins.wait_placement("vrrp_restore", vips=[vip])
        t_move = time.monotonic()
        holder_back = ",".join(logins.holders()[vip])
        if balancer.hashing == "nft":
            balancer.wait_tables(lambda st: balancer.all_up(st), f"every node sees {node_a} up again")
        t_tables = time.monotonic()
        for s in sessions:
            s.wait_exchanges_after(t_tables, echoes_after(logins.site), "session_resume")
        capture.stop()
        evidence.attach(capture.path.name, capture.path)
        rows = _session_rows(sessions, t_move, capture, lambda s: [holder_open, holder_back])
        resets = {s.name: capture.resets_of(s.source, s.vip) for s in sessions}
        errors = {s.name: s.error for s in sessions if s.error}
    evidence.record("node A (fails, returns)", node_a)
    evidence.record("node B (takes the VIP)", node_b)
    evidence.record("VIP", vip)
    evidence.measure("takeover after A failed (s)", round(takeover.elapsed, 2), at_most=logins.takeover_budget(),
                     limit_name="vrrp_takeover")
    evidence.record("VIP back on A after thaw (s)", round(back.elapsed, 2))
    evidence.record("RSTs captured (all sessions)", sum(resets.values()))
    evidence.table("sessions", ["session", "server", "VIP", "source", "VIP holder at open", "holder after return",
                                "echoes after the move", "RSTs", "error"], rows)
    evidence.record("A failed -> sessions open (s)", round(t_open - t_fail, 2))
    reset = [f"{n}: {r} RST observed" for n, r in resets.items() if r]
    broken = [f"{n}: {e}" for n, e in errors.items()]
    assert not reset and not broken, (
        f"sessions broken when {vip} returned from {node_b} to {node_a}: " + "; ".join(reset + broken))
    dead = [s.name for s in sessions if s.after(t_move) < echoes_after(logins.site)]
    assert not dead, f"sessions stopped exchanging data after the VIP moved back: {dead}"
    reached = {s.server for s in sessions}
    assert node_b in reached and len(reached) >= 2, (
        f"the sessions did not spread over B ({node_b}) and other servers: they reached {sorted(reached)}")


# --- LOGIN-5 ------------------------------------------------------------------------------
@pytest.mark.disruptive
@pytest.mark.behaviour("LOGIN-5")
def test_login5_node_failure_spares_sessions_on_other_nodes(login_lab, logins, lab, faults, evidence, victims, tmp_path):
    """LOGIN-5: a login node fails; every session not served by it carries on, including the
    ones that entered through its VIP."""
    balancer = login_lab
    node_x = victims.pick(balancer.names, "failed node")
    vip_x = balancer.vip[node_x]
    others = [n for n in balancer.names if n != node_x]
    wanted = [node_x, *others[2:5]]
    sources = _sources_for(balancer, vip_x, wanted)
    other_vip = balancer.vip[others[0]]
    extra = _sources_for(balancer, other_vip, [others[5 % len(others)]])
    specs = [(f"via-{node_x}-lands-{w}", vip_x, sources[w]) for w in wanted]
    specs += [(f"via-{others[0]}-lands-{w}", other_vip, src) for w, src in extra.items()]
    holders_before = logins.holders()
    with RstCapture(lab, "client1", tmp_path / "login5-rst.pcap") as capture, \
            sessions_closed(_open(balancer, specs)) as sessions:
        faults.freeze(node_x)
        logins.down.add(node_x)
        t_fail = time.monotonic()
        takeover = logins.wait_placement("vrrp_takeover", vips=[vip_x], seconds=logins.takeover_budget())
        seen_down = None
        if balancer.hashing == "nft":
            seen_down = balancer.wait_tables(lambda st: balancer.server_state(st, node_x, "down", others),
                                             f"every live node sees {node_x} down")
        survivors = [s for s in sessions if s.server != node_x]
        for s in survivors:
            s.wait_exchanges_after(t_fail, echoes_after(logins.site), "session_resume")
        capture.stop()
        evidence.attach(capture.path.name, capture.path)
        holders_after = logins.holders()
        rows = [[s.name, s.server, s.vip, ",".join(holders_before[s.vip]), ",".join(holders_after[s.vip]),
                 s.after(t_fail), capture.resets_of(s.source, s.vip), s.error or "-",
                 "served by the failed node: lost" if s.server == node_x else "must carry on"] for s in sessions]
        resets = {s.name: capture.resets_of(s.source, s.vip) for s in survivors}
        errors = {s.name: s.error for s in survivors if s.error}
    evidence.record("failed node", node_x)
    evidence.record("its VIP taken over after (s)", round(takeover.elapsed, 2))
    if seen_down is not None:
        evidence.record("every node's tables without it after (s)", round(seen_down.elapsed + takeover.elapsed, 2))
    evidence.table("sessions", ["session", "server", "VIP", "holder before", "holder after", "echoes after the failure",
                                "RSTs", "error", "expectation"], rows)
    broken = [f"{n}: {r} RST observed" for n, r in resets.items() if r] + [f"{n}: {e}" for n, e in errors.items()]
    assert not broken, f"sessions on other nodes broken by the failure of {node_x}: " + "; ".join(broken)
    assert len(survivors) >= 3, f"too few sessions on other servers to judge: {[s.server for s in sessions]}"


# --- LOGIN-6 ------------------------------------------------------------------------------
def _needs_hashing_layer(balancer):
    assert balancer.hashing != "none", (
        "no hashing layer: a login node cannot be drained without taking its VIP (and its sessions) away")


@pytest.mark.disruptive
@pytest.mark.behaviour("LOGIN-6")
def test_login6_drained_server_keeps_its_sessions_and_takes_no_new_ones(login_lab, logins, lab, evidence, victims, tmp_path):
    """LOGIN-6: drain a server (admin drain file): new sessions avoid it, its existing sessions
    carry on, and no VIP moves. The drained server is a seeded pick; its sessions come in
    through two other servers' VIPs."""
    balancer = login_lab
    _needs_hashing_layer(balancer)
    assert len(balancer.names) >= 4, f"a drain test needs 4 login nodes, the site has {len(balancer.names)}"
    client = balancer.client(1)
    node_d = victims.pick(balancer.names, "drained server")
    others = [n for n in balancer.names if n != node_d]
    node_e = others[-1]
    vip_0, vip_3 = balancer.vip[others[0]], balancer.vip[node_e]
    src_d0 = _sources_for(balancer, vip_0, [node_d, node_e])
    src_d3 = _sources_for(balancer, vip_3, [node_d])
    specs = [(f"{node_d}-via-{vip_0}", vip_0, src_d0[node_d]), (f"{node_d}-via-{vip_3}", vip_3, src_d3[node_d]),
             (f"{node_e}-via-{vip_0}", vip_0, src_d0[node_e])]
    probe_vips = [balancer.vip[n] for n in balancer.names if balancer.vip[n] not in (vip_0, vip_3)][:2]
    holders_before = logins.holders()
    with RstCapture(lab, "client1", tmp_path / "login6-rst.pcap") as capture, \
            sessions_closed(_open(balancer, specs)) as sessions:
        balancer.set_drain(node_d, True)
        t_drain = time.monotonic()
        propagated = balancer.wait_tables(lambda st: balancer.server_state(st, node_d, "drain", balancer.names),
                                          f"every node sees {node_d} draining")
        # The drained server's own hash keys, sent through other VIPs: the same buckets, new connections.
        same_bucket = [which_server(client, s.source, v) for s in sessions if s.server == node_d for v in probe_vips[:1]]
        fresh = collections.Counter(which_server(client, (client.addresses[i % len(client.addresses)], next_port()),
                                                 probe_vips[i % len(probe_vips)]) for i in range(64))
        for s in sessions:
            s.wait_exchanges_after(t_drain + propagated.elapsed, echoes_after(logins.site), "session_resume")
        holders_during = logins.holders()
        balancer.set_drain(node_d, False)
        balancer.restore_health()
        balancer.wait_tables(lambda st: balancer.all_up(st), f"every node sees {node_d} up again")
        back = [which_server(client, s.source, v) for s in sessions if s.server == node_d for v in probe_vips[1:2]]
        capture.stop()
        evidence.attach(capture.path.name, capture.path)
        rows = [[s.name, s.server, s.vip, s.after(t_drain), capture.resets_of(s.source, s.vip), s.error or "-"] for s in sessions]
        resets = {s.name: capture.resets_of(s.source, s.vip) for s in sessions}
        errors = {s.name: s.error for s in sessions if s.error}
        on_d = [s.name for s in sessions if s.server == node_d]
    moved = sorted(v for v in holders_before if holders_before[v] != holders_during[v])
    evidence.record("drained server", node_d)
    evidence.measure("drain reached every node's tables after (s)", round(propagated.elapsed, 2),
                     at_most=balancer.site.budget("lb_tables"), limit_name="lb_tables")
    evidence.record("new sessions with the drained server's hash keys went to", ", ".join(same_bucket) or "-")
    evidence.record("after the drain ended they went to", ", ".join(back) or "-")
    evidence.table("new sessions during the drain, per server", ["server", "sessions"], sorted(fresh.items()))
    evidence.table("existing sessions", ["session", "server", "VIP", "echoes after the drain", "RSTs", "error"], rows)
    evidence.note("Stateless steering keeps a drained server's sessions by sending every non-SYN packet of its "
                  "buckets to it; a new session on a drained bucket opens on the bucket's fallback, and the "
                  "drained primary passes that session's later packets on to the fallback (second chance). "
                  "Limit: one level. If the fallback is drained too while such a session lives, it is reset; "
                  "drain one server at a time.")
    assert len(on_d) >= 2, f"could not place two sessions on {node_d}: {[s.server for s in sessions]}"
    broken = [f"{n}: {r} RST observed" for n, r in resets.items() if r] + [f"{n}: {e}" for n, e in errors.items()]
    assert not broken, f"existing sessions broken by draining {node_d}: " + "; ".join(broken)
    assert node_d not in same_bucket and node_d not in fresh, (
        f"new sessions still land on the drained {node_d}: {same_bucket.count(node_d) + fresh[node_d]} of them")
    assert not moved, f"draining {node_d} moved VIPs: {moved}"
    assert all(b == node_d for b in back), f"{node_d} did not take new sessions again after the drain ended: {back}"


CHECKS = {
    "drain-file": ("drain", lambda b, f, n: b.set_drain(n, True)),
    "filesystem": ("drain", lambda b, f, n: b.set_filesystem(n, False)),
    "nic": ("down", lambda b, f, n: f.cable_pull(n, "eth1")),
}


@pytest.mark.disruptive
@pytest.mark.behaviour("LOGIN-6")
@pytest.mark.parametrize("check", list(CHECKS))
def test_login6_health_check_takes_server_out_and_back(login_lab, logins, faults, check, evidence, victims):
    """LOGIN-6: each health check (admin drain file, shared filesystem, HSN NIC) takes its server
    out of new-session steering on every node, and puts it back when it passes again."""
    balancer = login_lab
    _needs_hashing_layer(balancer)
    node = victims.pick(balancer.names, "failing server")
    state, inject = CHECKS[check]
    inject(balancer, faults, node)
    try:
        out = balancer.wait_tables(lambda st: balancer.server_state(st, node, state, balancer.names),
                                   f"every node sees {node} {state}")
    except WaitTimeout as exc:
        seen = collections.Counter(st.get("states", {}).get(node, "?") for st in exc.last.values()) \
            if isinstance(exc.last, dict) else exc.last
        raise AssertionError(f"{check} check failing on {node}: its state never reached {state} on every node "
                             f"within {exc.seconds:.0f} s (lb_tables); the nodes saw it as {dict(seen)}") from None
    observer = next(n for n in balancer.names if n != node)
    steered = balancer.tables([observer])[observer]
    new_to_node = sum(1 for m, a in steered.steer.items() if m & tables.NEW and a == balancer.address[node])
    faults.undo_all()
    balancer.restore_health()
    back = balancer.wait_tables(lambda st: balancer.all_up(st), f"every node sees {node} up again")
    restored = balancer.tables([observer])[observer]
    new_back = sum(1 for m, a in restored.steer.items() if m & tables.NEW and a == balancer.address[node])
    evidence.record("server", node)
    evidence.record("state while failing", state)
    evidence.record("out of every node's tables after (s)", round(out.elapsed, 2))
    evidence.record("back in after (s)", round(back.elapsed, 2))
    evidence.record(f"new-session buckets on it ({observer}'s table): failing / passing", f"{new_to_node} / {new_back}")
    assert new_to_node == 0, f"{check} check failing on {node}: {new_to_node} new-session buckets still go to it"
    assert new_back > 0, f"{check} check passing again on {node}: no new-session bucket goes back to it"
