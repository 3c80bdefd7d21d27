"""The keepalived reader on every form keepalived's documentation lists, the timers a group's
configs imply, and the comparison of every member's config with its peers' (pure functions
on config text: no daemon runs here; the suites read real daemons' configs)."""

from __future__ import annotations

import pytest

from siteproof.vrrp import config as vrrp
from siteproof.vrrp.timers import implied_takeover, master_down_interval

FULL = """
! keepalived.conf as its manual writes it: `!` and `#` comments, nested blocks
global_defs {
    router_id gw01   # an end-of-line comment
    vrrp_version 3
}
vrrp_instance HSN_01 {
    state MASTER
    interface eth1
    virtual_router_id 51
    priority 200
    advert_int 0.5
    version 2            ! the instance's own version wins over global_defs
    nopreempt
    track_interface {
        eth2 weight -10
        eth3 weight 10 reverse
    }
    track_script {
        chk_gpfs weight -20
    }
    virtual_ipaddress {
        10.100.1.1/16 dev eth1 label eth1:vip
        10.100.1.2
        10.200.1.1/16 dev eth2
    }
    virtual_ipaddress_excluded {
        2001:db8:100::101/64 dev eth1
    }
    authentication {
        auth_type PASS
        auth_pass "se#cret!"
    }
}
"""


def test_every_documented_form_is_read():
    inst = vrrp.parse_keepalived(FULL)["HSN_01"]
    assert (inst.state, inst.interface, inst.vrid, inst.priority, inst.advert, inst.version, inst.nopreempt) == (
        "MASTER", "eth1", 51, 200, 0.5, 2, True)
    assert inst.tracks == ("eth2", "eth3"), "track_interface with weights: the names only"
    assert inst.vips == ["10.100.1.1", "10.100.1.2", "10.200.1.1", "2001:db8:100::101"]
    assert inst.devices == ("eth1", "eth2"), "a VIP's own `dev` counts; one without it lives on `interface`"


def test_global_version_and_defaults_apply_where_the_instance_says_nothing():
    text = "global_defs {\n  vrrp_version 3\n}\nvrrp_instance A {\n  interface eth1\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n"
    inst = vrrp.parse_keepalived(text)["A"]
    assert (inst.version, inst.advert, inst.priority, inst.tracks) == (3, 1.0, 100, ())
    assert vrrp.parse_keepalived(text.replace("  vrrp_version 3\n", ""))["A"].version == 2


def test_a_priority_inside_a_nested_block_is_not_the_instance_priority():
    text = "vrrp_instance A {\n  track_interface {\n    eth2 weight -50\n  }\n  priority 150\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n"
    assert vrrp.parse_keepalived(text)["A"].priority == 150


@pytest.mark.parametrize(("line", "key"), [("advert_int ${ADVERT}", "advert_int"), ("priority high", "priority"),
                                           ("version three", "version")])
def test_a_form_siteproof_cannot_read_is_an_error_naming_the_line(line, key):
    text = f"global_defs {{\n}}\nvrrp_instance A {{\n  interface eth1\n  {line}\n  virtual_ipaddress {{\n    10.0.0.1\n  }}\n}}\n"
    with pytest.raises(vrrp.KeepalivedSyntaxError, match=rf"^line 5: vrrp_instance A: {key} .* is not a number"):
        vrrp.parse_keepalived(text)


def _member(priority: int, advert: float = 1.0, tracks: str = "eth1\n    eth2", version: int = 3) -> str:
    track = f"  track_interface {{\n    {tracks}\n  }}\n" if tracks else ""
    return (f"vrrp_instance V {{\n  version {version}\n  interface eth1\n  priority {priority}\n  advert_int {advert}\n{track}"
            "  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n"
            f"vrrp_instance S {{\n  version {version}\n  interface eth2\n  priority {priority}\n  advert_int {advert}\n{track}"
            "  virtual_ipaddress {\n    10.0.1.1\n  }\n}\n")


def test_master_down_interval_per_rfc():
    assert master_down_interval(1.0, 255, 3) == pytest.approx(3 + 1 / 256)
    assert master_down_interval(0.5, 0, 3) == pytest.approx(2.0)  # the largest v3 skew is one interval
    assert master_down_interval(2.0, 128, 2) == pytest.approx(6.5)  # v2: the skew is in seconds


def test_implied_takeover_reads_the_slowest_advert_a_v3_backup_would_learn():
    groups = vrrp.groups_from_configs({"a": _member(250), "b": _member(100, advert=4.0), "c": _member(50)})
    worst = implied_takeover(groups["10.0.0.1"])
    assert (worst.backup, worst.advert_from, worst.advert) == ("c", "b", 4.0)
    assert worst.seconds == pytest.approx(12 + 206 * 4 / 256)
    assert implied_takeover(vrrp.groups_from_configs({"a": _member(250)})["10.0.0.1"]) is None


def test_peers_that_differ_are_named_with_the_odd_one_out():
    configs = {f"gw{i}": _member(250 - i) for i in range(1, 6)}
    configs["gw3"] = _member(247, tracks="")
    group = vrrp.groups_from_configs(configs)["10.0.0.1"]
    assert group.disagreements() == ["track_interface differs: eth1 eth2 on gw1, gw2, gw4, gw5 (4); none on gw3 (1)"]


def test_cluster_names_a_member_that_does_not_track_its_other_side():
    from tests.test_units import _cluster

    files = {"/etc/gw01/keepalived.conf": _member(250), "/etc/gw02/keepalived.conf": _member(200, tracks="")}
    problems = _cluster(files).config_problems()
    assert any(p.startswith("gw02: VRRP instance V (VIP 10.0.0.1) does not track eth2") for p in problems), problems
    assert any("track_interface differs" in p for p in problems), problems


def test_cluster_turns_an_unreadable_timer_into_a_problem_not_a_crash():
    from tests.test_units import _cluster

    files = {"/etc/gw01/keepalived.conf": _member(250), "/etc/gw02/keepalived.conf": _member(200).replace("advert_int 1.0", "advert_int 1s")}
    cluster = _cluster(files)
    assert cluster.problems == ["gw02: /etc/gw02/keepalived.conf (includes expanded): line 5: vrrp_instance V: "
                                "advert_int '1s' is not a number"]
