"""Site mode end to end: a lab played as a real site (backends/netns/as_site.py), reached
only over SSH from a vantage namespace, gives the lab's verdicts.

Each case builds the lab with a management network and a management sshd on every node,
writes the inventory a site would give, and runs the area's suite with `--site` inside the
vantage namespace. The reference must pass every read-only test it runs (and run the ones
named: a site run that skipped them all would prove nothing); a variant brought up the same
way must fail its check for the same reason as in lab mode.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from secrets import token_hex

import pytest
import yaml

from siteproof import readonly_commands as readonly
from siteproof.backends.netns import Lab
from siteproof.backends.netns.as_site import VANTAGE, as_site, inventory, wait_settled
from siteproof.cmdlog import COMMANDS_FILE
from siteproof.fixtures.plugin import FAULT_TABLE
from siteproof.topology import load_topology
from tests.helpers import REPO, needs_root
from tests.selfcheck import failed_for, run_child_pytest, verdict

CHILD_TIMEOUT_S = 300
# Cases run with --allow-disruptive, each with its inventory's faults section: what they send
# beyond the read-only allowlist must be the probes' and the faults' own (probes_own), and the site
# must be left as found.
GATEWAY_FAULTS = {"roles": ["gateway"], "ttl": 120, "at_once": 4}  # GW-4 and GW-5 stop all gateways but one
RESOLVER_FAULTS = {"roles": ["resolver"], "ttl": 120, "at_once": 1}  # DNS-2's rogue redirect and resolver restarts
ROUTER_FAULTS = {"roles": ["spine", "dc-router", "edge-router"], "ttl": 120, "at_once": 1}  # CAN-5's cable pull and crash
DISRUPTIVE = {("perlmutter-gateways", None): GATEWAY_FAULTS, ("perlmutter-gateways", "slow-adverts"): GATEWAY_FAULTS,
              ("perlmutter-gateways", "hsn-only-vips"): GATEWAY_FAULTS,
              ("scinet-dtn", None): {}, ("scinet-dtn", "bridge-shaped"): {},
              ("ncsa-nat", None): {"roles": ["nat-gateway"], "ttl": 120, "at_once": 1},
              ("perlmutter-login", None): {"roles": ["login"], "ttl": 120, "at_once": 1},
              # DNS-7/8/9 change zones and etcd (not faults).
              ("perlmutter-dns", None): RESOLVER_FAULTS, ("perlmutter-dns", "no-validation"): RESOLVER_FAULTS,
              ("perlmutter-dns", "resolver-min-ttl"): {},
              ("perlmutter-login", "vips-only"): {"roles": ["login"], "ttl": 120, "at_once": 1},
              ("ncsa-nat", "no-pair-sync"): {"roles": ["nat-gateway"], "ttl": 120, "at_once": 1},
              ("perlmutter-can", None): ROUTER_FAULTS, ("perlmutter-can", "slow-ospf-dead"): ROUTER_FAULTS,
              ("alice-epn", "gateway-forwards-spoofed"): {}}
# Each case's cost for scheduling (siteproof.fixtures.parallel; a slow test's default is 90): the
# site runs are the longest of the slow tests (40-100 s in CI against 30-40 s), so they start first.
COSTS = {("perlmutter-gateways", None): 200, ("perlmutter-dns", None): 130, ("ncsa-nat", None): 130,
         ("perlmutter-can", None): 210, ("perlmutter-login", "vips-only"): 130}
# (topology, pytest arguments (shell words: suites, -k), variant or None, tests that must run at a site,
# the variant's (test, phrase), or a list of them)
CASES = [
    # Every gateway and ECMP test, the faulted ones included: GW-3's return, GW-4's last one standing
    # (every gateway but one stopped: at_once 4), GW-5's orphans, GW-6's return path through a failure.
    ("perlmutter-gateways", "suites/gateways suites/ecmp",
     None, ["test_gw1_every_vip_has_exactly_one_holder", "test_gw2_takeover[crash]", "test_gw2_takeover[stop]",
            "test_gw3_returning_gateway_takes_its_vips_back", "test_gw4_last_one_standing_holds_every_vip",
            "test_gw5_orphaned_vips_spread_over_survivors", "test_gw6_return_path_survives_gateway_failure",
            "test_gw2_takeover[freeze]", "test_gw2_takeover[cable]", "test_ecmp4_long_udp_flow_uses_one_gateway[ipv6]",
            "test_ecmp4_iperf3_stream_uses_one_gateway", "test_gw6_forwarding_both_directions",
            "test_gw6_every_gateway_forwards_with_the_same_kernel_settings", "test_ecmp1_one_route_over_every_gateway_vip[ipv4]",
            "test_ecmp1_storage_returns_over_every_storage_side_vip[ipv6]",
            # Flows sent, accepted and echoed by the hosts themselves (siteproof.probes.flowsend, .tcphost).
            "test_ecmp3_flows_spread_over_every_gateway[tcp-ipv4]", "test_ecmp3_flows_spread_over_every_gateway[udp-ipv6]",
            "test_ecmp5_tcp_flow_survives_failure_of_its_gateway"], None),
    ("perlmutter-gateways", "suites/gateways/test_gateways.py::test_gw1_every_vip_has_exactly_one_holder", "dual-master", [], (
        "test_gw1_every_vip_has_exactly_one_holder", "held by 2 gateways")),
    # A pulled cable at a site whose adverts are slower than its budget: the takeover is late over SSH as in the lab.
    ("perlmutter-gateways", "suites/gateways/test_gateways.py::test_gw2_takeover[cable]", "slow-adverts", [], (
        "test_gw2_takeover[cable]", "(vrrp_takeover): VIP")),
    # A black-holed return path over SSH: at a site the freeze takes effect a moment after it is
    # sent, and echoes (GW-6) or flow records (ECMP-5) that came back before it must not count as
    # the path resuming (probes.gap; a live gateway must count the flow).
    ("perlmutter-gateways", "suites/gateways/test_gateways.py::test_gw6_return_path_survives_gateway_failure "
     "suites/ecmp/test_ecmp.py::test_ecmp5_tcp_flow_survives_failure_of_its_gateway", "hsn-only-vips", [], [
        ("test_gw6_return_path_survives_gateway_failure", "return traffic black-holed"),
        ("test_ecmp5_tcp_flow_survives_failure_of_its_gateway", "return traffic black-holed")]),
    ("perlmutter-login", "suites/login", None, ["test_login1_name_resolves_to_every_vip_in_varying_order",
                                                "test_login3_connection_reaches_same_server_through_any_vip",
                                                "test_login5_every_nodes_agent_is_configured_to_notice_a_failure_in_time",
                                                "test_login3_every_node_answers_with_the_same_kernel_settings",
                                                # SSH sessions relayed by the client host, RSTs captured there.
                                                "test_login4_session_survives_vip_return_to_home_node",
                                                "test_login5_node_failure_spares_sessions_on_other_nodes",
                                                "test_login6_drained_server_keeps_its_sessions_and_takes_no_new_ones"],
     None),
    ("perlmutter-login", "suites/login/test_login.py", "seed-mismatch", [], (
        "test_login3_connection_reaches_same_server_through_any_vip", "reached different servers through different VIPs")),
    ("perlmutter-dns", "suites/dns", None, ["test_dns4_transfer_acl_matrix",
                                            "test_dns5_dns6_queries_answered_inside_refused_outside",
                                            "test_dns5_each_servers_own_acl_admits_only_inside",
                                            "test_dns3_no_signature_expires_within_the_horizon",
                                            # A rogue redirect and restarts of the resolver, a ZSK rolled by rndc
                                            # on the primary, etcd changed on the records host, signed updates.
                                            "test_dns2_tampered_or_unsigned_answer_gives_servfail[signed-by-other-keys]",
                                            "test_dns2_tampered_or_unsigned_answer_gives_servfail[unsigned]",
                                            "test_dns9_zsk_rollover_completes_while_resolver_validates",
                                            "test_dns8_reconciler_publishes_and_withdraws_records",
                                            "test_dns4_dns7_signed_update_reaches_secondary_within_budget"], None),
    # The rogue's unsigned copy, redirected to on the resolver over SSH, is handed out as in the lab.
    ("perlmutter-dns", "suites/dns/test_dns.py::test_dns2_tampered_or_unsigned_answer_gives_servfail[unsigned]",
     "no-validation", [], ("test_dns2_tampered_or_unsigned_answer_gives_servfail[unsigned]",
                           "answer from a rogue server was accepted")),
    # A resolver that keeps the DNSKEY set past its TTL, found before DNS-9 rolls the ZSK with rndc on the primary.
    ("perlmutter-dns", "suites/dns/test_dns.py::test_dns9_zsk_rollover_completes_while_resolver_validates",
     "resolver-min-ttl", [], ("test_dns9_zsk_rollover_completes_while_resolver_validates",
                              "the resolver keeps the DNSKEY set of rollover.perlmutter.example for")),
    ("perlmutter-dns", "suites/dns/test_dns.py::test_dns4_transfer_acl_matrix", "axfr-open", [], (
        "test_dns4_transfer_acl_matrix", "inside client over IPv4: allowed by primary")),
    # A session relayed by the client host breaks when its VIP goes home (a freeze and thaw over SSH).
    ("perlmutter-login", "suites/login/test_login.py::test_login4_session_survives_vip_return_to_home_node", "vips-only", [], (
        "test_login4_session_survives_vip_return_to_home_node", "sessions broken when")),
    # A crashed router over SSH, with dead intervals slower than the budget: routing is late as in the lab.
    ("perlmutter-can", "suites/can/test_can.py::test_can5_routing_goes_around_a_failed_link_or_router[crash]",
     "slow-ospf-dead", [], ("test_can5_routing_goes_around_a_failed_link_or_router[crash]",
                            "routing did not go around the crash")),
    # CAN-5's cable pull and routing-suite crash over SSH, with echo probers run by the CAN's
    # clients; the post snapshot then finds every router's routes as before.
    ("perlmutter-can", "suites/can", None, ["test_can1_only_mfa_networks_reach_the_can",
                                            "test_can5_routing_goes_around_a_failed_link_or_router[cable]",
                                            "test_can5_routing_goes_around_a_failed_link_or_router[crash]",
                                            "test_can4_spines_get_one_summarized_route_from_the_dc",
                                            "test_can6_speaker_sessions_established_on_the_can",
                                            "test_can1_every_dc_routers_acl_sees_every_family_it_routes",
                                            "test_can4_redundant_routers_forward_with_the_same_kernel_settings"], None),
    # A pair without state sync: the established flow breaks at a freeze over SSH as in the lab.
    ("ncsa-nat", "suites/nat/test_nat.py::test_nat7_an_established_flow_survives_the_pairs_failover[freeze]",
     "no-pair-sync", [], ("test_nat7_an_established_flow_survives_the_pairs_failover[freeze]", "broke at the failover")),
    ("ncsa-nat", "suites/nat", None, ["test_nat1_no_other_path_out", "test_nat1_full_size_packets_through_every_gateway",
                                      "test_nat6_every_gateways_ruleset_forwards_nothing_unsolicited",
                                      "test_nat1_every_gateway_host_forwards_with_the_same_kernel_settings",
                                      "test_nat5_rulesets_identical_across_gateways",
                                      "test_nat7_each_failover_pairs_members_agree_on_vrrp",
                                      "test_nat7_conntrack_state_per_compute_on_every_gateway",
                                      # A pair's failover under an established flow, each end run by its host.
                                      "test_nat7_an_established_flow_survives_the_pairs_failover[freeze]",
                                      "test_nat7_an_established_flow_survives_the_pairs_failover[cable]",
                                      # Crafted frames sent by the server, tapped on every compute; a pool
                                      # driven toward exhaustion by connections the computes hold.
                                      "test_nat6_unsolicited_inbound_is_dropped_replies_pass",
                                      "test_nat4_tracker_moves_computes_before_a_pool_runs_out"], None),
    ("alice-epn", "suites/ib", None, ["test_ib3_public_addresses_only_in_containers",
                                      "test_ib6_every_gateways_ruleset_routes_out_only_the_partition",
                                      "test_ib8_pkey_tables_and_sm_partitions_match_the_inventory"], None),
    # Spoofed sources sent by the container host, tapped beyond the gateway.
    ("alice-epn", "suites/ib/test_ib.py::test_ib6_spoofed_sources_are_not_routed_out", "gateway-forwards-spoofed", [], (
        "test_ib6_spoofed_sources_are_not_routed_out", "IB-6: the gateway routed out spoofed sources from")),
    ("alice-epn", "suites/ib", "public-pkey-default-slot", [], (
        "test_ib8_pkey_tables_and_sm_partitions_match_the_inventory",
        "epn03 ib0: pkey table slot 0 (its default partition) is 0x8001, expected 0xffff")),
    ("alice-ce", "suites/ce", None, ["test_ce1_central_services_reach_xrootd_through_the_ingress",
                                     "test_ce1_border_and_ingress_filter_every_family_they_route",
                                     "test_ce1_worker_nodes_reach_the_outside"], None),
    # MonALISA datagrams sent by the worker nodes over SSH, counted by a table of siteproof's own on the CE.
    ("alice-ce", "suites/ce/test_ce.py::test_ce1_worker_nodes_reach_monalisa_on_udp", "monalisa-blocked", [], (
        "test_ce1_worker_nodes_reach_monalisa_on_udp", "CE-1: worker nodes' MonALISA datagrams do not reach the CE (udp/8884): wn01: 0 counted")),
    # `ingress-all-ports` (the outside host's SYN sweep over SSH finds 8080) stays out of CI. It
    # passed 13 times in a row by hand (6 at load 8.7), but the same sweep in the CE reference
    # failed in CI run 98: "the tap saw 0 SYN(s) to [XRootD] leave scanner" in 3 rounds, with no
    # backlog drop. Not understood yet; a second sweep over SSH in CI would double that exposure.
    ("scinet-dtn", "suites/dtn", None, ["test_dtn2_service_answers_on_its_profile_ranges_only",
                                        "test_dtn3_throughput_per_attachment_against_native"], None),
    ("scinet-dtn", "suites/dtn/test_dtn.py::test_dtn3_throughput_per_attachment_against_native", "bridge-shaped", [], (
        "test_dtn3_throughput_per_attachment_against_native", "DTN-3: bridge below its share of native")),
]


# A reference lab need not be full size to give the lab's verdicts over SSH (CI time).
SMALL_REFERENCES = {"perlmutter-gateways": {"gateways": "4"}, "perlmutter-login": {"logins": "8"},
                    "ncsa-nat": {"computes": "16"}}
# Variants whose fault does not depend on scale, built at the references' small size too.
SMALL_VARIANTS = {"vips-only", "no-pair-sync"}


def commands_seen(lab: Lab) -> list[tuple[str, str]]:
    """Every command the runner asked the site's hosts to run, from each management sshd's log
    (siteproof.cmdlog), read before the lab goes. Commands from other hosts are the site's own
    (the NAT tracker moving computes), not the run's."""
    runner = set(lab.run(VANTAGE, "ip", "-o", "addr", "show").stdout.replace("/", " ").split())
    seen = []
    for log in sorted(lab.dir.glob(f"nodes/*/mgmt-sshd/{COMMANDS_FILE}")):
        node = log.parent.parent.name
        entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        seen += [(node, e["command"]) for e in entries if e.get("from") in runner or not e.get("from")]
    return seen


