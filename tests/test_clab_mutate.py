"""`siteproof mutate` on a user's own containerlab lab with the user's own suite: the imported
file's exec commands became node data that operators mutate, and the user's test catches it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from siteproof.backends.netns import registry
from tests.helpers import needs_root

CLAB = Path(__file__).resolve().parent / "data" / "clab"
# A user's suite for their lab, written as the project's suites are: marked with the lab's name
# and the behaviour it proves, reading the lab through the site fixture only.
USER_SUITE = '''
import pytest

pytestmark = [pytest.mark.topology("routed"), pytest.mark.behaviour("MGMT-1")]


def test_h1_reaches_h2_through_the_router(site):
    result = site.host("h1").run("ping -c1 -W2 10.82.2.10")
    assert result.rc == 0, "h1 cannot reach h2 (10.82.2.10) through the router"
'''


@needs_root
@pytest.mark.slow
def test_mutate_catches_a_router_that_stops_forwarding_in_an_imported_clab_lab(tmp_path):
    mine = secrets.token_hex(4)
    env = {**os.environ, registry.RUNS_ENV: ":".join(filter(None, [os.environ.get(registry.RUNS_ENV), mine]))}
    suite = tmp_path / "my-suite" / "test_routed.py"
    suite.parent.mkdir()
    suite.write_text(USER_SUITE)
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "siteproof.cli", "mutate", str(CLAB / "routed"), "--operators", "sysctl-ipv4-forwarding",
         "--nodes", "router", "--sample", "0", "--seed", "1", "--suites", str(suite.parent), "-o", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False, env=env,
    )
    assert not registry.labs_of_run(mine), "mutate left labs behind"
    assert run.returncode == 0, f"exit {run.returncode}:\n{run.stdout}\n{run.stderr}"
    doc = json.loads((out / "mutate.json").read_text())
    [mutant] = doc["mutants"]
    assert mutant["summary"] == "router sysctl net.ipv4.ip_forward: 1 -> 0", mutant
    assert mutant["outcome"] == "caught" and "h1 cannot reach h2" in mutant["message"], mutant
    assert mutant["test"].endswith("test_routed.py::test_h1_reaches_h2_through_the_router"), mutant
