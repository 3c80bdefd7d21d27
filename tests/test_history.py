"""Runs over time (siteproof.history): verdict changes per test and per SPEC ID, drifted
measurements, the page. The run folders are written here by hand, in the formats pytest's
JUnit XML and the plugin's --measurements-json give (no lab)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from siteproof import history
from siteproof.cli import main
from tests.helpers import REPO, lab_leftovers, make_topology, needs_root

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
    assert main(["compare", str(tmp_path / "before"), str(tmp_path / "after")]) == 1  # a new failure gates
    assert "GW-2" in (tmp_path / "after" / "compare.html").read_text()
    assert main(["compare", str(tmp_path), str(tmp_path / "after")]) == 2
    assert "not a run's folder" in capsys.readouterr().err


def test_a_damaged_run_is_listed_and_skipped_not_fatal(tmp_path, capsys):
    write_run(tmp_path / "20261201T000000Z", {"test_gw2_takeover": ("GW-2", "passed")}, {"test_gw2_takeover": {"gap_s": 1.0}})
    broken = tmp_path / "20261202T000000Z"
    broken.mkdir()
    (broken / history.JUNIT).write_text("<testsuites><testcase name='cut short")
    write_run(tmp_path / "20261203T000000Z", {"test_gw2_takeover": ("GW-2", "failed")}, {})
    runs, damaged = history.load_history(tmp_path)
    assert [r.name for r in runs] == ["20261201T000000Z", "20261203T000000Z"]
    assert list(damaged) == ["20261202T000000Z"] and "not JUnit XML" in damaged["20261202T000000Z"]
    assert "20261202T000000Z" in history.damaged_html(damaged)
    assert main(["compare", str(broken), str(tmp_path / "20261203T000000Z")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("siteproof: damaged run: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["compare", str(tmp_path / "20261201T000000Z"), str(tmp_path / "20261203T000000Z")]) == 1
    assert oct((tmp_path / "20261203T000000Z" / "compare.html").stat().st_mode & 0o777) == "0o600"


def test_compare_gates_a_window_and_shows_what_fails_before_and_after(tmp_path, capsys):
    gw1, gw2 = "suites/gateways/test_gateways.py::test_gw1_holder", "suites/gateways/test_gateways.py::test_gw2_takeover"
    write_run(tmp_path / "before", {"test_gw1_holder": ("GW-1", "failed"), "test_gw2_takeover": ("GW-2", "passed")},
              {gw2: {"gap_s": 1.0}})
    write_run(tmp_path / "after", {"test_gw1_holder": ("GW-1", "failed"), "test_gw2_takeover": ("GW-2", "passed")},
              {gw2: {"gap_s": 3.0}})
    (tmp_path / "before" / "report.html").write_text("<html></html>")
    # Nothing new failed, GW-1 fails in both, and the takeover gap tripled.
    assert main(["compare", str(tmp_path / "before"), str(tmp_path / "after")]) == 1
    assert main(["compare", str(tmp_path / "before"), str(tmp_path / "after"), "--gate", "new-failures"]) == 0
    page = (tmp_path / "after" / "compare.html").read_text()
    assert "Failing in both runs" in page and "test_gw1_holder" in page and "GW-2: gap 9 s" in page
    assert (tmp_path / "before" / "report.html").resolve().as_uri() in page  # a link to each run's report there is
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "before"), str(tmp_path / "after"), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["new_failures"] == [] and doc["still_failing"][0]["test"] == gw1
    assert doc["still_failing"][0]["message_after"] == "AssertionError: GW-2: gap 9 s"
    assert doc["drifted"] == [{"test": gw2, "measured": "gap_s", "before": 1.0, "after": 3.0}]


SLOW_SUITE = '''
import time
from pathlib import Path

from siteproof.backends.netns.lab import Lab
from siteproof.topology import load_topology


def test_holds_a_lab_a_long_time():
    with Lab(load_topology({topology!r})) as lab:
        Path({mark!r}).write_text(f"{{os.getpid()}} {{lab.id}}")
        time.sleep(600)
'''.replace("import time", "import os\nimport time")


@needs_root
def test_nightly_stopped_with_sigterm_stops_its_pytest_and_leaves_no_lab(tmp_path):
    mark = tmp_path / "mark"
    suite = tmp_path / "test_slow.py"
    suite.write_text(SLOW_SUITE.format(topology=str(make_topology(tmp_path / "topologies")), mark=str(mark)))
    (tmp_path / "unused.yml").write_text("name: not read by this suite\n")
    nightly = subprocess.Popen([sys.executable, "-m", "siteproof.cli", "nightly", "--site", str(tmp_path / "unused.yml"),
                                "--history", str(tmp_path / "history"), str(suite), "--pytest-args", "-o", "addopts=",
                                "--rootdir", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not mark.is_file() and time.monotonic() < deadline and nightly.poll() is None:
        time.sleep(0.05)
    assert mark.is_file(), f"the nightly's test never started: {nightly.communicate()}"
    pytest_pid, lab_id = mark.read_text().split()
    nightly.send_signal(signal.SIGTERM)  # what cron's or systemd's stop sends
    out, _ = nightly.communicate(timeout=150)
    assert nightly.returncode != 0, out
    assert not os.path.exists(f"/proc/{pytest_pid}"), "the nightly's pytest outlived it"
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}
    [run] = list((tmp_path / "history").iterdir())
    assert oct(run.stat().st_mode & 0o777) == "0o700"
    assert all(p.stat().st_mode & 0o077 == 0 for p in run.iterdir()), {p.name: oct(p.stat().st_mode) for p in run.iterdir()}


PATHS_SUITE = """
from pathlib import Path


