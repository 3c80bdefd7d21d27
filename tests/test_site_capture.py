"""Captures and traffic at a lab played as a site, through the SSH backend: tcpdump runs on the
host, its pcap comes back over SSH and scapy reads it here; stopping it leaves no tcpdump on the
host, and a runner killed mid-capture leaves none past the capture's time-to-live. Bursts of
flows, a listener and a long echoed stream are run by the hosts themselves and report back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from siteproof import budgets
from siteproof.backends.netns import Lab
from siteproof.backends.netns.as_site import VANTAGE, as_site, inventory
from siteproof.topology import load_topology
from siteproof.wait import wait_until
from tests.helpers import REPO, needs_root

TTL_S = 3.0
# The runner in the vantage: a capture of ICMP on ce's eth0, over SSH, until told to stop.
RUNNER = """
import sys
from pathlib import Path
from scapy.layers.inet import ICMP
from siteproof.backends.ssh import inventory_site
from siteproof.probes.capture import Capture, packets
site = inventory_site(sys.argv[1])
out = Path(sys.argv[2])
with Capture(site.backend, "ce", out, "icmp", ifname="eth0", ttl=float(sys.argv[3])):
    print("LISTENING", flush=True)
    sys.stdin.readline()
print("ECHOES", sum(1 for p in packets(out) if ICMP in p), flush=True)
"""


# The runner in the vantage: 200 TCP connections, a relayed connection (accepted, then one refused)
# and an echoed stream from scanner to cs, each end run by its host over SSH (the ssh backend offers
# no sockets in nodes).
TRAFFIC = """
import json, sys, time
from siteproof.backends.base import SOCKETS
from siteproof.backends.ssh import inventory_site
from siteproof.probes.flows import open_tcp_flows, send_udp_flows
from siteproof.probes.relay import connect_from
from siteproof.probes.traffic import tcp_accepts, tcp_stream
from siteproof.wait import wait_until
site = inventory_site(sys.argv[1])
src, dst = sys.argv[2], sys.argv[3]
backend = site.backend
assert SOCKETS not in backend.capabilities
sports = list(range(50000, 50200))
with tcp_accepts(backend, "cs", dst, 47400) as accepts:
    run = open_tcp_flows(backend, "scanner", src, dst, 47400, sports)
    wait_until(lambda: accepts.count >= 200, "flows_counted", expected="200 connections accepted")
    accepted = accepts.count
    # A connection the host makes and relays here: cs accepts and closes it, so it reads its end.
    relayed = connect_from(backend, "scanner", (src, 50300), (dst, 47400), 5)
    relayed.settimeout(10)
    relayed_end = relayed.recv(10)
    relayed.close()
try:
    connect_from(backend, "scanner", (src, 50301), (dst, 47409), 5)
    refused = "connected"
except OSError as exc:
    refused = str(exc)
udp = send_udp_flows(backend, "scanner", src, dst, 47401, sports[:50])
with tcp_stream(backend, "scanner", "cs", src, dst, 41000, 47402, interval=0.01) as stream:
    begun = time.monotonic()
    wait_until(lambda: stream.received_since(begun) >= 50, "traffic_resume", expected="the stream echoing")
    result = stream.stop()
print(json.dumps({"failed": run.failed, "accepted": accepted, "udp_failed": udp.failed, "sent": result.records_sent,
                  "echoed": result.records_received, "error": result.error, "gap_ms": result.max_gap_ms,
                  "relayed_end": relayed_end.decode(), "refused": refused}))
"""


def _runner(lab: Lab, inventory_file: Path, pcap: Path, ttl: float) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", lab.ns(VANTAGE), sys.executable, "-c", RUNNER, str(inventory_file), str(pcap),
                             f"{ttl:g}"], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _programs(lab: Lab, node: str) -> set[str]:
    """The names of the processes in the node's network namespace now."""
    pids = subprocess.run(["ip", "netns", "pids", lab.ns(node)], capture_output=True, text=True, check=False).stdout.split()
    names = set()
    for pid in pids:
        try:
            names.add(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue  # ended since the listing
    return names


@pytest.fixture(scope="module")
def ce_site(tmp_path_factory):
    topo = as_site(load_topology(REPO / "topologies" / "alice-ce", {}, profile="lab"))
    with Lab(topo, owner_kind="pytest") as lab:
        tmp = tmp_path_factory.mktemp("site-capture")
        yield lab, inventory(lab, tmp / "inventory.yml"), tmp


def _address(lab: Lab, node: str = "ce") -> str:
    return lab.run(node, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout.split()[3].split("/")[0]


@needs_root
@pytest.mark.slow
def test_a_capture_over_ssh_sees_the_hosts_packets_and_leaves_no_tcpdump(ce_site):
    lab, site, tmp = ce_site
    run = _runner(lab, site, tmp / "echo.pcap", 600)
    try:
        line = run.stdout.readline()
        assert line.startswith("LISTENING"), f"{line}{run.stderr.read() if run.poll() is not None else ''}"
        assert "tcpdump" in _programs(lab, "ce"), "tcpdump is not running on the host"
        lab.run("ingress", "ping", "-c", "3", "-i", "0.2", "-W", "2", _address(lab))  # over the spine segment
        out, err = run.communicate("\n", timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 0, f"{out}\n{err}"
    echoes = int(out.split("ECHOES", 1)[1].split()[0])
    assert echoes >= 6, f"3 pings to ce: {echoes} ICMP packets in the capture that came back over SSH"
    left = wait_until(lambda: "tcpdump" not in _programs(lab, "ce"), "daemon_exit", expected="no tcpdump on ce").value
    assert left


@needs_root
@pytest.mark.slow
def test_a_runner_killed_mid_capture_leaves_no_tcpdump_past_the_time_to_live(ce_site):
    lab, site, tmp = ce_site
    run = _runner(lab, site, tmp / "killed.pcap", TTL_S)
    try:
        line = run.stdout.readline()
        assert line.startswith("LISTENING"), f"{line}{run.stderr.read() if run.poll() is not None else ''}"
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the runner and its ssh die: nobody stops the capture from here
        run.wait()
    gone = wait_until(lambda: "tcpdump" not in _programs(lab, "ce"), "deadman_heal",
                      seconds=TTL_S + budgets.entry("deadman_heal").default, expected="no tcpdump on ce", interval=0.2)
    assert gone.value


@needs_root
@pytest.mark.slow
def test_flows_and_a_stream_run_by_the_hosts_report_back_over_ssh(ce_site):
    lab, site, _ = ce_site
    run = subprocess.run(["ip", "netns", "exec", lab.ns(VANTAGE), sys.executable, "-c", TRAFFIC, str(site),
                          _address(lab, "scanner"), _address(lab, "cs")], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["failed"] == [] and found["udp_failed"] == [], found
    assert found["accepted"] == 200, f"cs's listener counted {found['accepted']} of 200 connections"
    assert found["error"] is None and found["echoed"] >= 50 and found["echoed"] <= found["sent"], found
    assert found["relayed_end"] == "", f"a relayed connection to cs's listener: {found}"
    assert "ConnectionRefusedError" in found["refused"] and "scanner" in found["refused"], found["refused"]
    # Nothing of the listener, echo server or stream client stays on either host.
    gone = wait_until(lambda: not {"python3"} & (_programs(lab, "cs") | _programs(lab, "scanner")), "daemon_exit",
                      expected="no shipped script left on cs or scanner")
    assert gone.value
