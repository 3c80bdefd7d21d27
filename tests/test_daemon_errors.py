"""A daemon that refuses its config stops the lab with one line quoting its own reason."""

from __future__ import annotations

import pytest

from siteproof.backends.netns import Lab, registry
from siteproof.backends.netns import namespaces as netns
from siteproof.daemons.base import reason_line
from siteproof.errors import DaemonError
from siteproof.topology import load_topology
from tests.helpers import make_topology, needs_root

DUPLICATE_VRID = """
name: kdup
topology:
  nodes:
    sw1: {kind: bridge}
    a:
      kind: linux
      interfaces: {eth1: {addresses: ["10.9.0.1/24"]}}
      daemons:
        keepalived: {config: k.conf}
  links:
    - endpoints: ["a:eth1", "sw1:p-a"]
"""
TWO_GROUPS_ONE_VRID = """vrrp_instance V1 {
    interface eth1
    virtual_router_id 51
    priority 100
    virtual_ipaddress { 10.9.0.100/24 }
}
vrrp_instance V2 {
    interface eth1
    virtual_router_id 51
    priority 100
    virtual_ipaddress { 10.9.0.101/24 }
}
"""


@needs_root
def test_keepalived_refusing_two_groups_with_one_vrid_is_one_line(tmp_path):
    folder = make_topology(tmp_path, DUPLICATE_VRID, name="kdup")
    (folder / "k.conf").write_text(TWO_GROUPS_ONE_VRID)
    lab = Lab(load_topology(folder))
    with pytest.raises(DaemonError) as info:
        lab.up()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("node a: keepalived exited during start")
    assert "V1 and V2 both use VRID 51" in message
    assert not registry.lab_namespaces(lab.id) and lab.id not in " ".join(netns.list_names())


@pytest.mark.parametrize(("log", "reason"), [
    ("Sun Nov 29 18:41:05 2026: Starting Keepalived v2.2.7\nSun Nov 29 18:41:05 2026: (Line 3) Unknown keyword 'x'\n"
     "Sun Nov 29 18:41:05 2026: V1 and V2 both use VRID 51 with IPv4 on interface eth1\nSun Nov 29 18:41:05 2026: Stopped\n"
     "Sun Nov 29 18:41:05 2026: pid 1 exited with permanent error CONFIG. Terminating", "V1 and V2 both use VRID 51 with IPv4 on interface eth1"),
    ("29-Nov-2026 18:00:00.000 starting BIND 9.18\n29-Nov-2026 18:00:00.001 /x/named.conf:7: unknown option 'foo'\n"
     "29-Nov-2026 18:00:00.001 loading configuration: failure\n29-Nov-2026 18:00:00.001 exiting (due to fatal error)",
     "/x/named.conf:7: unknown option 'foo'"),
    ('key "k" { secret "c2VjcmV0c2VjcmV0"; } bad\nexiting', 'key "k" { secret "<redacted>"; } bad'),
    ("", "it logged nothing"),
])
def test_reason_line_picks_the_daemons_own_reason(log, reason):
    assert reason_line(log) == reason
