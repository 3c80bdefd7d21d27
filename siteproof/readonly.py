"""Read-only at a real site, enforced when a test runs, not only by the markers it carries.

Every helper that changes a site (faults, counters and nft tables, zone updates, drains)
calls `Site.changing(what)` before it acts. On a real site without --allow-disruptive that
refuses with ReadOnlySite. On any site it refuses a test that is not marked `disruptive`
(UnmarkedChange): a site run skips only the marked tests, so an unmarked one would change
the site. Fixtures that hand a test the means to change a site are registered here
(changing_fixture), so an unmarked test that asks for one is caught when the suites are
collected, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from siteproof.errors import SiteproofError

# Fixtures whose use changes the site (faults and the backend behind them, counting rules):
# each is registered where it is defined.
CHANGING_FIXTURES: set[str] = set()


def changing_fixture(name: str) -> str:
    """Register a fixture that changes the site: a test that asks for it must be disruptive."""
    CHANGING_FIXTURES.add(name)
    return name


class ReadOnlySite(SiteproofError):
    """A helper would change a real site that was not opened for changes."""


class UnmarkedChange(SiteproofError):
    """A test changes the site but does not carry the disruptive marker."""


@dataclass
class RunningTest:
    nodeid: str
    disruptive: bool


_running: list[RunningTest] = []


@contextmanager
def running(nodeid: str, disruptive: bool) -> Iterator[None]:
    """While a test sets up and runs: changes are checked against its marker."""
    _running.append(RunningTest(nodeid, disruptive))
    try:
        yield
    finally:
        _running.pop()


def check_change(site: str, read_only: bool, what: str) -> None:
    """Raise unless `what` may be done to the site now."""
    if read_only:
        raise ReadOnlySite(f"site {site} is read-only (run with --allow-disruptive to allow changes): "
                           f"refused to {what}")
    if _running and not _running[-1].disruptive:
        raise UnmarkedChange(f"{_running[-1].nodeid} would {what} on site {site} but is not marked "
                             "disruptive (a site run would not skip it): mark it @pytest.mark.disruptive")


def unmarked_changers(items: Iterable[tuple[str, Iterable[str], bool]]) -> list[str]:
    """Tests (nodeid, fixture names, disruptive?) that ask for a changing fixture unmarked."""
    return [f"{nodeid} (uses {', '.join(sorted(CHANGING_FIXTURES & set(names)))})"
            for nodeid, names, disruptive in items if CHANGING_FIXTURES & set(names) and not disruptive]
