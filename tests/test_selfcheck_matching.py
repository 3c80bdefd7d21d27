"""The self-check's own test: a failure for another reason is rejected, even when the expected
phrase appears in the test's source, its traceback or pytest's assertion explanation."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.helpers import REPO, lab_leftovers, make_topology, needs_root
from tests.selfcheck import assertion_message, failed_for, run_child_pytest, verdict


def _case(tag: str | None, message: str = "", text: str = "") -> ET.Element:
    case = ET.Element("testcase", classname="suites.login.test_login", name="test_login4")
    if tag:
        child = ET.SubElement(case, tag, message=message)
        child.text = text
    return case


TRACEBACK_WITH_PHRASE = '''>       assert not resets, f"RST observed: {resets}"
E       AssertionError: session s1 errored: EOFError'''


def test_the_phrase_in_the_traceback_source_does_not_count():
    case = _case("failure", "AssertionError: session s1 errored: EOFError\nassert not ['s1']", TRACEBACK_WITH_PHRASE)
    assert "RST observed" in ET.tostring(case, encoding="unicode")
    assert failed_for(verdict(case), "RST observed") is not None


def test_the_phrase_in_pytests_explanation_does_not_count():
    # `assert rst_observed == 0, "sessions broken"`: the explanation names the variable.
    case = _case("failure", "AssertionError: sessions broken\nassert 1 == 0\n +  where 1 = RST_observed")
    assert verdict(case).message == "sessions broken"
    assert failed_for(verdict(case), "RST_observed") is not None
    assert failed_for(verdict(case), "sessions broken") is None


def test_a_failure_by_another_exception_is_rejected():
    case = _case("failure", "ConnectionRefusedError: [Errno 111] RST observed from the kernel")
    assert "not by an assertion" in failed_for(verdict(case), "RST observed")


def test_errors_skips_passes_and_missing_tests_are_rejected():
    for case in (_case("error", "AssertionError: RST observed"), _case("skipped", "RST observed"), _case(None), None):
        assert failed_for(verdict(case), "RST observed") is not None


def test_the_right_failure_is_accepted():
    case = _case("failure", "AssertionError: existing sessions broken: 1 RST observed\nassert 1 == 0")
    assert failed_for(verdict(case), "1 RST observed") is None
    wait = _case("failure", "siteproof.wait.WaitTimeout: budget 'vrrp_takeover' (6.0 s) ran out waiting for: X\nlast observed: []")
    assert failed_for(verdict(wait), "ran out waiting for: X") is None


def test_assertion_message_strips_type_and_explanation():
    assert assertion_message("AssertionError: a\nb\nassert x\n+ where") == ("AssertionError", "a\nb")
    assert assertion_message("plain text") == ("", "plain text")


CHILD_THAT_KEEPS_A_LAB = '''
import os, time
from siteproof.backends.netns.lab import Lab
from siteproof.topology import load_topology

def test_builds_then_hangs():
    lab = Lab(load_topology({folder!r}))
    lab.up()
    open({marker!r}, "w").write(lab.id)
    if {hang}:
        time.sleep(600)  # until the runner's SIGINT
    os._exit(0)  # gone without a teardown: the lab stays registered to this process
'''


@needs_root
def test_a_child_that_dies_or_hangs_leaves_no_lab(tmp_path, private_state):
    folder = make_topology(tmp_path)
    for hang in (False, True):
        marker = tmp_path / f"lab-{hang}"
        test_file = tmp_path / f"test_child_{hang}.py"
        test_file.write_text(CHILD_THAT_KEEPS_A_LAB.format(folder=str(folder), marker=str(marker), hang=hang))
        run = run_child_pytest([str(test_file), "-q", "-p", "no:randomly", "-o", "addopts=", "-p", "no:cacheprovider"],
                               cwd=REPO, timeout=10 if hang else 120, grace=60)  # teardown under a loaded machine
        lab_id = marker.read_text()
        assert run.timed_out is hang
        if hang:
            # Interrupted, the child still ends its session, whose check destroys the lab and names it.
            assert run.left_labs == [], run.stdout[-2000:]
            assert f"siteproof: lab {lab_id} (tiny, owned by pytest pid " in run.stdout, run.stdout[-2000:]
        else:
            # Gone without ending its session: the runner destroys the lab and names it.
            assert run.left_labs == [lab_id]
        assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}
