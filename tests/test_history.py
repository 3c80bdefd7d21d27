"""Runs over time (siteproof.history): verdict changes per test and per SPEC ID, drifted
measurements, the page. The run folders are written here by hand, in the formats pytest's
JUnit XML and the plugin's --measurements-json give (no lab)."""

from __future__ import annotations

import json

from siteproof import history
from siteproof.cli import main

CASE = ('<testcase classname="suites.gateways.test_gateways" name="{name}"><properties>'
        '<property name="behaviour" value="{b}"/></properties>{body}</testcase>')


def write_run(folder, verdicts, measurements):
    folder.mkdir(parents=True)
    body = {"passed": "", "failed": '<failure message="AssertionError: GW-2: gap 9 s"/>', "skipped": '<skipped message="x"/>'}
    cases = "".join(CASE.format(name=n, b=b, body=body[v]) for n, (b, v) in verdicts.items())
    (folder / history.JUNIT).write_text(f'<?xml version="1.0"?><testsuites><testsuite>{cases}</testsuite></testsuites>')
    (folder / history.MEASUREMENTS).write_text(json.dumps(measurements))


def test_new_failures_fixed_tests_and_drift_are_found(tmp_path):
    t1, t2 = "suites/gateways/test_gateways.py::test_gw2_takeover", "suites/gateways/test_gateways.py::test_gw1_holder"
    write_run(tmp_path / "a", {"test_gw2_takeover": ("GW-2", "passed"), "test_gw1_holder": ("GW-1", "failed")},
              {t1: {"gap_s": 1.0, "flows": 200, "label": "x"}})
    write_run(tmp_path / "b", {"test_gw2_takeover": ("GW-2", "failed"), "test_gw1_holder": ("GW-1", "passed")},
              {t1: {"gap_s": 2.1, "flows": 210, "label": "y"}})
    d = history.diff(history.load_run(tmp_path / "a"), history.load_run(tmp_path / "b"), tolerance=0.5)
    assert d.new_failures == [t1] and d.fixed == [t2]
    assert d.behaviours == [("GW-1", "failed", "passed"), ("GW-2", "passed", "failed")]
    assert d.drifted == [(t1, "gap_s", 1.0, 2.1)]  # flows moved 5 %: within the tolerance
    page = history.html_page(d, [history.load_run(tmp_path / "a"), history.load_run(tmp_path / "b")])
    assert "gap_s" in page and "+110%" in page and "<svg" in page
    # Every measurement of two or more runs gets its trend, drifted or not.
    trends = page.split("<b>Trends</b>", 1)[1]
    assert "2 measurements over the last 2 runs" in trends and "flows" in trends and trends.count("<svg") == 2


def test_compare_writes_one_page_and_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    write_run(tmp_path / "before", {"test_gw2_takeover": ("GW-2", "passed")}, {})
    write_run(tmp_path / "after", {"test_gw2_takeover": ("GW-2", "failed")}, {})
    assert main(["compare", str(tmp_path / "before"), str(tmp_path / "after")]) == 0
    assert "GW-2" in (tmp_path / "after" / "compare.html").read_text()
    assert main(["compare", str(tmp_path), str(tmp_path / "after")]) == 2
    assert "not a run's folder" in capsys.readouterr().err
