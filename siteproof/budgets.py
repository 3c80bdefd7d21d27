"""The one table of budgets (seconds a behaviour may take) and thresholds (how even, how many).

The core registers its own entries here; each area registers its own when it is imported.
A value is resolved in one place, with one precedence, highest first:

    run option (--budget NAME=VALUE)  >  site inventory (budgets:)  >  topology (budgets:)  >  default

A default may be computed from the site's parameters and the table itself (a VRRP takeover
is 3 x advert + skew + margin). A name nobody registered is an error wherever it appears:
in a wait, a topology, an inventory or an option.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from siteproof.errors import SiteproofError

Default = float | Callable[[Mapping[str, Any], "Budgets"], float]


@dataclass(frozen=True)
class Entry:
    name: str
    default: Default
    help: str
    owner: str  # "core" or the area that registered it
    kind: str  # "budget" (seconds) or "threshold" (a number)


REGISTRY: dict[str, Entry] = {}


def register(name: str, default: Default, help: str, *, owner: str = "core", kind: str = "budget") -> None:
    """Declare a budget or threshold; registering one name twice with another owner is a bug."""
    known = REGISTRY.get(name)
    if known is not None and known.owner != owner:
        raise SiteproofError(f"budget {name!r} is registered by {known.owner} and again by {owner}")
    REGISTRY[name] = Entry(name, default, help, owner, kind)


def entry(name: str) -> Entry:
    _load_areas()
    try:
        return REGISTRY[name]
    except KeyError:
        raise SiteproofError(f"unknown budget or threshold {name!r} (known: {', '.join(sorted(REGISTRY))})") from None


def check_names(values: Mapping[str, Any], where: str) -> dict[str, float]:
    """Validate a layer of overrides: known names, positive numbers. `where` names the source."""
    _load_areas()
    out: dict[str, float] = {}
    for name, value in values.items():
        if name not in REGISTRY:
            raise SiteproofError(f"{where}: {name}: unknown budget or threshold (known: {', '.join(sorted(REGISTRY))})")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SiteproofError(f"{where}: {name}: {value!r} is not a number") from None
        if not number > 0 or number == float("inf"):
            raise SiteproofError(f"{where}: {name}: {value!r} must be a positive finite number")
        out[name] = number
    return out


class Budgets:
    """The resolved table of one site: its parameters plus the override layers."""

    def __init__(
        self,
        parameters: Mapping[str, Any] | None = None,
        topology: Mapping[str, float] | None = None,
        inventory: Mapping[str, float] | None = None,
        run: Mapping[str, float] | None = None,
    ) -> None:
        self.parameters = dict(parameters or {})
        # Lowest precedence first; the last layer that names a key wins.
        self.layers: list[tuple[str, dict[str, float]]] = [
            ("topology", dict(topology or {})),
            ("site inventory", dict(inventory or {})),
            ("run option", dict(run or {})),
        ]

    def __call__(self, name: str) -> float:
        return self.resolve(name)[0]

    def resolve(self, name: str) -> tuple[float, str]:
        """(value, where it came from)."""
        known = entry(name)
        for source, values in reversed(self.layers):
            if name in values:
                return float(values[name]), source
        default = known.default
        if callable(default):
            return float(default(self.parameters, self)), f"{known.owner} default (computed)"
        return float(default), f"{known.owner} default"

    def table(self) -> list[tuple[str, str, float, str]]:
        """(name, kind, value, source) of every entry, for the report."""
        _load_areas()
        rows = []
        for name in sorted(REGISTRY):
            try:
                value, source = self.resolve(name)
            except (KeyError, ValueError, TypeError):
                continue  # a computed default whose parameter this site does not have
            rows.append((name, REGISTRY[name].kind, value, source))
        return rows


# The table in force for waits that name a budget but no site (core helpers); the plugin
# activates each site's table while its tests run.
_ACTIVE: list[Budgets] = [Budgets()]


def activate(table: Budgets) -> None:
    _ACTIVE[0] = table


def seconds(name: str) -> float:
    """The value of a named budget in the active table."""
    return _ACTIVE[0](name)


def _load_areas() -> None:
    from siteproof import areas  # areas register their entries on import

    areas.load_all()


# --- the core's own ---------------------------------------------------------------------
register("lab_up", 30.0, "namespaces, links and addresses of a lab")
register("address_dad", 10.0, "IPv6 addresses a node's exec commands added leave duplicate address detection")
register("daemon_ready", 15.0, "a daemon answers after start")
register("daemon_exit", 10.0, "a daemon exits after SIGTERM")
register("link_state", 5.0, "a link change is seen by the node")
register("traffic_resume", 15.0, "traffic flows again after a fault")
register("deadman_heal", 10.0, "a site fault's undo has run on its host this long after its dead-man time-to-live "
         "(faults.ttl in the inventory) ended")
register("log_line", 5.0, "a daemon's log shows the line of an event it has acted on")
