"""Nothing outlives a run: a lab that a test leaves behind (here a CLI lab, whose keeper would
keep it up for ever) is destroyed at the end of the session, named, and fails the run, whether
the test that left it failed or passed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from siteproof.childrun import PLUGIN
from tests.helpers import lab_leftovers, make_topology, needs_root
from tests.selfcheck import verdict

LEAKY_SUITE = '''
import subprocess
import sys
from pathlib import Path


def test_starts_a_cli_lab_and_keeps_it():
    up = subprocess.run([sys.executable, "-m", "siteproof.cli", "up", {topology!r}], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    Path({id_file!r}).write_text(up.stdout.strip())
    assert {passes}, "fails on purpose, its lab still up"
'''


@needs_root
@pytest.mark.parametrize("passes", [False, True], ids=["failing-test", "passing-test"])
def test_a_lab_left_by_a_test_is_destroyed_named_and_fails_the_run(tmp_path, passes, cli_labs):
    topology = make_topology(tmp_path / "topologies")
    id_file, junit = tmp_path / "lab-id", tmp_path / "junit.xml"
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY_SUITE.format(topology=str(topology), id_file=str(id_file), passes=passes)))
    child = subprocess.run([sys.executable, "-m", "pytest", *PLUGIN, str(tmp_path / "test_leaky.py"), "-p", "no:randomly", "-o", "addopts=",
                            f"--junitxml={junit}", "--rootdir", str(tmp_path)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    lab_id = id_file.read_text().strip() if id_file.is_file() else ""
    if lab_id:
        cli_labs.append(lab_id)  # should the check not work, this test still leaves nothing
    assert lab_id, f"the child test did not start its lab:\n{child.stdout[-2000:]}{child.stderr[-2000:]}"
    [case] = ET.parse(junit).getroot().iter("testcase")
    assert verdict(case).outcome == ("passed" if passes else "failed"), verdict(case)
    assert child.returncode == 1, f"the run exited {child.returncode} with a lab left behind:\n{child.stdout[-2000:]}"
    assert f"siteproof: lab {lab_id} (tiny, owned by cli pid " in child.stdout, child.stdout[-2000:]
    assert "was still up when the run ended: destroyed now" in child.stdout, child.stdout[-2000:]
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}
