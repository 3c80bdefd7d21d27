"""The one gap computation: the longest silence in a series of arrival times."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Gap:
    seconds: float
    start: float | None  # when the longest silence began (the last arrival before it)
    long_ones: tuple[tuple[float, float], ...]  # (start, seconds) of every silence over the threshold


def longest_gap(arrivals: Iterable[float], begin: float, end: float, over: float = 0.0) -> Gap:
    """The longest interval between consecutive events in [begin, end], edges included.

    The edges count: events that never came back after a fault are a gap to the end.
    """
    times = [begin, *sorted(t for t in arrivals if begin <= t <= end), end]
    best, best_start, long_ones = 0.0, None, []
    for before, after in itertools.pairwise(times):
        gap = after - before
        if gap > best:
            best, best_start = gap, before
        if over and gap > over:
            long_ones.append((before, gap))
    return Gap(best, best_start, tuple(long_ones))


def resumed_after_silence(arrivals: Iterable[float], since: float, silence: float) -> int:
    """How many events came after the first silence of at least `silence` seconds that ran
    on past `since` (0 while none has ended). At a site a fault takes effect a moment after
    it is sent (`since`): events that still came before then are no resumption."""
    times = sorted(arrivals)
    for i, (before, after) in enumerate(itertools.pairwise(times)):
        if after >= since and after - max(before, since) >= silence:
            return len(times) - (i + 1)
    return 0
