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


class HoldBroken(AssertionError):
    """A state that had to hold for a budget stopped holding: when, and what was seen then."""

    def __init__(self, budget: str, expected: str, after: float, observed: Any) -> None:
        self.after = after
        self.observed = observed
        super().__init__(f"budget '{budget}': {expected} stopped holding after {after:.1f} s\nobserved: {observed!r}")


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
    pause: Callable[[float], object] = time.sleep,
) -> WaitResult:
    """Poll `check` until `accept(result)` holds, within the named budget.

    `check` returns the observed state; an exception it raises counts as "not yet" and
    is kept as the last observation. On timeout, WaitTimeout shows the last observation.
    Between polls, `pause(interval)`: a pause that returns at an event (a route change,
    siteproof.routechanges) makes the next poll come when something moved.
    """
    limit = seconds if seconds is not None else budgets.seconds(budget)
    if seconds is not None:
        budgets.entry(budget)  # an explicit duration still names a real budget
    start = time.monotonic()
    polls = 0
    while True:
        polls += 1
        last, accepted = _observe(check, accept)
        if accepted:
            return WaitResult(last, time.monotonic() - start, polls)
        elapsed = time.monotonic() - start
        if elapsed >= limit:
            raise WaitTimeout(budget, limit, expected, last)
        pause(min(interval, limit - elapsed))


def hold_for(
    check: Callable[[], Any],
    budget: str,
    *,
    expected: str,
    interval: float = 0.2,
    accept: Callable[[Any], bool] = bool,
    pause: Callable[[float], object] = time.sleep,
) -> WaitResult:
    """Poll `check` for the whole named budget: every observation must be accepted (a state
    that has to stay, not only arrive). The first that is not, or an exception `check`
    raises, ends the hold with HoldBroken, saying when and what was seen. Between polls,
    `pause(interval)`, as in wait_until."""
    limit = budgets.seconds(budget)
    start = time.monotonic()
    polls = 0
    while True:
        polls += 1
        last, held = _observe(check, accept)
        elapsed = time.monotonic() - start
        if not held:
            raise HoldBroken(budget, expected, elapsed, last)
        if elapsed >= limit:
            return WaitResult(last, elapsed, polls)
        pause(min(interval, limit - elapsed))


def _observe(check: Callable[[], Any], accept: Callable[[Any], bool]) -> tuple[Any, bool]:
    """One poll: the observed state (or the exception `check` raised: a failing probe is an
    observation) and whether it is accepted."""
    try:
        last = check()
        return last, bool(accept(last))
    except MissingCapability:
        raise  # the backend will not gain it by waiting: the test is skipped, saying so
    except Exception as exc:  # noqa: BLE001 - a failing probe is an observation
        return exc, False
