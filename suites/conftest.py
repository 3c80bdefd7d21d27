"""Fixtures shared by the gateway and ECMP suites."""

from __future__ import annotations

import contextlib
import warnings

import pytest

from siteproof.dnssite import DnsSite
from siteproof.flowcount import FlowCounters
from siteproof.gateways import Gateways
from siteproof.loginbalancer import LoginBalancer
from siteproof.wait import wait_until


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


# --- login load balancing ---------------------------------------------------------------
@pytest.fixture(scope="module")
def logins(site):
    """The login nodes as VRRP members (one group per VIP), placed before the first test."""
    nodes = Gateways.read(site, role="login")
    try:
        nodes.converged = nodes.wait_placement("vrrp_converge").elapsed
    except AssertionError:
        nodes.converged = None  # wrong placement is LOGIN-2's verdict to give
    return nodes


@pytest.fixture(scope="module")
def balancer(site, logins):
    """Clients, health controls and table reads of the login lab."""
    return LoginBalancer(site, logins)


@pytest.fixture
def login_lab(balancer, lab, faults):
    """A lab test of the login nodes; afterwards every fault and drain is undone, VIPs back home."""
    yield balancer
    faults.undo_all()
    balancer.restore_health()
    balancer.nodes.down.clear()
    try:
        balancer.nodes.wait_placement("vrrp_restore")
    except AssertionError as exc:
        warnings.warn(f"login VIPs not back home after the test ({exc}); restarting every keepalived", stacklevel=1)
        lab.restart_daemons("keepalived")
        balancer.nodes.wait_placement("vrrp_converge", exact=False)
    if balancer.hashing == "nft":
        balancer.wait_tables(lambda t: balancer.all_up(t), "every server up in every node's tables")


# --- DNS -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dnssite(site):
    """The DNS site; the secondary has every zone before the first test (its first transfer)."""
    d = DnsSite(site)
    for zone in d.zones:
        with contextlib.suppress(AssertionError):  # DNS-4 gives the verdict
            wait_until(lambda z=zone: d.serials(z), "notify_propagation", seconds=site.budget("notify_propagation"),
                       expected=f"{zone} on the secondary", accept=lambda s: s["primary"] and s["primary"] == s["secondary"])
    return d
