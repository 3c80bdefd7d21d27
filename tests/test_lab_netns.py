"""The netns backend: what a lab builds, that the root namespace is untouched, and clean-up."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from siteproof.backends.netns import lab_site, labdir, registry
from siteproof.backends.netns import namespaces as netns
from siteproof.backends.netns.lab import Lab
from siteproof.probes.flowcount import FlowCounters
from siteproof.routechanges import route_changes
from siteproof.topology import load_topology
from tests.helpers import REPO, TWO_HOSTS, lab_leftovers, machine_sysctls, make_topology, needs_root, root_snapshot

pytestmark = needs_root

ROUTED = TWO_HOSTS.replace(
    "      labels: {role: client}",
    "      labels: {role: client}\n"
    "      sysctls: {net.ipv4.fib_multipath_hash_policy: 1}\n"
    "      routes:\n"
    "        - {dst: 10.77.0.0/16, via: [10.9.0.2, 10.9.0.3]}\n"
    "        - {dst: 2001:db8:77::/48, via: 2001:db8:9::2}",
)


def test_lab_builds_addresses_routes_sysctls_and_leaves_nothing(tmp_path):
    before = root_snapshot()
    topo = load_topology(make_topology(tmp_path, ROUTED))
    with Lab(topo) as lab:
        a = lab.run("a", "ip", "-j", "addr", "show", "dev", "eth1").stdout
        addrs = {i["local"] for i in json.loads(a)[0]["addr_info"]}
        assert {"10.9.0.1", "2001:db8:9::1"} <= addrs
        routes = json.loads(lab.run("a", "ip", "-j", "route", "show", "10.77.0.0/16").stdout)
        assert sorted(h["gateway"] for h in routes[0]["nexthops"]) == ["10.9.0.2", "10.9.0.3"]
        assert lab.run("a", "ip", "-6", "route", "show", "2001:db8:77::/48").stdout.strip()
        assert lab.run("a", "sysctl", "-n", "net.ipv4.fib_multipath_hash_policy").stdout.strip() == "1"
        assert lab.run("b", "sysctl", "-n", "net.ipv4.fib_multipath_hash_policy").stdout.strip() == "0"
        assert lab.run("a", "ping", "-c1", "-W2", "10.9.0.2").returncode == 0
        assert lab.run("a", "ping", "-c1", "-W2", "2001:db8:9::2").returncode == 0
        assert root_snapshot() == before, "a running lab changed the root namespace"
        lab_id = lab.id
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}
    assert root_snapshot() == before


def test_a_labs_folder_is_a_tmpfs_of_its_own_on_a_disk_and_goes_with_the_lab(tmp_path):
    """On a machine whose /run is on disk, a lab's hundreds of small files go to a tmpfs mounted
    for it alone (0.007 ms a file, not 0.6 ms), which goes when the lab does."""
    folder_parent = registry.STATE_ROOT
    folder_parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with Lab(load_topology(make_topology(tmp_path))) as lab:
        if labdir.on_tmpfs(folder_parent):
            assert not netns.is_mount_point(str(lab.dir)), f"{lab.dir} is mounted though {folder_parent} is a tmpfs already"
        else:
            assert netns.is_mount_point(str(lab.dir)) and labdir.on_tmpfs(lab.dir), f"{lab.dir} is not a tmpfs of its own"
            assert lab.dir.stat().st_mode & 0o777 == 0o700, "the lab's folder (secrets inside) is not private"
        assert (lab.dir / "state.json").is_file(), "the lab's state is not in its folder"
        lab_id = lab.id
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}


def test_failed_build_leaves_nothing(tmp_path):
    # A link-local next hop without a device: no validation rule refuses it, the kernel does.
    topo = load_topology(make_topology(tmp_path, ROUTED.replace("via: 2001:db8:9::2", "via: fe80::99")))
    lab = Lab(topo)
    try:
        lab.up()
    except Exception as exc:  # netlink refuses the route
        assert "configuring node a failed" in str(exc)
    else:
        lab.down()
        raise AssertionError("a route via an off-link next hop should not build")
    assert lab_leftovers(lab.id) == {"namespaces": [], "state": []}


def test_reap_keeps_live_labs_and_removes_dead_ones(tmp_path, private_state):
    topo = load_topology(make_topology(tmp_path))
    with Lab(topo) as live:
        dead = registry.claim("dead00", "tiny", None, "pytest", owner_pid=_dead_pid())
        from siteproof.backends.netns import namespaces as netns

        worker = netns.NetnsWorker()
        try:
            worker.create(registry.namespace_name("dead00", "x"))
        finally:
            worker.close()
        reaped = registry.reap().removed
        assert "dead00" in reaped and live.id not in reaped
        assert registry.lab_namespaces("dead00") == []
        assert registry.lab_namespaces(live.id), "reap removed a live lab"
        assert not dead.dir.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


KEEPALIVED = """vrrp_instance V1 {
    state BACKUP
    interface eth1
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        10.9.0.50/24
    }
}
"""


def test_lab_folder_and_secret_bearing_configs_are_private(tmp_path):
    folder = make_topology(tmp_path, ROUTED.replace("      labels: {role: server}",
                                                    "      labels: {role: server}\n      daemons: {keepalived: {config: k.conf}}"))
    (folder / "k.conf").write_text(KEEPALIVED)
    with Lab(load_topology(folder)) as lab:
        config = lab.daemon("b", "keepalived").config_path
        assert oct(lab.dir.stat().st_mode & 0o777) == "0o700"
        assert oct(config.stat().st_mode & 0o777) == "0o600"
        assert oct(config.parent.stat().st_mode & 0o777) == "0o700"


SMALL = {"perlmutter-gateways": {"gateways": "2", "computes": "1"}, "perlmutter-login": {}, "perlmutter-dns": {}, "perlmutter-can": {},
         "ncsa-nat": {"computes": "4"}, "alice-epn": {"epns": "1"}, "alice-ce": {"workers": "1"},
         "scinet-dtn": {}}


@pytest.mark.slow
def test_every_built_in_topology_leaves_the_machine_sysctls_as_they_were_and_no_process():
    """Build and tear down each built-in topology (small where it scales): no sysctl of the
    machine itself (kernel.*, vm.*, fs.*) differs afterwards, and the root namespace neither;
    and when the teardown returns, no process the lab had is left, not even as a zombie (its
    launcher stops and reaps its daemons and what they left: nothing waits on init)."""
    topologies = sorted(p.name for p in (REPO / "topologies").iterdir() if (p / "topology.yml").is_file())
    assert set(topologies) <= set(SMALL), f"add the new topologies to SMALL: {set(topologies) - set(SMALL)}"
    before, root_before = machine_sysctls(), root_snapshot()
    for name in topologies:
        with Lab(load_topology(REPO / "topologies" / name, SMALL[name])) as lab:
            had = netns.pids_by_namespace(registry.lab_namespaces(lab.id))
            if lab.launcher is not None:
                had.setdefault("launcher", []).append(lab.launcher.proc.pid)
        left = {ns: [p for p in pids if Path(f"/proc/{p}").exists()] for ns, pids in had.items()}
        assert not any(left.values()), f"{name}: processes left when the teardown returned: {left}"
    after = machine_sysctls()
    changed = {k: (before[k].strip(), after.get(k, "<gone>").strip()) for k in before if after.get(k) != before[k]}
    assert not changed, f"lab runs changed the machine's sysctls: {dict(list(changed.items())[:5])}"
    assert root_snapshot() == root_before


LAG = """
name: laggy
topology:
  nodes:
    fabric: {kind: bridge, lag: {members: [p-r1, p-r2], mac: "02:00:00:00:00:aa"}}
    c:
      kind: linux
      interfaces:
        eth1: {addresses: ["10.9.0.10/24"]}
      routes:
        - {dst: 10.77.0.0/16, via: 10.9.0.1}
{% for r in ['r1', 'r2'] %}
    {{ r }}:
      kind: linux
      interfaces:
        eth1: {addresses: ["10.9.0.1/24"], anycast: true, mac: "02:00:00:00:00:aa"}
      routes:
        - {dst: 10.77.0.0/16, dev: lo}
{% endfor %}
  links:
    - endpoints: ["c:eth1", "fabric:p-c"]
    - endpoints: ["r1:eth1", "fabric:p-r1"]
    - endpoints: ["r2:eth1", "fabric:p-r2"]
