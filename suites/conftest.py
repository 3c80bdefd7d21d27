"""Fixtures shared by the gateway and ECMP suites."""

from __future__ import annotations

import contextlib
import warnings

import pytest

from siteproof.flowcount import FlowCounters
from siteproof.gateways import Gateways


@pytest.fixture(scope="module")
def gateways(site):
    gws = Gateways.read(site)
    with contextlib.suppress(AssertionError):
        # Wrong placement is GW-1's verdict to give, not a set-up error.
        gws.wait_placement("vrrp_converge")
    return gws


@pytest.fixture
def gw_lab(gateways, lab, faults):
    """A lab test's gateways; afterwards every fault is undone and every VIP back home."""
    yield gateways
    faults.undo_all()
    gateways.down.clear()
    try:
        gateways.wait_placement("vrrp_restore")
    except AssertionError as exc:
        # A test that failed mid-way (or a variant without preemption): a fresh election.
        warnings.warn(f"VIPs not back home after the test ({exc}); restarting every keepalived", stacklevel=1)
        lab.restart_daemons("keepalived")
        gateways.wait_placement("vrrp_converge", exact=False)


@pytest.fixture
def gateway_counters(gateways, lab):
    """Per-flow packet counters on every gateway's forwarding path (removed afterwards)."""
    with FlowCounters({gw: gateways.hosts[gw] for gw in gateways.names}, hook="forward") as counters:
        yield counters