def test_the_paths_reach_pytest_resolved(request):
    site = Path(request.config.getoption("site"))
    assert site.is_absolute() and site.read_text().startswith("name: our site"), site
"""

UNREACHABLE_SUITE = """
import pytest

pytestmark = pytest.mark.topology("any")


@pytest.mark.parametrize("n", range(5))
def test_needs_the_site(site, n):
    pass
"""


def test_nightly_from_another_folder_takes_relative_paths_and_pytest_options_after_a_double_dash(tmp_path):
    here = tmp_path / "ops"
    (here / "mine").mkdir(parents=True)
    (here / "site.yml").write_text("name: our site\n")
    (here / "mine" / "test_paths.py").write_text(PATHS_SUITE)
    run = subprocess.run([sys.executable, "-m", "siteproof.cli", "nightly", "--site", "site.yml", "--history", "hist", "mine",
                          "--", "-o", "addopts=", "--rootdir", str(here / "mine")],
                         cwd=here, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    [folder] = history.runs_in(here / "hist")  # in the caller's folder, not the checkout's
    assert f"run {folder}: pytest exit 0; report {folder / 'report.html'}" in run.stdout, run.stdout
    assert (folder / "report.html").is_file() and not (REPO / "hist").exists()


def test_nightly_stops_once_on_an_unreachable_site_and_keeps_it_out_of_the_verdicts(tmp_path):
    (tmp_path / "site.yml").write_text("name: t\nhosts:\n"
                                       "  gw01: {ssh: 'root@127.0.0.1:1', labels: {role: storage}}\n"
                                       "  gw02: {ssh: 'root@127.0.0.1:9', labels: {role: storage}}\n")
    (tmp_path / "test_site.py").write_text(UNREACHABLE_SUITE)
    run = subprocess.run([sys.executable, "-m", "siteproof.cli", "nightly", "--site", "site.yml", "--history", "hist",
                          "test_site.py", "--", "-o", "addopts=", "--rootdir", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    said = run.stdout + run.stderr
    assert run.returncode == 75, said[-3000:]
    assert said.count("hosts.gw01 (ssh://root@127.0.0.1:1)") == 1 and said.count("hosts.gw02 (ssh://root@127.0.0.1:9)") == 1, said
    assert "site unreachable" in run.stdout and "During handling" not in said, said
    [folder] = [p for p in (tmp_path / "hist").iterdir() if p.is_dir()]
    assert json.loads((folder / "status.json").read_text())["status"] == "site unreachable"
    assert history.runs_in(tmp_path / "hist") == []  # no verdicts entered
