"""The paper's CAN policy (000, section I) as an expected verdict per (source, destination, service).

- MGMT-1: the external management network answers the management VM alone, and nothing
  routes to it.
- CAN-3: the API gateway answers the management VM alone.
- CAN-1: nothing in the CAN answers the user networks (HSN users, outside) or the data center
  at large; the MFA-secured site networks reach its services.
- CAN-2: what crosses the data center to or from the CAN is NTP, DNS and SSH only.

Zones come from the nodes' `zone` labels. Cells inside one zone are left out: hosts on one
segment reach each other without crossing a DC router, and no ACL of the design is there.
"""

from __future__ import annotations

from dataclasses import dataclass

from siteproof.probes.reach import Probe, Service

MANAGEMENT_VM = "mgmtvm"
USER_ZONES = ("users", "outside")


@dataclass(frozen=True)
class Policy:
    mfa_zones: tuple[str, ...]
    can_services: tuple[Service, ...]
    api_port: int


@dataclass(frozen=True)
class Cell:
    probe: Probe
    behaviour: str
    expect_reached: bool
    why: str


def expectation(policy: Policy, src_zone: str, dst_zone: str, dst_role: str, service: Service) -> tuple[str, bool, str] | None:
    """(SPEC ID, reached?, why) for one cell, or None where the design says nothing."""
    if src_zone == dst_zone:
        return None
    if dst_zone == "extmgmt":
        return "MGMT-1", src_zone == MANAGEMENT_VM, "the external management network answers the management VM alone"
    if dst_role == "api-gateway":
        return "CAN-3", src_zone == MANAGEMENT_VM and service.port == policy.api_port, "the API gateway answers the management VM alone"
    allowed = service in policy.can_services
    if dst_zone == "can":
        if src_zone in policy.mfa_zones:
            if allowed:
                return "CAN-1", True, "the MFA-secured networks reach the CAN's services"
            return "CAN-2", False, "only NTP, DNS and SSH cross the data center to the CAN"
        return "CAN-1", False, "nothing in the CAN answers networks other than the MFA-secured ones"
    if src_zone == "can":
        if dst_zone == "dc":
            why = "the CAN reaches data-center NTP, DNS and SSH" if allowed else "only NTP, DNS and SSH cross the data center from the CAN"
            return "CAN-2", allowed, why
        return "CAN-2", False, "the CAN reaches nothing outside the data center's services"
    return None