def probes_own(command: str) -> bool:
    """A disruptive run's own change: a traffic generator (iperf3), a fault and its dead-man undo
    (siteproof's own scripts, nft tables and service manager; `ip link set`, keep_addr_on_down),
    a route pinned for the test's flow and removed after it, a stop of what the run started, or
    NAT-4 clearing the connection state its own connections left in a pool (`conntrack -D`), a ZSK
    rolled by rndc (DNS-9), or a record put in and deleted from etcd (DNS-8)."""
    words = command.replace("'", " ").split()
    return ("iperf3" in words or "kill" in words or "siteproof" in command
            or ("conntrack" in words and "-D" in words) or ("rndc" in words and "dnssec" in words) or "etcdctl" in words
            or ("ip" in words and ("link" in words or "route" in words)) or "keep_addr_on_down" in command)


def seed_secrets(inventory_file: Path) -> list[str]:
    """Put secrets where sites keep them (labels named like secrets on every host, a TSIG seed
    among the parameters) and return every secret value the inventory now holds."""
    doc = yaml.safe_load(inventory_file.read_text())
    seeds = {name: f"SEEDED{name.upper()}{token_hex(6)}" for name in ("bmc_password", "snmp_community", "api_token")}
    for host in doc["hosts"].values():
        host["labels"].update(seeds)
    if not doc["parameters"].get("tsig_seed"):  # the DNS lab's own (a secret too) where it has one
        doc["parameters"]["tsig_seed"] = token_hex(8)
    inventory_file.write_text(yaml.safe_dump(doc))
    return [*seeds.values(), str(doc["parameters"]["tsig_seed"])]


