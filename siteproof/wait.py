"""Polling waits with named budgets (the topotests `run_and_expect` idea).

Every wait in siteproof names a budget from BUDGETS, so that the time a behaviour is
allowed lives in one table, and a site or a topology can override it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Seconds. Overridable per topology (`budgets:` in parameters.yml) or per run (--budget).
BUDGETS: dict[str, float] = {
    "lab_up": 30.0,  # namespaces, links and addresses of a lab
    "daemon_ready": 15.0,  # a daemon answers after start
    "daemon_exit": 10.0,  # a daemon exits after SIGTERM
    "vrrp_converge": 20.0,  # every VIP on its home after start
    "vrrp_takeover_margin": 2.0,  # added to 3 x advert + skew for a takeover
    "vrrp_restore": 15.0,  # a returning node gets its VIPs back
    "link_state": 5.0,  # a link change is seen by the node
    "traffic_resume": 15.0,  # traffic flows again after a fault
    "flows_counted": 5.0,  # every flow sent shows up in the gateways' counters
    "lb_tables": 15.0,  # a health change reaches the hashing tables of every login node
    "ssh_session": 20.0,  # an SSH session is open and echoing
    "session_resume": 20.0,  # a session echoes again after a VIP move, failure or drain
    "notify_propagation": 10.0,  # a change on a DNS primary is served by its secondaries
    "reconcile": 15.0,  # the reconciler brings the upstream zone in line with etcd
    "zsk_rollover": 90.0,  # a ZSK rollover: successor published, active, signing the zone
}


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


def budget_seconds(name: str, overrides: dict[str, float] | None = None) -> float:
    """The seconds of a named budget, with overrides applied."""
    if overrides and name in overrides:
        return float(overrides[name])
    try:
        return BUDGETS[name]
    except KeyError:
        raise KeyError(f"unknown wait budget {name!r}; known: {', '.join(sorted(BUDGETS))}") from None


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
    limit = seconds if seconds is not None else budget_seconds(budget)
    start = time.monotonic()
    polls = 0
    last: Any = None
    while True:
        polls += 1
        try:
            last = check()
            if accept(last):
                return WaitResult(last, time.monotonic() - start, polls)
        except Exception as exc:  # noqa: BLE001 - a failing probe is an observation
            last = exc
        if time.monotonic() - start >= limit:
            raise WaitTimeout(budget, limit, expected, last)
        time.sleep(interval)
