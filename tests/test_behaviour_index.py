"""The behaviour index: every SPEC ID a test or a variant names exists, every variant check names
a real test, and the report's coverage table is built from the same data."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import suites
from siteproof import report
from tests.helpers import REPO

SPEC = report.DEFAULT_SPEC


def suite_tests() -> dict[str, list[str]]:
    """'suites/<area>/test_x.py::test_name' -> the SPEC IDs its behaviour marker names."""
    found: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(suites.__path__, "suites."):
        if not info.name.rsplit(".", 1)[-1].startswith("test_"):
            continue
        module = importlib.import_module(info.name)
        path = info.name.replace(".", "/") + ".py"
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("test_") and fn.__module__ == module.__name__:
                marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "behaviour"]
                ids = [str(a) for m in marks for a in m.args]
                for param in _param_ids(fn):
                    found[f"{path}::{name}{param}"] = ids
    return found


def _param_ids(fn) -> list[str]:
    """'[id]' for each parameter set of a test (one parametrize mark at most), or [''] ."""
    marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
    if not marks:
        return [""]
    values = list(marks[0].args[1])
    ids = marks[0].kwargs.get("ids") or [v if isinstance(v, str) else "-".join(map(str, v)) for v in values]
    return [f"[{i}]" for i in ids]


@pytest.fixture(scope="module")
def spec_ids():
    ids = report.spec_ids(SPEC)
    assert ids, f"no behaviour IDs read from {SPEC}"
    return ids


def test_every_suite_test_names_known_behaviours(spec_ids):
    tests = suite_tests()
    assert tests
    unmarked = [t for t, ids in tests.items() if not ids]
    unknown = {t: [i for i in ids if i not in spec_ids] for t, ids in tests.items() if any(i not in spec_ids for i in ids)}
    assert not unmarked, f"suite tests without a behaviour marker: {unmarked}"
    assert not unknown, f"behaviour markers naming IDs that SPEC.md does not have: {unknown}"


def test_every_variant_breaks_known_behaviours_and_checks_real_tests(spec_ids):
    tests = suite_tests()
    proofs = report.variant_proofs(REPO / "topologies")
    assert proofs
    for test, found in proofs.items():
        assert test in tests, f"variants {[p.variant for p in found]} check {test}, which is not a suite test"
        for proof in found:
            bad = [b for b in proof.breaks if b not in spec_ids]
            assert not bad, f"variant {proof.variant} breaks unknown SPEC IDs {bad}"
            assert proof.expect.strip(), f"variant {proof.variant}: an empty expected failure message proves nothing"


def test_the_coverage_table_lists_every_spec_id_and_unproven_tests(spec_ids):
    # One made-up test that no variant names, so the table has a "not proven" row to show.
    tests = {**suite_tests(), "suites/gateways/test_made_up.py::test_no_variant_names_me": ["GW-1"]}
    # And one made-up SPEC ID that no test names, so the table has a "no test" row to show.
    spec = {**spec_ids, "ZZ-1": "a behaviour nobody tests"}
    rows = report.coverage(spec, tests, {}, report.variant_proofs(REPO / "topologies"))
    assert [r.behaviour for r in rows][: len(spec)] == list(spec)
    html = report.coverage_html(rows)
    assert "GW-1" in html and "not proven" in html and "no test" in html
    gw2 = next(r for r in rows if r.behaviour == "GW-2")
    assert gw2.tests and all(verdict == "not run" for _, verdict, _ in gw2.tests)


# Tests that no known-bad variant yet shows failing, each with the reason. A test missing from
# here without a variant fails the index; an entry that has since been proven fails it too.
KNOWN_UNPROVEN: dict[str, str] = {  # test id -> why no variant can make it fail yet
    "suites/dtn/test_dtn.py::test_dtn1_attachments_the_machine_may_lack[ipvlan]":
        "this kernel has no ipvlan, so no ipvlan container can be built, right or wrong: the test skips, naming it",
    "suites/dtn/test_dtn.py::test_dtn1_attachments_the_machine_may_lack[sriov]":
        "no SR-IOV NIC here, so no VF container can be built, right or wrong: the test skips, naming it",
}


def test_every_suite_test_is_proven_able_to_fail_or_says_why_not():
    proven = set(report.variant_proofs(REPO / "topologies"))
    unproven = sorted(set(suite_tests()) - proven)
    undeclared = [t for t in unproven if t not in KNOWN_UNPROVEN]
    stale = [t for t in KNOWN_UNPROVEN if t not in unproven]
    assert not undeclared, f"suite tests no known-bad variant makes fail: {undeclared}"
    assert not stale, f"now proven, remove from KNOWN_UNPROVEN: {stale}"


def test_the_readme_lists_every_known_bad_variant():
    # The README's table of variants is what a user reads to choose one: a variant missing from
    # it exists only for those who read the folders.
    readme = (REPO / "README.md").read_text()
    missing = [f"{path.parent.parent.name}/{path.stem}" for path in sorted(REPO.glob("topologies/*/variants/*.yml"))
               if f"| `{path.stem}` |" not in readme]
    assert not missing, f"variants not in the README's table: {', '.join(missing)}"