@needs_root
@pytest.mark.slow
@pytest.mark.parametrize(("topology", "suite", "variant", "must_run", "check"), [
    pytest.param(*case, id=f"{case[0]}:{case[2] or 'reference'}",  # one reference per topology
                 marks=pytest.mark.slow(cost=COSTS.get((case[0], case[2]), 100))) for case in CASES])
def test_a_lab_played_as_a_site_gives_the_lab_verdicts(topology, suite, variant, must_run, check, tmp_path):
    small = SMALL_REFERENCES.get(topology, {}) if variant is None or variant in SMALL_VARIANTS else {}
    topo = as_site(load_topology(REPO / "topologies" / topology, small, variant=variant, profile="lab"))
    junit, outputs = tmp_path / "junit.xml", tmp_path / "out"
    outputs.mkdir()
    with Lab(topo, owner_kind="pytest") as lab:
        disruptive = (topology, variant) in DISRUPTIVE
        if disruptive:
            wait_settled(lab)  # handed over converged, as a site is found: the pre snapshot is taken first
        site = inventory(lab, tmp_path / "inventory.yml", faults=DISRUPTIVE.get((topology, variant)) or None)
        secrets_ = seed_secrets(site)
        allow = ["--allow-disruptive"] if disruptive else []
        run = run_child_pytest([*shlex.split(suite), "--site", str(site), *allow, "-p", "no:randomly", f"--junitxml={junit}", "-q", "-o", "addopts=",
                                f"--html={outputs / 'report.html'}", "--self-contained-html",
                                f"--measurements-json={outputs / 'measurements.json'}"],
                               cwd=REPO, timeout=CHILD_TIMEOUT_S, prefix=("ip", "netns", "exec", lab.ns(VANTAGE)))
        commands = commands_seen(lab)
    assert not run.timed_out, f"{topology} as a site: its pytest ran past {CHILD_TIMEOUT_S} s\n{run.stdout[-2000:]}"
    assert junit.is_file(), f"{topology} as a site: pytest wrote no report\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    assert commands, f"{topology} as a site: no command reached any host's management sshd"
    writes = {f"{node}: {command[:200]}": why for node, command in commands if (why := readonly.not_read_only(command))
              and not (disruptive and probes_own(command))}
    assert not writes, f"{topology} as a site: a run sent commands outside the read-only allowlist: {writes}"
    if disruptive and check is None:
        assert "the site was left as found" in run.stdout, f"{topology} as a site: no clean pre/post snapshot\n{run.stdout[-2000:]}"
    if disruptive and check is None and DISRUPTIVE[(topology, variant)]:
        # What was done to the site is in the report: each fault and its undo, with the host's time.
        rows = fault_rows((outputs / "report.html").read_text())
        assert rows, f"{topology} as a site: faults were allowed, yet the report has no '{FAULT_TABLE}' table"
        host_time = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ UTC")  # the host's clock, not the runner's
        assert all(host_time.fullmatch(r[0]) for r in rows), f"{topology}: a fault row without its host time: {rows[:5]}"
        kinds = {r[2] for r in rows}
        not_undone = [k for k, undos in UNDONE_BY.items() if k in kinds and not kinds & {*undos, f"undo of {k}"}]
        assert kinds & set(UNDONE_BY) and not not_undone, f"{topology} as a site: faults without their undo in the report: " \
                                                          f"{not_undone or 'no fault at all'} (rows: {sorted(kinds)})"
    leaked = {f.name: [s for s in secrets_ if s in f.read_text(errors="replace")] for f in [junit, *outputs.iterdir()]}
    assert not any(leaked.values()), f"{topology} as a site: secrets of the inventory in the outputs: {leaked}"
    private = {f.name: oct(f.stat().st_mode & 0o777) for f in [junit, *outputs.iterdir()] if f.stat().st_mode & 0o077}
    assert not private, f"{topology} as a site: outputs others can read: {private}"
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    outcomes = {name: verdict(case) for name, case in cases.items()}
    if check is None:
        ran = {n: o for n, o in outcomes.items() if o.outcome != "skipped"}
        bad = {n: f"{o.outcome}: {o.message[:300]}" for n, o in ran.items() if o.outcome != "passed"}
        assert not bad, f"{topology} as a site: read-only tests that pass in the lab did not: {bad}"
        missing = [t for t in must_run if t not in ran]
        skips = {n: o.message[:200] for n, o in outcomes.items() if o.outcome == "skipped"}
        assert not missing, f"{topology} as a site: skipped what a site run must run: {missing} (skips: {skips})"
    else:
        for test, phrase in check if isinstance(check, list) else [check]:  # one check, or a list of them
            why = failed_for(verdict(cases.get(test)), phrase)
            assert why is None, f"{topology} variant {variant} as a site: {test}: {why}"


