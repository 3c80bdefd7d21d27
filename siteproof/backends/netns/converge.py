"""A lab handed over converged: its routing daemons done, its VIPs placed.

Lab.up returns when every daemon answers; the network they build comes a moment later (OSPF
adjacencies at lab timers, BGP sessions, keepalived electing masters and placing VIPs). The
lab is converged when no host's routes or addresses have changed for STEADY_FOR_S, read from
the kernel (what traffic sees) rather than from each daemon's own account.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from siteproof import budgets
from siteproof.wait import wait_until

budgets.register("lab_converge", 60.0, "a lab's routes and addresses stop changing after it is built (routing "
                 "daemons converged, VIPs placed)", owner="converge")
STEADY_FOR_S = 3.0  # OSPF at lab timers adds its last routes within a second or two of each other
PROGRESS_EVERY_S = 5.0


def _state(lab: Any, hosts: list[str]) -> dict[str, Any]:
    addresses = lab.addresses(hosts)  # one netlink dump each, in-process
    return {h: (lab.run(h, "ip", "-j", "route", "show", "table", "all").stdout,
                lab.run(h, "ip", "-j", "-6", "route", "show", "table", "all").stdout,
                sorted(addresses[h])) for h in hosts}


def wait_converged(lab: Any, hosts: list[str], budget: str = "lab_converge",
                   progress: Callable[[str], None] | None = None) -> float:
    """Wait until `hosts`' routes and addresses are unchanged for STEADY_FOR_S; the seconds
    waited. `progress` hears, every PROGRESS_EVERY_S, which hosts are still changing.
    WaitTimeout names the budget and the hosts that never settled."""
    began = time.monotonic()
    seen = {"state": _state(lab, hosts), "since": began, "told": began, "moving": sorted(hosts)}

    def steady() -> bool:
        now = _state(lab, hosts)
        if now != seen["state"]:
            seen.update(moving=sorted(h for h in hosts if now[h] != seen["state"][h]), state=now, since=time.monotonic())
        if progress and time.monotonic() - seen["told"] >= PROGRESS_EVERY_S:
            seen["told"] = time.monotonic()
            progress(f"converging for {time.monotonic() - began:.0f} s: last change on {_names(seen['moving'])}")
        return time.monotonic() - seen["since"] >= STEADY_FOR_S

    wait_until(steady, budget, expected=f"every host's routes and addresses unchanged for {STEADY_FOR_S:g} s",
               interval=0.5, accept=bool)
    return time.monotonic() - began


def _names(hosts: list[str]) -> str:
    return ", ".join(hosts[:6]) + (f" and {len(hosts) - 6} more" if len(hosts) > 6 else "")
