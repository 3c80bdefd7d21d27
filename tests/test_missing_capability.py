"""A capability the backend lacks, met deep in a fixture, a helper or a wait, skips the test
with its reason (siteproof/fixtures/plugin.py), as `needs` does up front; it never fails the test or
burns a wait's whole budget. A made-up test file in a child pytest, no lab."""

from __future__ import annotations

from siteproof.childrun import PLUGIN

pytest_plugins = ["pytester"]

TESTS = '''
import pytest

from siteproof.backends.base import MissingCapability
from siteproof.wait import wait_until


@pytest.fixture
def deep():
    raise MissingCapability("the ssh backend cannot open sockets inside a site host (fixture)")


def test_in_a_fixture(deep):
    pass


def test_in_a_helper():
    raise MissingCapability("DNS questions from inside need sockets in that host (helper)")


def test_in_a_wait():
    def probe():
        raise MissingCapability("no sockets here (wait)")
    wait_until(probe, "daemon_ready", expected="never", accept=bool)


def test_other_errors_still_fail():
    raise RuntimeError("a real failure")
'''


def test_a_missing_capability_skips_with_its_reason(pytester):
    pytester.makepyfile(test_made_up=TESTS)
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:randomly", "-rs", "-o", "addopts=", timeout=120)
    result.assert_outcomes(skipped=3, failed=1)
    result.stdout.fnmatch_lines(["*(fixture)*", "*(helper)*", "*(wait)*"])


EMPTY_TABLES = '''
def test_passes_with_a_table_of_nothing(evidence):
    evidence.table("matrix", ["from", "to"], [row for row in []])


def test_fails_for_its_own_reason(evidence):
    evidence.table("matrix", ["from", "to"], [])
    assert False, "the network is wrong"


def test_says_why_it_is_empty(evidence):
    evidence.table("matrix", ["from", "to"], [], empty_because="nothing to probe here")
'''


def test_a_passing_test_with_an_empty_evidence_table_fails_and_a_failing_one_keeps_its_reason(pytester):
    pytester.makepyfile(test_made_up=EMPTY_TABLES)
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:randomly", "-o", "addopts=", timeout=120)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*_ test_passes_with_a_table_of_nothing _*", "*evidence table(s) 'matrix' have no rows*",
                                 "*_ test_fails_for_its_own_reason _*", "*the network is wrong*"])
