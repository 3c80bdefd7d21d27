"""The one budget and threshold table: registration, precedence, computed defaults, phantom names."""

from __future__ import annotations

import pytest

from siteproof import budgets
from siteproof.errors import SiteproofError, TopologyError
from siteproof.topology import load_topology
from siteproof.wait import wait_until
from tests.helpers import TWO_HOSTS, make_topology


def test_precedence_run_over_inventory_over_topology_over_default():
    table = budgets.Budgets(topology={"lb_tables": 5, "reconcile": 6}, inventory={"lb_tables": 7, "ssh_session": 8},
                            run={"lb_tables": 9})
    assert table.resolve("lb_tables") == (9.0, "run option")
    assert table.resolve("ssh_session") == (8.0, "site inventory")
    assert table.resolve("reconcile") == (6.0, "topology")
    assert table.resolve("session_resume") == (20.0, "login default")


def test_vrrp_takeover_is_computed_from_the_advert_interval_and_the_margin():
    assert budgets.Budgets({"advert_interval": 0.5})("vrrp_takeover") == pytest.approx(4 * 0.5 + 2.0)
    assert budgets.Budgets({"advert_interval": 1.0}, run={"vrrp_takeover_margin": 1})("vrrp_takeover") == pytest.approx(5.0)
    # An explicit value for the computed budget beats the computation.
    assert budgets.Budgets({"advert_interval": 1.0}, topology={"vrrp_takeover": 3})("vrrp_takeover") == 3.0


def test_areas_register_their_thresholds():
    owners = {e.name: (e.owner, e.kind) for e in budgets.REGISTRY.values()}
    budgets.entry("ecmp_alpha")  # loads every area
    owners = {e.name: (e.owner, e.kind) for e in budgets.REGISTRY.values()}
    assert owners["ecmp_alpha"] == ("ecmp", "threshold")
    assert owners["login_pairs"] == ("login", "threshold")
    assert owners["notify_propagation"] == ("dns", "budget")
    assert owners["vrrp_takeover"] == ("vrrp", "budget")


@pytest.mark.parametrize(("values", "message"), [
    ({"no_such_budget": 1}, "no_such_budget: unknown budget or threshold"),
    ({"lb_tables": "soon"}, "lb_tables: 'soon' is not a number"),
    ({"lb_tables": "nan"}, "must be a positive finite number"),
    ({"lb_tables": 0}, "must be a positive finite number"),
])
def test_bad_overrides_are_refused_naming_source_and_key(values, message):
    with pytest.raises(SiteproofError, match=message):
        budgets.check_names(values, "--budget")


def test_a_wait_on_an_unregistered_budget_is_an_error():
    with pytest.raises(SiteproofError, match="unknown budget or threshold 'phantom'"):
        wait_until(lambda: True, "phantom", expected="anything")
    with pytest.raises(SiteproofError, match="unknown budget or threshold 'phantom'"):
        wait_until(lambda: True, "phantom", expected="anything", seconds=1)


def test_topology_budgets_are_checked_at_load(tmp_path):
    folder = make_topology(tmp_path, TWO_HOSTS, parameters="parameters: {}\nbudgets: {vrrp_converj: 3}\n")
    with pytest.raises((TopologyError, SiteproofError), match=r"parameters\.yml: budgets: vrrp_converj: unknown budget"):
        load_topology(folder)


def test_run_option_reaches_a_site_table_and_the_report_rows():
    table = budgets.Budgets({"advert_interval": 1.0}, topology={"vrrp_converge": 30}, run={"flows_counted": 2})
    rows = {name: (value, source) for name, _, value, source in table.table()}
    assert rows["vrrp_converge"] == (30.0, "topology")
    assert rows["flows_counted"] == (2.0, "run option")
    assert rows["vrrp_takeover"][1] == "vrrp default (computed)"