# A fault's kind in the report, and the kinds of row that undo it (the test's own, or the
# fixture's "undo of ..." when the test ends).
UNDONE_BY = {"cable pull": ("cable restore",), "host freeze": ("host thaw",), "clean stop": ("daemon start",),
             "rules added": ("rules removed",), "power off": ("power on",)}


def fault_rows(page: str) -> list[list[str]]:
    """The rows (host time, host, what, detail) of every fault table in a report's evidence."""
    found = []
    for table in re.findall(rf"<p><b>{re.escape(FAULT_TABLE)}</b></p><table>(.*?)</table>", page, flags=re.S):
        for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
            found.append([html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)])
    return found


@needs_root
def test_two_nightly_runs_show_a_change_since_the_last_run_and_in_compare(tmp_path):
    """Nightly against a lab played as a site, twice; between them gw01's VIP is also configured
    by hand on gw02 (a deliberate change, as an operator's mistake; keepalived would put back a
    VIP taken off its holder, not remove one it does not manage): the second report's "since the
    last run" section and `siteproof compare` of the two folders both show GW-1 failing now."""
    topo = as_site(load_topology(REPO / "topologies" / "perlmutter-gateways", {"gateways": "4"}, profile="lab"))
    history_dir, test = tmp_path / "history", "suites/gateways/test_gateways.py::test_gw1_every_vip_has_exactly_one_holder"
    with Lab(topo, owner_kind="pytest") as lab:
        site = inventory(lab, tmp_path / "inventory.yml")

        def nightly() -> subprocess.CompletedProcess[str]:
            return subprocess.run(["ip", "netns", "exec", lab.ns(VANTAGE), sys.executable, "-m", "siteproof.cli", "nightly",
                                   "--site", str(site), "--history", str(history_dir), test],
                                  cwd=REPO, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False)

        first = nightly()
        vip = topo.nodes["gw01"].labels["hsn_vip"]
        ifname, prefixlen = next((i["ifname"], a["prefixlen"]) for i in json.loads(lab.run("gw01", "ip", "-j", "addr", "show").stdout)
                                 for a in i.get("addr_info", []) if a.get("local") == vip)
        lab.run("gw02", "ip", "addr", "add", f"{vip}/{prefixlen}", "dev", ifname)
        second = nightly()
    assert first.returncode == 0, f"the first nightly run failed:\n{first.stdout[-2000:]}{first.stderr[-1000:]}"
    assert second.returncode == 1, f"the second nightly run (a VIP held twice) exited {second.returncode}:\n{second.stdout[-2000:]}"
    runs = sorted(p for p in history_dir.iterdir() if p.is_dir())
    assert len(runs) == 2, f"expected two run folders, found {[p.name for p in runs]}"
    for run in runs:
        for name in ("junit.xml", "measurements.json", "report.html"):
            assert (run / name).is_file(), f"{run.name}: no {name}"
    since = (runs[1] / "report.html").read_text()
    assert "Since the last run" in since and "1 new failures" in since, "the second report does not show the new failure"
    assert "GW-1" in since.split("Since the last run", 1)[1].split("Verdicts per test", 1)[0], "GW-1 is not in its SPEC-ID table"
    compared = subprocess.run([sys.executable, "-m", "siteproof.cli", "compare", str(runs[0]), str(runs[1])],
                              cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert compared.returncode == 1, f"a new failure must fail the comparison: {compared.stdout}{compared.stderr}"
    page = (runs[1] / "compare.html").read_text()
    assert "test_gw1_every_vip_has_exactly_one_holder" in page and "1 new failures" in page, page[:2000]
