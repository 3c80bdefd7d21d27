"""A parallel run (pytest-xdist, -n 4) reports what a serial run of the same tests reports:
the coverage table (every behaviour, its tests, their verdicts), measurements.json, the JUnit
properties, each topology's parameters. Each worker records its own tests; the controller
merges the records (siteproof/fixtures/parallel.py) and writes the one report.

The suite here is small and deterministic (its evidence is counted, not timed), on two tiny
labs and no lab at all, with a pass, a failure and a skip; the two runs must agree exactly.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from siteproof.childrun import PLUGIN
from tests.helpers import REPO, make_topology, needs_root

SPEC = """# spec
- **AA-1 first**: one.
- **AA-2 second**: two.
- **BB-1 third**: three.
- **BB-2 unproven**: no test names it.
"""

SUITE = '''
import pytest

pytestmark = pytest.mark.topology("{topology}")


@pytest.mark.behaviour("{first}")
def test_counts_clients(site, evidence):
    evidence.record("clients", len(site.names("client")))
    evidence.record("servers", site.names("server"))
    assert site.names("client") == ["a"]


@pytest.mark.behaviour("{second}")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_records_a_number(site, evidence, n):
    evidence.record("n squared", n * n)
    assert n != {fails}, "fails on purpose"


@pytest.mark.behaviour("{second}")
def test_skips(site):
    pytest.skip("skips on purpose")
'''

NO_LAB = '''
import pytest


@pytest.mark.behaviour("AA-1")
def test_without_a_lab(evidence):
    evidence.record("plain", 7)
'''


def _run(tmp_path, name, topologies, suites, extra):
    out = tmp_path / name
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *PLUGIN, str(suites), f"--topologies={topologies}", f"--spec={tmp_path / 'SPEC.md'}",
         "-p", "no:randomly", "-o", "addopts=", "--rootdir", str(tmp_path), f"--junitxml={out / 'junit.xml'}",
         f"--html={out / 'report.html'}", "--self-contained-html", f"--measurements-json={out / 'measurements.json'}", *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert (out / "report.html").is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return out, proc


def _coverage(report_html: str) -> str:
    found = re.search(r"<h2>Behaviour coverage</h2>.*?</table>", report_html, re.S)
    assert found, "no coverage table in the report"
    return found.group(0)


def _topology_lines(report_html: str) -> list[str]:
    return sorted(re.findall(r"<p><b>Topology [^<]*</b>[^<]*</p>", report_html))


def _properties(junit) -> dict[str, list[tuple[str, str]]]:
    return {f"{c.get('classname')}::{c.get('name')}": sorted((p.get("name"), p.get("value")) for p in c.iter("property"))
            for c in ET.parse(junit).getroot().iter("testcase")}


@needs_root
def test_a_parallel_run_reports_what_a_serial_run_reports(tmp_path):
    pytest.importorskip("xdist")
    topologies = tmp_path / "topologies"
    make_topology(topologies, name="tiny")
    make_topology(topologies, (tmp_path / "topologies" / "tiny" / "topology.yml").read_text().replace("name: tiny", "name: other"),
                  name="other")
    (tmp_path / "SPEC.md").write_text(SPEC)
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_tiny.py").write_text(textwrap.dedent(SUITE.format(topology="tiny", first="AA-1", second="AA-2", fails=2)))
    (suites / "test_other.py").write_text(textwrap.dedent(SUITE.format(topology="other", first="BB-1", second="AA-2", fails=0)))
    (suites / "test_plain.py").write_text(textwrap.dedent(NO_LAB))

    serial, serial_proc = _run(tmp_path, "serial", topologies, suites, [])
    parallel, parallel_proc = _run(tmp_path, "parallel", topologies, suites, ["-n", "4"])
    assert "gw0" in parallel_proc.stdout + parallel_proc.stderr or "workers" in parallel_proc.stdout, parallel_proc.stdout[-1500:]
    assert serial_proc.returncode == parallel_proc.returncode == 1, (serial_proc.stdout[-1500:], parallel_proc.stdout[-1500:])

    serial_html, parallel_html = (serial / "report.html").read_text(), (parallel / "report.html").read_text()
    assert _coverage(parallel_html) == _coverage(serial_html)
    assert "no test" in _coverage(serial_html) and "failed" in _coverage(serial_html) and "skipped" in _coverage(serial_html)
    assert _topology_lines(parallel_html) == _topology_lines(serial_html) and len(_topology_lines(serial_html)) == 2

    serial_numbers = json.loads((serial / "measurements.json").read_text())
    assert json.loads((parallel / "measurements.json").read_text()) == serial_numbers
    assert serial_numbers["suites/test_tiny.py::test_records_a_number[3]"] == {"n squared": 9.0}, serial_numbers
    assert len(serial_numbers) == 9, serial_numbers
    assert _properties(parallel / "junit.xml") == _properties(serial / "junit.xml")


def test_a_disruptive_site_run_refuses_parallel_workers(tmp_path):
    """One snapshot before the first change and one after the last need one process that sees
    every test: a disruptive site run with -n is refused before anything is reached."""
    pytest.importorskip("xdist")
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites/gateways", "--site", str(tmp_path / "inventory.yml"),
                           "--allow-disruptive", "-n", "2", "-o", "addopts="], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert "--allow-disruptive at a site runs serially" in proc.stderr, proc.stderr[-1500:]
