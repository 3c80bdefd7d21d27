"""The CAN policy's expected verdicts and the probe services' parser: pure logic, no lab."""

from __future__ import annotations

import pytest

from siteproof.areas.can.policy import Policy, expectation
from siteproof.probes.reach import Service, services

POLICY = Policy(mfa_zones=("mfa", "mgmtvm"), can_services=tuple(services("tcp/22,udp/53,tcp/53,udp/123")), api_port=443)


@pytest.mark.parametrize(("src", "dst", "role", "service", "expected"), [
    ("mfa", "can", "ncn", "tcp/22", ("CAN-1", True)),
    ("mgmtvm", "can", "ncn", "udp/123", ("CAN-1", True)),
    ("users", "can", "ncn", "tcp/22", ("CAN-1", False)),
    ("outside", "can", "ncn", "udp/53", ("CAN-1", False)),
    ("mfa", "can", "ncn", "tcp/8080", ("CAN-2", False)),
    ("can", "dc", "dc-services", "udp/123", ("CAN-2", True)),
    ("can", "dc", "dc-services", "tcp/8080", ("CAN-2", False)),
    ("mgmtvm", "can", "api-gateway", "tcp/443", ("CAN-3", True)),
    ("mfa", "can", "api-gateway", "tcp/443", ("CAN-3", False)),
    ("mgmtvm", "extmgmt", "bmc", "tcp/443", ("MGMT-1", True)),
    ("mfa", "extmgmt", "bmc", "tcp/443", ("MGMT-1", False)),
    ("can", "extmgmt", "switch-management", "tcp/22", ("MGMT-1", False)),
])
def test_each_cell_gets_the_papers_verdict(src, dst, role, service, expected):
    behaviour, reached, why = expectation(POLICY, src, dst, role, Service.parse(service))
    assert (behaviour, reached) == expected and why


def test_cells_inside_one_zone_and_outside_the_design_are_left_out():
    assert expectation(POLICY, "can", "can", "api-gateway", Service.parse("tcp/443")) is None
    assert expectation(POLICY, "mfa", "dc", "dc-services", Service.parse("tcp/22")) is None


@pytest.mark.parametrize("bad", ["ssh/22", "tcp/0", "tcp/65536", "udp/x", "22"])
def test_a_malformed_service_is_refused(bad):
    with pytest.raises(ValueError, match="is not a service"):
        Service.parse(bad)


def test_the_prefixes_just_outside_a_can_are_its_neighbours_their_halves_and_its_aggregate():
    from siteproof.prefixes import prefixes_just_outside

    assert prefixes_just_outside("10.103.0.0/24") == [
        "10.102.255.0/24", "10.102.255.0/25", "10.103.1.0/24", "10.103.1.0/25", "10.103.0.0/23", "198.18.0.0/24"]


def test_the_edges_of_the_address_space_and_a_can_around_the_far_prefix_are_handled():
    from siteproof.prefixes import prefixes_just_outside

    assert prefixes_just_outside("0.0.0.0/1") == ["128.0.0.0/1", "128.0.0.0/2", "0.0.0.0/0", "198.18.0.0/24"]
    assert "198.18.0.0/24" not in prefixes_just_outside("198.18.0.0/16")


def test_a_fair_hash_rarely_leaves_a_link_this_short():
    from siteproof.areas.can.edge import fair_tail

    assert fair_tail(32, 64, 2) > 0.5  # an even split is likely
    assert fair_tail(64, 64, 2) == 1.0
    assert 1e-4 < fair_tail(22, 64, 2) < 1e-2  # within chance of a fair hash, not judged short
    assert fair_tail(4, 64, 2) < 1e-12  # 1:15 weights
    assert fair_tail(0, 0, 2) == 1.0  # an edge router without flows says nothing about its links
