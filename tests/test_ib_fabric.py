"""The IB area's pure parts: the sysfs and partitions.conf readers (on samples in the real
formats), the comparison with the inventory, the lab fabric's rendering, the container
helper's plan and the address monitor's netlink parser. No lab."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from siteproof import containers
from siteproof.areas.ib import fabric, pkeys
from siteproof.probes import addrwatch
from siteproof.topology import load_topology
from tests.helpers import REPO

# What `SYSFS_SCRIPT` prints on a ConnectX-6 host with one SR-IOV VF (the formats of
# /sys/class/infiniband/*/ports/*/pkeys/N and gids/0; unused slots read 0x0000).
SYSFS = """\
/sys/class/infiniband/mlx5_0/ports/1/pkeys/0=0xffff
/sys/class/infiniband/mlx5_0/ports/1/pkeys/1=0x8002
/sys/class/infiniband/mlx5_0/ports/1/pkeys/2=0x0000
/sys/class/infiniband/mlx5_2/ports/1/pkeys/0=0x0001
/sys/class/infiniband/mlx5_2/ports/1/pkeys/1=0x0000
/sys/class/infiniband/mlx5_0/ports/1/gids/0=fe80:0000:0000:0000:ec0d:9a03:0078:2f4c
/sys/class/infiniband/mlx5_2/ports/1/gids/0=fe80:0000:0000:0000:0002:c903:00a1:b2c1
/sys/class/infiniband/mlx5_0/device/net/ib0
/sys/class/infiniband/mlx5_0/device/net/ib0.8002
"""

# OpenSM partitions.conf as its man page writes them: comments, flags, groups, mgid, defmember.
PARTITIONS = """\
# default partition: every CA a full member
Default=0x7fff, ipoib : ALL=full ;
storage=0x0002, ipoib, mtu=5 :
    0xec0d9a0300782f4c=full ;   # spans lines
grid_public=0x0001, ipoib, defmember=limited, mgid=ff12:401b::1 :
    0x0002c90300a1b2c1, 0x0002c903000e0b72=full ;
empty=0x0005 : ;
"""


def test_sysfs_tables_guids_and_netdevs_are_read():
    ports = pkeys.parse_sysfs(SYSFS.splitlines())
    assert ports["mlx5_0/1"].table() == [0xFFFF, 0x8002]
    assert ports["mlx5_0/1"].guid == "ec0d9a0300782f4c"
    assert ports["mlx5_0/1"].netdevs == ["ib0", "ib0.8002"]
    assert ports["mlx5_2/1"].table() == [0x0001] and ports["mlx5_2/1"].netdevs == []
    assert pkeys.port_for(ports, "mlx5_2").guid == "0002c90300a1b2c1"


def test_partitions_conf_is_parsed_with_groups_flags_and_defaults():
    parts = {p.name: p for p in pkeys.parse_partitions(PARTITIONS)}
    assert parts["Default"].pkey == 0x7FFF and parts["Default"].membership("anything") == "full"
    assert parts["storage"].members == {"ec0d9a0300782f4c": "full"}
    grid = parts["grid_public"]
    assert grid.pkey == 0x0001 and grid.members == {"0002c90300a1b2c1": "limited", "0002c903000e0b72": "full"}
    assert parts["empty"].members == {}


def test_a_statement_without_members_separator_is_refused_clearly():
    with pytest.raises(ValueError, match="no ':'"):
        pkeys.parse_partitions("broken=0x0003 ALL=full ;")


def test_tables_and_sm_are_compared_with_the_expected_membership():
    ports = pkeys.parse_sysfs(SYSFS.splitlines())
    expected = pkeys.parse_expected("ib0=0xffff/0x8002 mlx5_2=0x8001")
    problems = pkeys.table_problems("epn01", ports, expected)
    assert problems == ["epn01 mlx5_2: pkey table slot 0 (its default partition) is 0x0001, expected 0x8001"]
    members = {"epn01 mlx5_2": ("0002c90300a1b2c1", [0x8001]), "epn01 ib0": ("ec0d9a0300782f4c", [0xFFFF, 0x8002])}
    sm = pkeys.sm_problems(pkeys.parse_partitions(PARTITIONS), members)
    assert sm == ["epn01 mlx5_2 (GUID 0002c90300a1b2c1): limited member of grid_public in the SM's config, expected full"]


def test_the_lab_fabric_states_what_the_bridges_and_isolated_ports_make():
    topo = load_topology(REPO / "topologies" / "alice-epn", {"epns": "1"})
    files = fabric.render(topo)
    tables = {Path(k).parts[-5]: v for k, v in files["epn01"].items() if k.endswith("/pkeys/0")}
    assert sorted(tables.values()) == ["0x0001\n", "0x0001\n", "0xffff\n"]  # two limited vHCAs, ib0 full in Default
    assert files["ibgw"][next(k for k in files["ibgw"] if k.endswith("/pkeys/0"))] == "0x8001\n"
    parts = {p.name: p for p in pkeys.parse_partitions(files["sm01"]["opensm/partitions.conf"])}
    assert sorted(parts["grid_public"].members.values()) == ["full", "limited", "limited"]
    bad = fabric.render(load_topology(REPO / "topologies" / "alice-epn", {"epns": "1", "limited_as_full": "epn01-c1"}))
    assert sorted(v for k, v in bad["epn01"].items() if k.endswith("/pkeys/0")) == ["0x0001\n", "0x8001\n", "0xffff\n"]


def test_the_container_plan_moves_before_it_addresses_and_routes_last():
    spec = {"attachments": [{"kind": "vhca", "host_if": "vhca0", "ifname": "ib0", "addresses": ["198.51.100.12/24"]}],
            "routes": [{"dst": "default", "via": "198.51.100.1"}]}
    plan = [s.text() for s in containers.steps(spec)]
    assert plan == ["ip link set dev lo up", "ip -n HOST link set dev vhca0 netns {self}", "ip link set dev vhca0 name ib0",
                    "ip addr add 198.51.100.12/24 dev ib0", "ip link set dev ib0 up", "ip route add default via 198.51.100.1"]
    wrong = [s.text() for s in containers.steps({**spec, "order": "address-first"})]
    assert wrong.index("ip -n HOST addr add 198.51.100.12/24 dev vhca0") < wrong.index("ip -n HOST link set dev vhca0 netns {self}")
    mac = containers.steps({"attachments": [{"kind": "macvlan", "parent": "data0", "mode": "bridge", "ifname": "eth0"}]})
    assert [s.text() for s in mac][1:3] == ["ip -n HOST link add link data0 name mv-eth0 type macvlan mode bridge",
                                            "ip -n HOST link set dev mv-eth0 netns {self}"]
    with pytest.raises(ValueError, match="ipvlan"):
        containers.steps({"attachments": [{"kind": "ipvlan", "ifname": "eth0"}]})


def _nlmsg(kind: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body


def _rta(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def test_the_address_monitor_parses_address_and_link_events():
    add = _nlmsg(20, struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, 4) + _rta(2, socket.inet_aton("198.51.100.12")))
    link = _nlmsg(17, struct.pack("=BxHiII", 0, 0, 4, 0, 0) + _rta(3, b"vhca0\0"))
    events = list(addrwatch.parse(add + link))
    assert events == [{"event": "add", "index": 4, "address": "198.51.100.12/24", "family": 4},
                      {"event": "link-del", "index": 4, "ifname": "vhca0"}]
