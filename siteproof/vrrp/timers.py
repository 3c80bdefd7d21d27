"""What a VRRP group's configured timers imply: how long its VIPs stay unanswered when the
holder dies, read from every member's config, whatever the site's parameters claim."""

from __future__ import annotations

from dataclasses import dataclass

from siteproof.vrrp.config import Group


def master_down_interval(advert: float, priority: int, version: int) -> float:
    """RFC 5798 (v3): 3 x advert + (256 - priority) x advert / 256. RFC 3768 (v2): the skew is
    (256 - priority) / 256 seconds whatever the interval."""
    skew = (256 - priority) * advert / 256 if version == 3 else (256 - priority) / 256
    return 3 * advert + skew


@dataclass(frozen=True)
class ImpliedTakeover:
    vip: str
    instance: str
    backup: str  # the backup whose master-down interval is the longest
    advert: float  # the advert interval that backup times the master by
    advert_from: str  # whose advert_int that is (VRRPv3 backups learn the master's)
    seconds: float


def implied_takeover(group: Group) -> ImpliedTakeover | None:
    """The longest master-down interval of any backup of the group (any may be next after
    earlier failures, and any member may be the master it waits for): the takeover the
    group's configs promise. None for a group of one member."""
    backups = group.ranked()[1:]
    if not backups:
        return None
    slowest = max(group.priorities, key=lambda m: group.adverts.get(m, 1.0))
    worst: ImpliedTakeover | None = None
    for backup in backups:
        version = group.versions.get(backup, 2)
        # v3 backups time the master by the interval in its adverts; v2 by their own.
        source = slowest if version == 3 else backup
        advert = group.adverts.get(source, 1.0)
        seconds = master_down_interval(advert, group.priorities[backup], version)
        if worst is None or seconds > worst.seconds:
            worst = ImpliedTakeover(group.vip, group.instance, backup, advert, source, seconds)
    return worst