"""


def test_a_lag_spreads_flows_over_its_live_members_only(tmp_path):
    """Two hosts with one address and one MAC behind a LAG: flows from the client reach both;
    with one member's cable pulled, they all reach the other."""
    topo = load_topology(make_topology(tmp_path, LAG, name="laggy"))
    with Lab(topo) as lab:
        def received() -> dict[str, int]:
            return {r: int(lab.run(r, "cat", "/sys/class/net/eth1/statistics/rx_packets").stdout) for r in ("r1", "r2")}

        def send(base: int) -> dict[str, int]:
            before = received()
            script = (f"import socket\nfor p in range({base}, {base + 64}):\n s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                      " s.bind(('10.9.0.10', p)); s.sendto(b'x', ('10.77.0.1', 9)); s.close()\n")
            lab.run("c", "python3", "-c", script)
            after = received()
            return {r: after[r] - before[r] for r in after}

        both = send(20000)
        assert both["r1"] > 0 and both["r2"] > 0, f"the LAG sent flows to one member only: {both}"
        lab.set_link("r1", "eth1", up=False)
        one = send(30000)
        assert one["r1"] == 0 and one["r2"] >= 64, f"a member whose cable is pulled still got frames: {one}"
        lab.set_link("r1", "eth1", up=True)
        again = send(40000)
        assert again["r1"] > 0, f"a member whose cable is back got nothing: {again}"


@needs_root
def test_flow_counters_reset_to_fresh_sets_and_total_every_packet(tmp_path):
    """Real nft in a lab node: a reset leaves no flow and no packet counted, and the per-host
    total adds up to the packets of the flows kept (ECMP-3's check for lost set elements)."""
    with Lab(load_topology(make_topology(tmp_path))) as lab, FlowCounters({"a": lab.host("a")}, hook="output") as counted:

        def send(sports: range) -> None:
            lab.run("a", "python3", "-c", "import socket,sys\nfor p in sys.argv[1:]:\n"
                    " s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('10.9.0.1',int(p)));"
                    " s.sendto(b'x',('10.9.0.2',9)); s.sendto(b'x',('10.9.0.2',9))", *map(str, sports))

        send(range(40000, 40003))
        counted.reset()
        assert counted.read() == {"a": {}} and counted.totals() == {"a": 0}
        send(range(41000, 41010))
        flows = counted.read()["a"]
        assert sorted(f.sport for f in flows) == list(range(41000, 41010)) and set(flows.values()) == {2}
        assert counted.totals() == {"a": 20}


def test_a_route_change_in_a_node_ends_a_pause_at_once(tmp_path):
    """siteproof.routechanges through the backend's sockets: once node b's own late changes
    have died down (its IPv6 link-local routes come after the build, later under load: CI
    run 87), a pause runs its time, and a route added in b ends a long pause at once."""
    with Lab(load_topology(make_topology(tmp_path))) as lab, route_changes(lab_site(lab), ["b"]) as changes:
        assert changes.heard
        quiet_by = time.monotonic() + 20
        while changes.pause(0.5):
            assert time.monotonic() < quiet_by, "node b's routes never stopped changing"
        threading.Timer(0.2, lambda: lab.run("b", "ip", "route", "add", "10.88.0.0/24", "via", "10.9.0.1")).start()
        began, heard = time.monotonic(), changes.changes
        assert changes.pause(10.0) is True
        assert time.monotonic() - began < 2.0 and changes.changes == heard + 1


def test_route_changes_without_sockets_is_a_plain_sleep():
    """A backend that cannot open sockets in a node (a site over SSH): nothing is heard, and
    a pause sleeps its time (the wait polls). The backend is a stand-in that says so."""
    site = SimpleNamespace(backend=SimpleNamespace(capabilities=frozenset()))
    with route_changes(site, ["r1"]) as changes:  # type: ignore[arg-type]
        assert not changes.heard
        began = time.monotonic()
        assert changes.pause(0.1) is False
        assert time.monotonic() - began >= 0.1
