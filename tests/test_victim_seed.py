"""The victim seed a run shows is the one every xdist worker chose its victims with, and the
report's environment names it (it said "?": pytest-metadata asked before the plugin had drawn
one, and each worker drew its own)."""

from __future__ import annotations

import re
import subprocess
import sys

from siteproof.childrun import PLUGIN
from tests.helpers import REPO

PROBE = '''
from siteproof.fixtures.plugin import VICTIM_SEED_KEY


def test_one(request, tmp_path_factory):
    (OUT / f"seed-{request.node.name}").write_text(str(request.config.stash[VICTIM_SEED_KEY]))


def test_two(request):
    (OUT / f"seed-{request.node.name}").write_text(str(request.config.stash[VICTIM_SEED_KEY]))
'''


def test_every_worker_and_the_report_use_the_seed_the_header_shows(tmp_path):
    (tmp_path / "test_probe.py").write_text(f"from pathlib import Path\nOUT = Path({str(tmp_path)!r})\n" + PROBE)
    report = tmp_path / "report.html"
    run = subprocess.run([sys.executable, "-m", "pytest", *PLUGIN, str(tmp_path / "test_probe.py"), "-n", "2", "-p", "no:randomly",
                          "-o", "addopts=", "-p", "no:cacheprovider", f"--html={report}", "--self-contained-html",
                          "--rootdir", str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    shown = re.search(r"siteproof: victim seed (\d+)", run.stdout)
    assert shown, run.stdout[-2000:]
    seeds = {p.read_text() for p in tmp_path.glob("seed-*")}
    assert seeds == {shown[1]}, f"header {shown[1]}, workers {seeds}"
    page = report.read_text()
    # pytest-html keeps the environment table as data its script renders: the seed beside its name.
    assert re.search(rf"Victim seed(&#34;|\"): (&#34;|\"){shown[1]}(&#34;|\")", page), re.findall(r"Victim seed.{0,60}", page)
