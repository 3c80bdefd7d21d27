"""Polling waits with named budgets (the topotests `run_and_expect` idea).

Every wait in siteproof names a budget of the one table (siteproof.budgets), so that the
time a behaviour is allowed lives in one place, and a site, a topology or a run can
override it. A wait on a name nobody registered is an error, not a default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from siteproof import budgets
from siteproof.backends.base import MissingCapability


class WaitTimeout(AssertionError):
    """A wait ran out of budget; carries what was expected and what was last seen."""

    def __init__(self, budget: str, seconds: float, expected: str, last: Any) -> None:
        self.budget = budget
        self.seconds = seconds
        self.expected = expected
        self.last = last
        super().__init__(
            f"budget '{budget}' ({seconds:.1f} s) ran out waiting for: {expected}\n"
            f"last observed: {last!r}"
        )


@dataclass(frozen=True)
class WaitResult:
    value: Any
    elapsed: float
    polls: int


def wait_until(
    check: Callable[[], Any],
    budget: str,
    *,
    expected: str,
    seconds: float | None = None,
    interval: float = 0.05,
    accept: Callable[[Any], bool] = bool,
) -> WaitResult:
    """Poll `check` until `accept(result)` holds, within the named budget.

    `check` returns the observed state; an exception it raises counts as "not yet" and
    is kept as the last observation. On timeout, WaitTimeout shows the last observation.
    """
    limit = seconds if seconds is not None else budgets.seconds(budget)
    if seconds is not None:
        budgets.entry(budget)  # an explicit duration still names a real budget
    start = time.monotonic()
    polls = 0
    last: Any = None
    while True:
        polls += 1
        try:
            last = check()
            if accept(last):
                return WaitResult(last, time.monotonic() - start, polls)
        except MissingCapability:
            raise  # the backend will not gain it by waiting: the test is skipped, saying so
        except Exception as exc:  # noqa: BLE001 - a failing probe is an observation
            last = exc
        if time.monotonic() - start >= limit:
            raise WaitTimeout(budget, limit, expected, last)
        time.sleep(interval)
