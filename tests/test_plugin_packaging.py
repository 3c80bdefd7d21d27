"""The pytest plugin behaves like one: installing siteproof puts no top-level `fixtures` package
into site-packages (the plugin is siteproof.fixtures) and registers no pytest entry point, and a pytest run on an unrelated folder
in the same environment shows and does nothing of siteproof (no header, no signal handler, no
version probes, no reap, nothing imported)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from tests.helpers import REPO

UNRELATED_TEST = '''
import signal
import sys


def test_the_environment_is_clean():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("siteproof", "fixtures"))
    assert not loaded, loaded
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
'''


def test_the_built_wheel_holds_only_the_siteproof_package_and_no_pytest_entry_point(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "siteproof", source / "siteproof", ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("siteproof-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"siteproof"}, sorted(top)
    entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
    text = zipfile.ZipFile(wheel).read(entry_points).decode() if entry_points else ""
    assert "pytest11" not in text, text


def test_pytest_on_an_unrelated_folder_shows_nothing_of_siteproof(tmp_path):
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_TEST)
    run = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "siteproof" not in run.stdout + run.stderr, run.stdout + run.stderr
