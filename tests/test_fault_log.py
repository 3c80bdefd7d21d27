"""The fault log the report shows: every fault and undo, in host time. A fake backend (it only
records calls and tells a clock offset) stands in for a site: the log is the engine's, not the
backend's."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from siteproof.faults import Faults


class ClockedBackend:
    """Fault primitives that do nothing; the host's clock is 3600 s ahead of the runner's."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def set_link(self, node: str, ifname: str, up: bool) -> None:
        self.calls.append(("link", node, ifname, "up" if up else "down"))

    def freeze(self, node: str) -> None:
        self.calls.append(("freeze", node))

    def thaw(self, node: str) -> None:
        self.calls.append(("thaw", node))

    def last_fault_at(self) -> None:
        return None

    def clock_offset(self, node: str) -> float:
        if node == "broken":
            raise OSError("no clock")
        return 3600.0


def test_each_fault_and_undo_is_logged_in_host_time_and_a_restore_leaves_no_undo():
    backend = ClockedBackend()
    faults = Faults(backend)
    faults.cable_pull("gw01", "eth1")
    faults.cable_restore("gw01", "eth1")  # the test undid it: nothing left for the end
    faults.freeze("gw02")
    faults.undo_all()
    assert [r[1:3] for r in faults.rows()] == [["gw01", "cable pull"], ["gw01", "cable restore"], ["gw02", "host freeze"],
                                               ["gw02", "undo of host freeze"]]
    assert backend.calls == [("link", "gw01", "eth1", "down"), ("link", "gw01", "eth1", "up"), ("freeze", "gw02"),
                             ("thaw", "gw02")]
    pulled = faults.log[0]
    host = datetime.strptime(pulled.host_time, "%Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=UTC).timestamp()
    runner = time.time() - (time.monotonic() - pulled.at)
    assert abs(host - runner - 3600) < 5, f"{pulled.host_time} is not the runner's time plus the host's 3600 s"

def test_a_failed_undo_is_logged_and_a_host_without_a_readable_clock_says_whose_clock():
    backend = ClockedBackend()
    faults = Faults(backend)
    faults.freeze("broken")

    def fails(node: str) -> None:
        raise RuntimeError("ssh: connection refused")

    backend.thaw = fails  # type: ignore[method-assign]
    faults.undo_all()
    assert faults.log[0].host_time.endswith("(runner's clock)")
    assert faults.rows()[-1][2] == "undo of host freeze FAILED" and "connection refused" in faults.rows()[-1][3]
