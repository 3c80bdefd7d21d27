"""requirements.lock is what pyproject.toml asks for, and what this environment runs.

`make lock` refreshes the lock after a change to pyproject.toml; scripts/setup installs from it
with hashes required, so a fresh machine tests what the developers tested."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPO

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)", re.M)


def locked() -> dict[str, str]:
    return {canonicalize_name(m["name"]): m["version"] for m in _PIN.finditer((REPO / "requirements.lock").read_text())}


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [Requirement(r) for r in [*project["dependencies"], *[r for group in extras.values() for r in group]]]


def test_every_declared_dependency_is_locked_at_a_version_it_allows():
    pins = locked()
    assert pins, "requirements.lock pins nothing"
    wrong = {}
    for req in declared():
        version = pins.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong[str(req)] = version or "not in the lock"
    assert not wrong, f"pyproject.toml and requirements.lock disagree (run `make lock`): {wrong}"


def test_every_pin_carries_hashes():
    text = (REPO / "requirements.lock").read_text()
    blocks = re.split(r"(?m)^(?=[A-Za-z0-9])", text)
    unhashed = [b.split("==")[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert not unhashed, f"pins without hashes (pip's --require-hashes refuses them): {unhashed}"


def test_this_environment_is_the_locked_one():
    """The interpreter running the tests has every locked package at its locked version
    (scripts/setup built it from the lock; a stale .venv would test other software)."""
    differ = {}
    for name, version in locked().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            differ[name] = f"locked {version}, installed {installed}"
    assert not differ, f"the environment is not requirements.lock's (run scripts/setup): {differ}"


def test_no_test_judges_a_child_run_by_pytests_printed_summary():
    """A child pytest is judged from its JUnit, test by test: the printed summary changes with
    pytest's version and with warnings ('2 passed, 4 warnings, 2 errors')."""
    summary = re.compile(r"""["'][^"'\n]*\d+ (?:passed|failed|errors?|skipped|warnings?)\b""")
    found = [f"{path.name}:{n}" for path in sorted((REPO / "tests").glob("*.py")) if path.name != "test_lock.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if summary.search(line)]
    assert not found, f"assertions on pytest's summary text: {found}"
