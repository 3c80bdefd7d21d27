"""Containerlab files in: three labs written the way containerlab's documentation writes them
(tests/data/clab/, not made by siteproof) load, build in namespaces with their exec commands and
binds, behave as their commands say, and leave nothing behind; unsupported keys are one error."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from siteproof.backends.netns.lab import Lab
from siteproof.errors import LabError, TopologyError
from siteproof.topology import load_topology
from tests.helpers import lab_leftovers, needs_root, root_snapshot

CLAB = Path(__file__).resolve().parent / "data" / "clab"


def _folder(tmp_path: Path, name: str, find: str = "", replace: str = "") -> Path:
    folder = tmp_path / name
    shutil.copytree(CLAB / name, folder)
    path = next(folder.glob("*.clab.yml"))
    text = path.read_text()
    assert find in text
    path.write_text(text.replace(find, replace))
    return folder


def test_leading_address_route_and_sysctl_commands_become_the_nodes_data():
    topo = load_topology(CLAB / "routed")
    router, h1, h2 = topo.nodes["router"], topo.nodes["h1"], topo.nodes["h2"]
    assert [str(a) for a in router.interfaces["eth1"].addresses] == ["10.82.1.1/24"]
    assert router.sysctls == {"net.ipv4.ip_forward": "1"} and router.exec == ()
    assert [(r.dst, r.via) for r in h1.routes][-1] == ("10.82.2.0/24", ("10.82.1.1",))
    # From the first command that is not plain data on, the rest runs as written, in order.
    assert h2.interfaces["eth1"].mtu == 1400 and h2.exec[0].startswith("bash -c") and len(h2.exec) == 2
    assert h2.env == {"SITE": "hpc", "ROLE": "server"}  # the kind's env, then the node's
    assert router.image == "ghcr.io/srl-labs/network-multitool"  # recorded from kinds.linux
    assert router.labels == {"role": "router", "graph-level": "1"}
    assert str(router.interfaces["eth0"].addresses[0]) == "10.81.0.10/24"  # mgmt-ipv4
    assert str(h1.interfaces["eth0"].addresses[0]) == "10.81.0.2/24"  # the next free one


def test_network_mode_none_and_bridges_and_extended_links():
    topo = load_topology(CLAB / "firewall")
    assert "eth0" not in topo.nodes["guest"].interfaces
    assert topo.nodes["lan"].kind == "bridge"
    assert {(str(link.a), str(link.b)) for link in topo.links} >= {("fw:eth1", "lan:lan-fw")}
    source, target, mode = topo.nodes["fw"].binds[0].split(":")
    assert Path(source) == CLAB / "firewall" / "fw" / "ruleset.nft" and target.startswith("/etc/") and mode == "ro"


@pytest.mark.parametrize(("find", "replace", "where", "says"), [
    ("      group: hosts\n      exec:\n        - ip addr add 10.82.1.10",
     "      cmd: /bin/sh\n      exec:\n        - ip addr add 10.82.1.10", "topology.nodes.h1.cmd", "'cmd' is not supported"),
    ("    router:\n      kind: linux", "    router:\n      kind: nokia_srlinux", "topology.nodes.router.kind", "nokia_srlinux"),
    ('["router:eth2", "h2:eth1"]', '["router:eth2", "host:veth-h2"]', "topology.links[1].endpoints[1]", "host are not supported"),
    ('["router:eth2", "h2:eth1"]', '["router:eth0", "h2:eth1"]', "topology.links[1].endpoints[0]", "management interface"),
    ("  ipv4-subnet: 10.81.0.0/24", "  ipv4-subnet: 10.81.0.0/24\n  mtu: 1500", "mgmt.mtu", "not supported"),
    ("name: routed", "name: Routed_Lab", "name", "lower-case"),
])
def test_what_the_import_does_not_support_is_one_error_naming_the_key(tmp_path, find, replace, where, says):
    folder = _folder(tmp_path, "routed", find, replace)
    with pytest.raises(TopologyError) as caught:
        load_topology(folder)
    assert caught.value.key == where and says in str(caught.value), str(caught.value)


def test_a_missing_bind_source_and_a_second_topology_file_are_errors(tmp_path):
    folder = _folder(tmp_path, "firewall")
    (folder / "fw" / "ruleset.nft").unlink()
    with pytest.raises(TopologyError, match=r"bind source .* does not exist"):
        load_topology(folder)
    folder = _folder(tmp_path / "second", "two-hosts")
    (folder / "topology.yml").write_text("name: x\n")
    with pytest.raises(TopologyError, match="keep one of them"):
        load_topology(folder)


@needs_root
def test_two_hosts_reach_each_other_in_both_families_and_over_management(tmp_path):
    before = root_snapshot()
    with Lab(load_topology(CLAB / "two-hosts")) as lab:
        for target in ("10.80.1.2", "2001:db8:80:1::2", "172.20.20.3"):
            assert lab.run("client1", "ping", "-c1", "-w5", target, check=False).returncode == 0, target
        lab_id = lab.id
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}
    assert root_snapshot() == before


@needs_root
def test_routed_lab_runs_its_shell_commands_with_the_nodes_env(tmp_path):
    with Lab(load_topology(CLAB / "routed")) as lab:
        # h2's way back is set by a `bash -c` exec; its last exec fails unless env reached it.
        assert lab.run("h1", "ping", "-c1", "-W2", "10.82.2.10", check=False).returncode == 0
        assert "mtu 1400" in lab.run("h2", "ip", "link", "show", "eth1").stdout
        assert "$ sh -c" in (lab.node_dir("h2") / "exec.log").read_text()


@needs_root
def test_firewall_loads_its_bound_ruleset_without_touching_the_machine(tmp_path):
    with Lab(load_topology(CLAB / "firewall")) as lab:
        assert "clabfw" in lab.run("fw", "nft", "list", "tables").stdout
        assert lab.run("trusted", "ping", "-c1", "-W2", "10.83.0.1", check=False).returncode == 0
        assert lab.run("guest", "ping", "-c1", "-W1", "10.83.0.1", check=False).returncode != 0
    assert not Path("/etc/siteproof-clab-fw").exists(), "the bind's target was made on the machine, not in the lab"


@needs_root
def test_a_failing_exec_command_stops_the_build_naming_it_and_leaves_nothing(tmp_path):
    folder = _folder(tmp_path, "routed", "sh -c 'test \"$SITE-$ROLE\" = hpc-server'", "sh -c 'echo no such thing >&2; exit 3'")
    lab = Lab(load_topology(folder))
    with pytest.raises(LabError) as caught:
        lab.up()
    message = str(caught.value)
    assert "node h2: exec \"sh -c 'echo no such thing" in message and "exited 3" in message and "no such thing" in message, message
    assert lab_leftovers(lab.id) == {"namespaces": [], "state": []}


@needs_root
def test_a_daemon_line_that_runs_as_written_starts_the_daemon_as_in_a_container(tmp_path):
    # After a command that is not node data, the export's daemon line runs as containerlab would
    # run it: `python3 -m siteproof.node daemon` starts whoami from its bound config, ready.
    (tmp_path / "whoami.conf").write_text("bind=10.84.0.1\ntcp=7\nudp=7\nhttp=80\n")
    (tmp_path / "node.clab.yml").write_text(f"""
name: node-daemon
topology:
  nodes:
    server:
      kind: linux
      env: {{SITEPROOF_NODE_RUN: {tmp_path / "run"}}}
      binds: ["whoami.conf:/etc/siteproof/whoami.conf:ro"]
      exec:
        - ip addr add 10.84.0.1/24 dev eth1
        - "true"
        - {sys.executable} -m siteproof.node daemon whoami /etc/siteproof/whoami.conf
    client:
      kind: linux
      exec: ["ip addr add 10.84.0.2/24 dev eth1"]
  links:
    - endpoints: ["server:eth1", "client:eth1"]
""")
    topo = load_topology(tmp_path)
    assert not topo.nodes["server"].daemons and len(topo.nodes["server"].exec) == 2
    with Lab(topo) as lab:
        assert "whoami ready" in (lab.node_dir("server") / "exec.log").read_text()
        answer = lab.run("client", "curl", "-s", "-m", "3", "http://10.84.0.1/", check=False).stdout
        assert answer.startswith("seen 10.84.0.2:"), answer
        lab_id = lab.id
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}
