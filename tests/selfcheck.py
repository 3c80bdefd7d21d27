"""How a self-check reads a suite test's verdict from JUnit XML: the assertion message only.

A failure's JUnit `message` is pytest's crash line: "ExceptionType: message", and for a
rewritten `assert x, "message"` an explanation after it ("assert not [...]", "+ where ...")
built from the test's source. A phrase that matched the explanation or the traceback
would match the source of the test itself, so it is cut off: only the message the test
wrote counts, and only if the test failed by an assertion (a WaitTimeout is one).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from siteproof.childrun import ChildRun, run_child_pytest  # noqa: F401 (the self-checks' runner)

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
