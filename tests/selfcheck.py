"""How a self-check reads a suite test's verdict from JUnit XML: the assertion message only.

A failure's JUnit `message` is pytest's crash line: "ExceptionType: message", and for a
rewritten `assert x, "message"` an explanation after it ("assert not [...]", "+ where ...")
built from the test's source. A phrase that matched the explanation or the traceback
would match the source of the test itself, so it is cut off: only the message the test
wrote counts, and only if the test failed by an assertion (a WaitTimeout is one).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from siteproof.backends.netns import registry
from tests.helpers import sigint_restored

_EXC = re.compile(r"^(?P<type>[\w.]+): ?", re.S)
_ASSERTION_TYPES = ("AssertionError", "WaitTimeout", "Failed")


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "passed", "failed", "error", "skipped", "missing"
    exception: str  # the exception type of a failure
    message: str  # the assertion message alone


def assertion_message(crash: str) -> tuple[str, str]:
    """(exception type, the message the test wrote) from a JUnit failure message."""
    found = _EXC.match(crash)
    kind = found["type"] if found else ""
    text = crash[found.end():] if found else crash
    # pytest appends its explanation of a rewritten assert on lines beginning "assert ".
    cut = re.search(r"(?m)^assert ", text)
    return kind, (text[: cut.start()] if cut else text).strip()


def verdict(case: ET.Element | None) -> Verdict:
    if case is None:
        return Verdict("missing", "", "")
    for tag in ("error", "failure", "skipped"):
        found = case.find(tag)
        if found is not None:
            kind, message = assertion_message(found.get("message") or "")
            outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
            return Verdict(outcome, kind, message)
    return Verdict("passed", "", "")


def failed_for(v: Verdict, expect: str) -> str | None:
    """None if the test failed by an assertion whose message contains `expect`; else why not."""
    if v.outcome != "failed":
        return f"it did not fail ({v.outcome}{': ' + v.message[:300] if v.message else ''})"
    if not v.exception.rsplit(".", 1)[-1].endswith(_ASSERTION_TYPES):
        return f"it failed by {v.exception}, not by an assertion: {v.message[:300]}"
    if expect not in v.message:
        return f"its assertion message does not say {expect!r}: {v.message[:600]}"
    return None


@dataclass
class ChildRun:
    stdout: str
    stderr: str
    timed_out: bool
    left_labs: list[str]  # labs the child still owned when it ended (destroyed here)
    returncode: int = 0


def run_child_pytest(args: list[str], cwd: Path, timeout: float, grace: float = 90.0,
                     prefix: tuple[str, ...] = ()) -> ChildRun:
    """Run a child pytest in its own session; whatever happens, nothing of it stays.

    Past `timeout` it gets SIGINT (pytest then tears its lab down), past `grace` more its
    whole process group SIGKILL. A lab the child still owns afterwards is destroyed and named:
    a run that leaves a lab behind is a defect, and a lab with nobody to run it must not load
    the machine for every test after it.
    """
    # prefix: how to start it elsewhere (`ip netns exec VANTAGE`, for a lab played as a site).
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "pytest", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=sigint_restored)  # it is stopped by SIGINT past its timeout
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    finally:
        if proc.poll() is None:  # the parent itself was interrupted
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        left = [state.id for state in registry.all_labs() if state.owner_pid == proc.pid]
        for lab_id in left:
            registry.destroy(lab_id)
    return ChildRun(out, err, timed_out, left, proc.returncode)
